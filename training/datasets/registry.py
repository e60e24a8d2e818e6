"""Dataset name (as in the SMPLer-X configs) → record source."""

from __future__ import annotations

from pathlib import Path

from . import osx
from .humandata import DATA, HumanData


def build_source(name: str, data_root: str | Path, split: str, body_model_dir: str | Path,
                 interval: int | None = None):
    """The loader of one dataset.

    Raises:
        ValueError: an unknown name; FileNotFoundError: the dataset's files are missing (named in the message).
    """
    if name in DATA:
        return HumanData(DATA[name], data_root, split, body_model_dir, interval=interval)
    if name in osx.LOADERS:
        return osx.LOADERS[name](data_root, split, body_model_dir)
    raise ValueError(f"unknown dataset {name!r}; known: {sorted(DATA) + sorted(osx.LOADERS)}")
