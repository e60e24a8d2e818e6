"""Box processing, random augmentation and the affine crop of SMPLer-X training (training_spec.md §4.1–4.2).

Reproduces `common/utils/preprocessing.py` of SMPLer-X (`get_aug_config`, `augmentation`) and the parameter flip of
`process_human_model_output`; the box processing and the crop geometry are `core.crop`'s (the same functions as
inference), the pixels are sampled with OpenCV like the reference's training.

Deliberate differences from the reference:
- Random numbers come from an explicit `numpy.random.Generator` (seeded per sample, epoch and rank by the caller)
  instead of the global `random`/`np.random` state, so a run is reproducible and resumable and ranks do not share one
  augmentation stream (spec §10.10).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core import crop as _crop
from core.crop import apply_affine, process_bbox, sanitize_bbox

from .joints import FLIP_PERM, ROT_FLIP_PERM

__all__ = ["Aug", "sample_aug", "crop_image", "process_bbox", "sanitize_bbox", "apply_affine", "xywh_to_xyxy",
           "boxes_from_keypoints",
           "flip_points_2d", "flip_joints", "flip_pose", "rotate_root"]

INPUT_IMG_SHAPE = (512, 384)  # (H, W) of the network crop


@dataclass(frozen=True)
class Aug:
    """One sample's augmentation. `scale` multiplies the source window; `rot` in degrees (counter-clockwise in the
    image as in the reference); `flip` mirrors the image horizontally; `color` (3,) per-channel RGB factors."""

    scale: float = 1.0
    rot: float = 0.0
    flip: bool = False
    color: np.ndarray = field(default_factory=lambda: np.ones(3, np.float32))

    @property
    def rot_mat(self) -> np.ndarray:
        """(3,3) camera-frame rotation R_aug = Rz(-rot) applied to 3D joints and the root orientation."""
        a = np.deg2rad(-self.rot)
        c, s = np.cos(a), np.sin(a)
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], np.float64)


def sample_aug(rng: np.random.Generator) -> Aug:
    """Draw the reference's training augmentation: scale ∈ [0.75,1.25], rot ∈ [-60,60]° with p=0.6, colour
    U(0.8,1.2) per channel, flip with p=0.5."""
    scale = float(np.clip(rng.standard_normal(), -1.0, 1.0) * 0.25 + 1.0)
    rot = float(np.clip(rng.standard_normal(), -2.0, 2.0) * 30.0) if rng.random() <= 0.6 else 0.0
    color = rng.uniform(0.8, 1.2, size=3).astype(np.float32)
    flip = bool(rng.random() <= 0.5)
    return Aug(scale, rot, flip, color)


def xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    return np.array([b[0], b[1], b[0] + b[2], b[1] + b[3]], np.float32)


def boxes_from_keypoints(kp2d: np.ndarray, img_w: float, img_h: float, min_points: int = 3) -> dict:
    """Hand and face boxes from 2D keypoints when a file has none (mmhuman3d `_keypoints_to_scaled_bbox_bfh`:
    min/max of the part's valid keypoints, hands = finger joints and tips, face = head keypoints), then processed
    like file boxes (`process_bbox(…, 1.2)` → xyxy).

    Args:
        kp2d: (137,3) pixels + validity.
    Returns:
        {`lhand`, `rhand`, `face`: (4,) xyxy original pixels or None with fewer than `min_points` valid points}.
    """
    from .joints import PARTS

    head = np.concatenate([np.arange(20, 25), PARTS["face"]])
    out = {}
    for part, idx in (("lhand", PARTS["lhand"]), ("rhand", PARTS["rhand"]), ("face", head)):
        p = kp2d[idx]
        p = p[p[:, 2] > 0, :2]
        box = None
        if len(p) >= min_points:
            lo, hi = p.min(0), p.max(0)
            pb = process_bbox(np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]]), img_w, img_h, 1.2)
            box = None if pb is None else xywh_to_xyxy(pb)
        out[part] = box
    return out


def crop_image(img: np.ndarray, bbox: np.ndarray, aug: Aug, out_shape=INPUT_IMG_SHAPE):
    """Affine crop with augmentation: `core.crop.crop_transform` (the inference geometry) sampled with
    `cv2.warpAffine` (bilinear, black border) as the reference's training pipeline did — about 15× faster than
    core's exact sampler, which inference keeps for parity — then the colour factors.

    Args:
        img: (H,W,3) RGB, float32 or uint8, 0..255.
        bbox: (4,) processed xywh body box, original pixels.
        aug: the sample's augmentation.
    Returns:
        crop (out_h,out_w,3) float32 0..255 (colour-scaled and clipped), img2bb (2,3) mapping the *flipped* image
        to the crop, bb2img (2,3) its inverse.
    """
    import cv2

    box = np.asarray(bbox, np.float32).copy()
    if aug.flip:
        img = img[:, ::-1]
        box[0] = img.shape[1] - (box[0] + 0.5 * box[2]) - 1 - 0.5 * box[2]
    out_wh = (int(out_shape[1]), int(out_shape[0]))
    img2bb = _crop.crop_transform(box, out_wh, aug.scale, aug.rot)
    bb2img = _crop.crop_transform(box, out_wh, aug.scale, aug.rot, inverse=True)
    crop = cv2.warpAffine(np.ascontiguousarray(img, np.float32), img2bb, out_wh, flags=cv2.INTER_LINEAR)
    crop = np.clip(crop * aug.color[None, None, :], 0, 255)
    return crop, img2bb.astype(np.float32), bb2img.astype(np.float32)


def flip_points_2d(pts: np.ndarray, img_w: float) -> np.ndarray:
    """Mirror (N,2+) pixel points: x ← W−1−x (the reference's pixel convention)."""
    out = pts.copy()
    out[:, 0] = img_w - 1 - out[:, 0]
    return out


def flip_joints(arr: np.ndarray) -> np.ndarray:
    """Swap left/right entries of a (137,...) per-joint array (coordinates or validity)."""
    return arr[FLIP_PERM]


def flip_pose(pose: np.ndarray) -> np.ndarray:
    """Mirror a SMPL-X pose through the camera's x=0 plane.

    Args:
        pose: (53,3) axis-angle: root, 21 body, 15 left hand, 15 right hand, jaw (hand poses relative to the hand mean
            or absolute; both mirror the same way when hands_meanl is the mirror of hands_meanr).
    Returns:
        (53,3): left/right joints swapped, then (x,y,z) → (x,−y,−z) for every joint (M R M with M = diag(−1,1,1)).
    """
    out = pose[ROT_FLIP_PERM].copy()
    out[:, 1:3] *= -1
    return out


def rotate_root(root_pose: np.ndarray, rot_mat: np.ndarray) -> np.ndarray:
    """(3,) axis-angle root orientation pre-multiplied by a (3,3) rotation."""
    from scipy.spatial.transform import Rotation

    return (Rotation.from_matrix(rot_mat) * Rotation.from_rotvec(root_pose)).as_rotvec().astype(np.float32)
