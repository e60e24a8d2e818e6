"""Loader-independent *records* and the Dataset that turns a record into a training or test sample.

Every dataset loader (HumanData, the OSX-style layouts, the evaluation sets) exposes `len()` and `record(i)`; a
record is a plain dict in original-image pixels and camera metres:

- `img_path` str, `img_shape` (H, W), `bbox` (4,) processed body box xywh (3:4 aspect, enlarged),
- `kp2d` (137,3) px + validity or None, `kp3d` (137,4) metres OpenCV camera + validity or None,
- `smplx` params (`root_pose` (3,), `body_pose` (63,), `lhand_pose`/`rhand_pose` (45,) relative to the hand mean,
  `jaw_pose` (3,), `shape` (10,), `expr` (10,), `trans` (3,)) or None, and `smplx_valid` per part
  (`root`, `body`, `lhand`, `rhand`, `jaw`, `shape`, `expr`, optional `rot_invalid` 53-indices),
- `cam` {`focal` (2,), `princpt` (2,), optional `R` (3,3), `t` (3,)} or None,
- `boxes` {`lhand`, `rhand`, `face`: (4,) processed xyxy px or None},
- `targets_from_smplx` bool, `joint_invalid` 137-indices, and for evaluation `gt` (what the metric needs).

The sample pipeline follows SMPLer-X's `__getitem__` (training_spec.md §4): load, augment + crop, targets.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np

from ..augment import Aug, crop_image, sample_aug
from ..fidelity import DataFlags
from ..targets import build_targets

log = logging.getLogger(__name__)
_BODY_MODELS: dict[str, object] = {}


class RecordSource(Protocol):
    """What a dataset loader provides."""

    name: str

    def __len__(self) -> int: ...

    def record(self, i: int) -> dict: ...


def require_files(dataset: str, paths: list[Path], hint: str = "") -> None:
    """Raise one FileNotFoundError naming every expected file of `dataset` that is absent."""
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(f"{dataset}: expected file(s) not found: {', '.join(missing)}"
                                + (f" ({hint})" if hint else ""))


def body_model(model_dir: str | Path):
    """The neutral SMPL-X layer reduced to its joints (`training.body_joints`), one per process (the DataLoader
    workers each build their own)."""
    key = str(model_dir)
    if key not in _BODY_MODELS:
        from core.body import load_body_model

        from ..body_joints import joints_only

        _BODY_MODELS[key] = joints_only(load_body_model(model_dir, gender="neutral"))
    return _BODY_MODELS[key]


def load_image(path: str | Path) -> np.ndarray:
    """(H,W,3) float32 RGB 0..255, read like the reference's `load_img` (EXIF orientation ignored)."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise FileNotFoundError(f"image not found or unreadable: {path}")
    return img[:, :, ::-1].astype(np.float32)


class SampleDataset:
    """A torch-style map dataset over one record source.

    Args:
        source: the loader.
        body_model_dir: SMPL-X model directory for the per-sample forward.
        train: training samples (augmentation + targets) or test samples (plain crop + record).
        augment: False reproduces `cfg.no_aug` in training.
        flags: the project's fixes or the reference's behaviour in the targets.
    """

    def __init__(self, source: RecordSource, body_model_dir: str | Path, train: bool = True,
                 augment: bool = True, flags: DataFlags = DataFlags()) -> None:
        self.source = source
        self.name = source.name
        self.body_model_dir = str(body_model_dir)
        self.train = train
        self.augment = augment
        self.flags = flags

    def __len__(self) -> int:
        return len(self.source)

    def sample(self, i: int, rng: np.random.Generator | None = None) -> dict:
        """Sample `i` as a flat dict: `img` (3,512,384) float32 RGB in [0,1] and, in training, every target and
        mask of training_spec.md §4.4; in test mode `bb2img` (2,3) and `index`."""
        rec = self.source.record(i)
        img = load_image(rec["img_path"])
        h, w = img.shape[:2]
        if tuple(rec["img_shape"]) != (h, w):
            raise ValueError(f"{self.name}: {rec['img_path']} is {h}x{w}, the annotation says "
                             f"{rec['img_shape'][0]}x{rec['img_shape'][1]}")
        aug = sample_aug(rng) if (self.train and self.augment and rng is not None) else Aug()
        crop, img2bb, bb2img = crop_image(img, rec["bbox"], aug)
        out = {"img": np.ascontiguousarray(crop.transpose(2, 0, 1) / 255.0, dtype=np.float32)}
        if self.train:
            out.update(build_targets(rec, aug, img2bb, body_model(self.body_model_dir), self.flags))
        else:
            out.update(bb2img=bb2img, img2bb=img2bb, index=np.int64(i))
        return out

    def __getitem__(self, i: int) -> dict:
        return self.sample(int(i), None)
