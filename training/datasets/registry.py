"""Dataset name (as in the SMPLer-X configs) → record source."""

from __future__ import annotations

from pathlib import Path

from ..fidelity import DataFlags
from . import osx
from .humandata import DATA, HumanData


def build_source(name: str, data_root: str | Path, split: str, body_model_dir: str | Path,
                 interval: int | None = None, flags: DataFlags = DataFlags()):
    """The loader of one dataset (`flags`: the project's fixes or the reference's behaviour).

    Raises:
        ValueError: an unknown name; FileNotFoundError: the dataset's files are missing (named in the message).
    """
    if name in DATA:
        return HumanData(DATA[name], data_root, split, body_model_dir, interval=interval, flags=flags)
    if name == "UBody":  # the only OSX-style set with a sample interval (train 10, test 100)
        return osx.UBody(data_root, split, body_model_dir, interval=interval, flags=flags)
    if name in osx.LOADERS:
        return osx.LOADERS[name](data_root, split, body_model_dir, flags=flags)
    raise ValueError(f"unknown dataset {name!r}; known: {sorted(DATA) + sorted(osx.LOADERS)}")
