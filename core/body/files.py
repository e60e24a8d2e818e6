"""SMPL-X model directory: where the files live, reading their arrays with numpy alone, and safe unpickling.

Layout (DESIGN.md, reference/model_spec.md §9): `<model_dir>/smplx/SMPLX_{NEUTRAL,MALE,FEMALE}.npz` (SMPL-X v1.1 NPZ),
the auxiliary files SMPLer-X loads (`SMPLX_to_J14.pkl`, `MANO_SMPLX_vertex_ids.pkl`, `SMPL-X__FLAME_vertex_ids.npy`),
the SMPLer-X checkpoints `smpler_x_{s32,b32,l32,h32}.pth.tar` and the detector weights. The Blender add-on imports
this module, so it needs numpy only.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

ENV_VAR = "SMPLX_VIDEO_MODELS"
GENDERS = ("neutral", "male", "female")
AUX_FILES = ("SMPLX_to_J14.pkl", "MANO_SMPLX_vertex_ids.pkl", "SMPL-X__FLAME_vertex_ids.npy")
DETECTOR_FILES = (
    "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth",
    "faster_rcnn_r50_fpn_1x_coco_20200130-047c8118.pth",
)

_SMPLX_SITE = "https://smpl-x.is.tue.mpg.de"
_HOW_SMPLX = (
    f"download 'SMPL-X v1.1 NPZ' from {_SMPLX_SITE} (free registration, licence terms apply) and unpack the "
    "npz files into <model_dir>/smplx/, or run `python -m core mannequin <model_dir>` for the licence-free "
    "mannequin body"
)
_HOW_AUX = (
    "part of the SMPLer-X / OSX 'human_model_files' (see the SMPLer-X GitHub README); "
    "`python -m core mannequin <model_dir>` writes mannequin versions"
)
_HOW_SMPLERX = (
    "SMPLer-X checkpoint: download from the links in the SMPLer-X GitHub README "
    "(github.com/caizhongang/SMPLer-X) or Hugging Face caizhongang/SMPLer-X"
)
_HOW_DETECTOR = {
    DETECTOR_FILES[0]: "torchvision Faster R-CNN COCO weights: "
    "https://download.pytorch.org/models/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth",
    DETECTOR_FILES[1]: "optional mmdet checkpoint used by the SMPLer-X demo: "
    "https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/faster_rcnn_r50_fpn_1x_coco/"
    "faster_rcnn_r50_fpn_1x_coco_20200130-047c8118.pth",
}


def default_model_dir() -> Path:
    """The model directory: `$SMPLX_VIDEO_MODELS` when set, else `~/smplx_video_models`."""
    env = os.environ.get(ENV_VAR, "").strip()
    return Path(env).expanduser() if env else Path.home() / "smplx_video_models"


def _check_gender(gender: str) -> str:
    g = str(gender).lower()
    if g not in GENDERS:
        raise ValueError(f"unknown SMPL-X gender {gender!r}; expected one of {', '.join(GENDERS)}")
    return g


def model_file_path(model_dir: str | os.PathLike, gender: str = "neutral") -> Path:
    """Path of `SMPLX_<GENDER>.npz` in a model directory.

    `model_dir` is the directory holding `smplx/`; the `smplx/` folder itself is accepted too.

    Raises:
        ValueError: unknown gender.
        FileNotFoundError: the file is absent; the message names it and says where to get it.
    """
    g = _check_gender(gender)
    root = Path(model_dir).expanduser()
    name = f"SMPLX_{g.upper()}.npz"
    for candidate in (root / "smplx" / name, root / name):
        if candidate.is_file():
            return candidate
    hint = ""
    for pkl in (root / "smplx" / name.replace(".npz", ".pkl"), root / name.replace(".npz", ".pkl")):
        if pkl.is_file():
            hint = f" A pickled model is there ({pkl}): convert it with core.body.convert_pkl_to_npz(pkl, npz)."
    raise FileNotFoundError(
        f"SMPL-X model file not found: {root / 'smplx' / name}. To get it, {_HOW_SMPLX}.{hint}"
    )


def read_model_arrays(model_dir: str | os.PathLike, gender: str = "neutral") -> dict[str, np.ndarray]:
    """The numeric arrays of an SMPL-X npz model file (v_template (10475,3) metres, Y up; f (F,3); J_regressor
    (55,V); kintree_table (2,55), whose root parent is 4294967295 in official files; ...).

    Entries stored as pickled objects (`part2num`, `joint2num` in the official files) are skipped, never unpickled,
    so a tampered file cannot run code.

    Raises:
        FileNotFoundError: see `model_file_path`.
        ValueError: the file is not a readable npz.
    """
    path = model_file_path(model_dir, gender)
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("not an npz archive")
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path} is not a readable SMPL-X npz file ({exc})") from exc
    arrays: dict[str, np.ndarray] = {}
    with data:
        for key in data.files:
            try:
                arrays[key] = np.asarray(data[key])
            except ValueError:
                logger.debug("%s: skipping the pickled entry %r", path, key)
    return arrays


# ---------------------------------------------------------------------------------------------------------------
# Restricted unpickling
# ---------------------------------------------------------------------------------------------------------------

_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # protocol-2 pickles store bytes as _codecs.encode(str, "latin1")
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bytearray"),
    ("builtins", "int"),
    ("builtins", "float"),
    ("builtins", "complex"),
    ("builtins", "str"),
    ("builtins", "bytes"),
    ("builtins", "bool"),
    ("__builtin__", "set"),
    ("copy_reg", "_reconstructor"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"),
    ("__builtin__", "object"),
}
_SPARSE_MODULES = ("scipy.sparse",)
_SPARSE_CLASSES = {"csr_matrix", "csc_matrix", "coo_matrix", "lil_matrix", "dok_matrix", "bsr_matrix", "dia_matrix",
                   "csr_array", "csc_array", "coo_array"}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global outside the allowed set (numpy arrays, scipy sparse, plain containers)."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, path: str):
        super().__init__(file, encoding="latin1")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        allowed = (module, name) in _ALLOWED_GLOBALS or (
            module.startswith(_SPARSE_MODULES) and name in _SPARSE_CLASSES
        )
        if not allowed:
            raise UnsafePickleError(
                f"{self._path}: refusing to unpickle global '{module}.{name}'; only numpy arrays, scipy sparse "
                "matrices and plain containers are accepted (convert chumpy-based files to npz first)"
            )
        if module == "copy_reg":
            module = "copyreg"
        if module == "__builtin__":
            module = "builtins"
        return super().find_class(module, name)


def load_pickle(path: str | os.PathLike) -> Any:
    """Unpickle a model-side file (e.g. `MANO_SMPLX_vertex_ids.pkl`) allowing only data, never code.

    Raises:
        FileNotFoundError: the file is absent.
        UnsafePickleError: the pickle references any other global (os.system, chumpy classes, ...).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pickle file not found: {path}")
    with open(path, "rb") as fh:
        return _RestrictedUnpickler(io.BytesIO(fh.read()), str(path)).load()


