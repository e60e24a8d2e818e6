"""Dataset loaders of SMPLer-X's training and evaluation sets (HumanData + the OSX-style layouts)."""

from .base import SampleDataset, load_image, require_files
from .humandata import DATA, HumanData, HumanDataSpec
from .osx import LOADERS
from .registry import build_source

__all__ = ["SampleDataset", "load_image", "require_files", "DATA", "HumanData", "HumanDataSpec", "LOADERS",
           "build_source"]
