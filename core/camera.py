"""Cameras: SMPLer-X's per-crop virtual camera and one camera for a whole video (OpenCV axes; the Blender
add-on's `rig.blender_from` is the one place that converts them to Blender's).

Per crop (model_spec.md §4): the network's translation lives in a virtual camera f = 5000 px, c = (96, 128) of
the 192×256 body image; in the original image that is f = 5000/192·w_box, c = box centre. Every crop has its own
focal length, so depth jumps with the box size. `to_video_camera` re-expresses each translation in ONE camera
for the whole video (focal F, principal point at the image centre), keeping the root's apparent size and position
(model_spec.md §4 [derived]): t'_z = t_z·F/f, t'_xy = t_xy + (c − c₀)·t'_z/F.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "crop_camera",
    "VideoCamera",
    "default_focal",
    "to_video_camera",
]

_VIRTUAL_FOCAL = 5000.0
_BODY_WH = (192.0, 256.0)
_VIRTUAL_PRINCPT = (96.0, 128.0)


def crop_camera(bbox_xywh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Original-image intrinsics of one crop's virtual camera.

    Args:
        bbox_xywh: (4,) processed box (`core.crop.process_bbox`), original pixels.

    Returns:
        focal (2,) px and princpt (2,) px, float64, as the reference writes to its meta json.
    """
    x, y, w, h = (float(v) for v in bbox_xywh)
    focal = np.array([_VIRTUAL_FOCAL / _BODY_WH[0] * w, _VIRTUAL_FOCAL / _BODY_WH[1] * h])
    princpt = np.array([_VIRTUAL_PRINCPT[0] / _BODY_WH[0] * w + x, _VIRTUAL_PRINCPT[1] / _BODY_WH[1] * h + y])
    return focal, princpt


@dataclass(frozen=True)
class VideoCamera:
    """Pinhole intrinsics of the real video camera (OpenCV frame), pixels of the original video."""

    focal: float
    princpt: tuple[float, float]
    width: int
    height: int

    @property
    def matrix(self) -> np.ndarray:
        """(3, 3) K."""
        return np.array([[self.focal, 0, self.princpt[0]], [0, self.focal, self.princpt[1]], [0, 0, 1.0]])


def default_focal(width: int, height: int, fov_deg: float = 55.0) -> float:
    """A focal length for an unknown camera: a typical phone/webcam horizontal field of view on the long side."""
    return 0.5 * max(width, height) / np.tan(np.radians(fov_deg) / 2.0)


def to_video_camera(transl: np.ndarray, crop_focal: np.ndarray, crop_princpt: np.ndarray,
                    camera: VideoCamera) -> np.ndarray:
    """Per-crop translations → translations in the one video camera.

    Args:
        transl: (N, 3) `cam_trans` of the network, metres, each in its crop's virtual camera (OpenCV axes).
        crop_focal: (N, 2) per-crop focal lengths (`crop_camera`), px.
        crop_princpt: (N, 2) per-crop principal points, px.
        camera: the video camera.

    Returns:
        (N, 3) translations, metres, in `camera` (OpenCV axes): the root projects to the same pixel with the
        same apparent size as in the crop's camera.
    """
    t = np.asarray(transl, dtype=np.float64).reshape(-1, 3)
    f = np.asarray(crop_focal, dtype=np.float64).reshape(-1, 2).mean(axis=1)
    c = np.asarray(crop_princpt, dtype=np.float64).reshape(-1, 2)
    z = t[:, 2] * camera.focal / f
    c0 = np.asarray(camera.princpt, dtype=np.float64)
    # a point P at depth z projecting to u = f·P_x/z + c lands on the same pixel at depth z' = z·F/f when
    # P_x' = P_x + (c − c₀)·z'/F; the apparent size f·s/z is kept too
    xy = t[:, :2] + (c - c0) * (z / camera.focal)[:, None]
    return np.concatenate([xy, z[:, None]], axis=1)