def _to_plain_array(value: Any) -> np.ndarray | None:
    """A dense numpy array from an ndarray / scipy sparse matrix / nested numeric list; None for anything else."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "toarray") and hasattr(value, "shape"):
        return np.asarray(value.toarray())
    if isinstance(value, (list, tuple, int, float)):
        try:
            arr = np.asarray(value)
        except ValueError:
            return None
        return arr if arr.dtype != object else None
    return None


def convert_pkl_to_npz(pkl_path: str | os.PathLike, npz_path: str | os.PathLike) -> Path:
    """Convert a pickled SMPL-X model (a dict of arrays, chumpy-free) to an npz file smplx can load.

    Non-array entries (strings, nested dicts) are skipped; sparse matrices become dense. Written atomically.

    Raises:
        ValueError: the pickle is not a dict or holds no arrays.
    """
    data = load_pickle(pkl_path)
    if not isinstance(data, dict):
        raise ValueError(f"{pkl_path}: expected a pickled dict of arrays, got {type(data).__name__}")
    arrays = {str(k): a for k, v in data.items() if (a := _to_plain_array(v)) is not None}
    if not arrays:
        raise ValueError(f"{pkl_path}: the pickle holds no arrays")
    npz_path = Path(npz_path)
    npz_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=npz_path.parent, prefix=f".{npz_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, npz_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return npz_path


# ---------------------------------------------------------------------------------------------------------------
# Model directory status (shown in the Blender preferences)
# ---------------------------------------------------------------------------------------------------------------


def expected_model_files() -> list[tuple[str, str]]:
    """(relative path, how to get it) for every file a complete model directory can hold."""
    rows = [(f"smplx/SMPLX_{g.upper()}.npz", _HOW_SMPLX) for g in GENDERS]
    rows += [(f"smplx/{name}", _HOW_AUX) for name in AUX_FILES]
    from ..options import VARIANTS

    rows += [(f"smpler_x_{v}.pth.tar", _HOW_SMPLERX) for v in VARIANTS]
    rows += [(name, _HOW_DETECTOR[name]) for name in DETECTOR_FILES]
    return rows


def model_dir_status(model_dir: str | os.PathLike) -> list[tuple[str, bool, str]]:
    """Which expected files of a model directory are present: (relative_path, present, how_to_get) per file."""
    root = Path(model_dir).expanduser()
    return [(rel, (root / rel).is_file(), how) for rel, how in expected_model_files()]
