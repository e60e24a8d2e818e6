"""SMPL-X model directory: where the files live, reading their arrays with numpy alone, and safe unpickling.

Layout (DESIGN.md, reference/model_spec.md §9): `<model_dir>/smplx/SMPLX_{NEUTRAL,MALE,FEMALE}.npz` (SMPL-X v1.1 NPZ),
the auxiliary files SMPLer-X loads (`SMPLX_to_J14.pkl`, `MANO_SMPLX_vertex_ids.pkl`, `SMPL-X__FLAME_vertex_ids.npy`),
the SMPLer-X checkpoints `smpler_x_{s32,b32,l32,h32}.pth.tar` and the detector weights. The Blender add-on imports
this module, so it needs numpy only.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write

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
    return _read_npz_arrays(model_file_path(model_dir, gender))


_OFFICIAL_PICKLED = {"part2num", "joint2num"}  # dicts the official v1.1 files store as object arrays


def _read_npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """Plain arrays of an npz model file (pickled entries skipped), shape-checked; ValueError names the file."""
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
            except ValueError:  # a pickled entry: never unpickled
                if key in _OFFICIAL_PICKLED:
                    logger.debug("%s: skipping the pickled entry %r", path, key)
                else:
                    logger.warning("%s: ignoring the unexpected pickled entry %r (never unpickled); the file may "
                                   "have been tampered with, re-download it", path, key)
    check_model_arrays(arrays, path)
    return arrays


NUM_VERTICES = 10475  # smplx's fixed vertex ids (fingertips, feet, face) index this topology
NUM_JOINTS = 55
# key → (shape with None for "any size ≥ 1", integer array?); what smplx.SMPLX and this project read
_MODEL_SHAPES: dict[str, tuple[tuple[int | None, ...], bool]] = {
    "v_template": ((NUM_VERTICES, 3), False),
    "f": ((None, 3), True),
    "J_regressor": ((NUM_JOINTS, NUM_VERTICES), False),
    "kintree_table": ((2, NUM_JOINTS), True),
    "weights": ((NUM_VERTICES, NUM_JOINTS), False),
    "shapedirs": ((NUM_VERTICES, 3, None), False),
    "posedirs": ((NUM_VERTICES, 3, (NUM_JOINTS - 1) * 9), False),
    "hands_componentsl": ((None, 45), False),
    "hands_componentsr": ((None, 45), False),
    "hands_meanl": ((45,), False),
    "hands_meanr": ((45,), False),
    "lmk_faces_idx": ((None,), True),
    "lmk_bary_coords": ((None, 3), False),
    "dynamic_lmk_faces_idx": ((None, None), True),
    "dynamic_lmk_bary_coords": ((None, None, 3), False),
}
_MIN_SHAPE_COMPONENTS = 20  # 10 betas + 10 expression coefficients (SMPLer-X's layer)


def check_model_arrays(arrays: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """Raise ValueError (one line naming the file, the key and the expected shape) unless `arrays` hold every
    array an SMPL-X layer needs, with SMPL-X v1.1's shapes; run before any slow work so a broken file fails first.
    """
    fix = "re-download the SMPL-X v1.1 npz files or run `python -m core mannequin <model_dir>`"
    for key, (shape, integer) in _MODEL_SHAPES.items():
        if key not in arrays:
            raise ValueError(f"{path}: SMPL-X model file has no '{key}' array; {fix}")
        arr = arrays[key]
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        if arr.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, arr.shape)) or not arr.size:
            raise ValueError(f"{path}: '{key}' has shape {arr.shape}, expected {want}; {fix}")
        kind = np.integer if integer else np.number
        if not np.issubdtype(arr.dtype, kind) or (not integer and not np.all(np.isfinite(arr))):
            raise ValueError(f"{path}: '{key}' must be {'integer' if integer else 'finite numbers'} "
                             f"(dtype {arr.dtype}); {fix}")
    if arrays["shapedirs"].shape[2] < _MIN_SHAPE_COMPONENTS:
        raise ValueError(f"{path}: 'shapedirs' has {arrays['shapedirs'].shape[2]} components, expected at least "
                         f"{_MIN_SHAPE_COMPONENTS} (10 shape + 10 expression); {fix}")
    faces = arrays["f"]
    if faces.min() < 0 or faces.max() >= NUM_VERTICES:
        raise ValueError(f"{path}: 'f' indexes vertices outside 0..{NUM_VERTICES - 1}; {fix}")


def _npz_has_objects(path: Path) -> bool:
    """True if any member of the npz stores Python objects (reading only the .npy headers, never the data)."""
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            with zf.open(name) as fh:
                version = np.lib.format.read_magic(fh)
                reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                dtype = reader(fh)[2]
            if dtype.hasobject:
                return True
    return False


def _cache_root() -> Path:
    env = os.environ.get("SMPLX_VIDEO_CACHE", "").strip()
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "smplx-video"


@contextmanager
def plain_model_file(path: str | os.PathLike) -> Iterator[Path]:
    """A copy of an SMPL-X npz holding only plain arrays, to hand to smplx (which opens npz files with
    allow_pickle=True and would run a pickled payload). Yields its path, named like the original.

    The arrays are read with `read_model_arrays` (object entries are skipped, shapes checked) and cached under
    `<cache>/body/<sha256 of the original>/`; a cached copy is used only after its headers show no object entry.
    Without a writable cache the copy lives in a private temporary folder for the duration of the block.
    """
    path = Path(path)
    arrays = _read_npz_arrays(path)  # validates the original and never unpickles
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    cached = _cache_root() / "body" / digest.hexdigest() / path.name
    try:
        usable = cached.is_file() and not _npz_has_objects(cached)
    except (OSError, ValueError, zipfile.BadZipFile):
        usable = False  # a damaged cache entry is rebuilt
    if not usable:
        try:
            atomic_write(cached, lambda fh: np.savez(fh, **arrays))
            usable = True
        except OSError:
            logger.debug("cache %s not writable; using a temporary copy", cached.parent)
    if usable:
        yield cached
        return
    with tempfile.TemporaryDirectory(prefix="smplx-video-body-") as tmp:
        copy = Path(tmp) / path.name
        np.savez(copy, **arrays)
        yield copy


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
    ("builtins", "int"),
    ("builtins", "float"),
    ("builtins", "complex"),
    ("builtins", "str"),
    ("builtins", "bytes"),
    ("builtins", "bool"),
    ("__builtin__", "set"),
    ("__builtin__", "bytes"),  # protocol 2 writes b"" as __builtin__.bytes()
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


_MAX_DENSE_ELEMENTS = 1 << 26  # a sparse matrix made dense: 64 M values (the J14 regressor has 0.15 M)


class _ArrayClass:
    """Stands in for `numpy.ndarray` inside a pickle: usable only as `_reconstruct`'s first argument, so a pickle
    cannot call `ndarray((10**9,))` (a few bytes asking for gigabytes)."""

    def __init__(self, path: str):
        self._path = path

    def __call__(self, *args: Any) -> None:
        raise UnsafePickleError(f"{self._path}: refusing to unpickle a call of numpy.ndarray{args!r}")


class _RestrictedUnpickler(pickle.Unpickler):
    """Allows the globals that pickled arrays need, each in the form numpy itself writes; anything that could
    allocate memory out of proportion to the file (bytearray(n), bytes(n), ndarray(shape), T.__new__(T, n)) is
    refused."""

    def __init__(self, file, path: str):
        super().__init__(file, encoding="latin1")
        self._path = path
        self._array_class = _ArrayClass(path)

    def _refuse(self, what: str) -> UnsafePickleError:
        return UnsafePickleError(
            f"{self._path}: refusing to unpickle {what}; only numpy arrays, scipy sparse matrices and plain "
            "containers are accepted (convert chumpy-based files to npz first)"
        )

    def find_class(self, module: str, name: str) -> Any:
        allowed = (module, name) in _ALLOWED_GLOBALS or (
            module.startswith(_SPARSE_MODULES) and name in _SPARSE_CLASSES
        )
        if not allowed:
            raise self._refuse(f"global '{module}.{name}'")
        if module == "copy_reg":
            module = "copyreg"
        if module == "__builtin__":
            module = "builtins"
        if (module, name) == ("numpy", "ndarray"):
            return self._array_class
        found = super().find_class(module, name)
        if name == "_reconstruct":
            return self._guard_reconstruct(found)
        if name == "_reconstructor":
            return self._guard_reconstructor(found)
        if (module, name) == ("builtins", "bytes"):
            return self._guard_bytes
        return found

    def _guard_reconstruct(self, reconstruct):
        def safe(subtype, shape, dtype):  # numpy writes _reconstruct(ndarray, (0,), b'b'), then __setstate__
            if subtype is not self._array_class or tuple(shape) != (0,):
                raise self._refuse(f"numpy _reconstruct({subtype!r}, {shape!r})")
            return reconstruct(np.ndarray, (0,), dtype)
        return safe

    def _guard_reconstructor(self, reconstructor):
        def safe(cls, base, state):  # copyreg: object.__new__(cls) then state; any other base could allocate
            if base is not object or state is not None:
                raise self._refuse(f"copyreg._reconstructor({cls!r}, {base!r}, ...)")
            return reconstructor(cls, base, state)
        return safe

    def _guard_bytes(self, *args):
        if args and isinstance(args[0], int):
            raise self._refuse(f"bytes({args[0]!r})")
        return bytes(*args)


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
        if int(np.prod(np.asarray(value.shape, dtype=np.float64))) > _MAX_DENSE_ELEMENTS:
            raise ValueError(f"a sparse matrix of shape {value.shape} is too large to make dense")
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
    return atomic_write(npz_path, lambda fh: np.savez_compressed(fh, **arrays))


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
