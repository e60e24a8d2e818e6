"""Floor candidates, the robust plane fit with priors, and the world frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..motion import MotionTrack
from ._body import _rotations


@dataclass
class Floor:
    """A plane in the camera frame: height(p) = normal · p + offset (metres above the floor).

    Attributes:
        normal: (3,) unit up direction in the OpenCV camera.
        offset: the camera's height above the floor, metres.
        residual: RMS height of the inlier points, metres.
        inliers: number of inlier points; candidates: number of candidate points.
    """

    normal: np.ndarray
    offset: float
    residual: float
    inliers: int
    candidates: int

    def height(self, points: np.ndarray) -> np.ndarray:
        """(...,3) camera points → (...) metres above the floor."""
        return points @ self.normal + self.offset


def _up_axes(track: MotionTrack) -> np.ndarray:
    """(N,3) the body's up axis (model +Y) in the camera frame."""
    return _rotations(track.global_orient.astype(np.float64))[:, :, 1]


def _speeds(points: np.ndarray, times: np.ndarray, span: int = 2) -> np.ndarray:
    """(N,...) speed of (N,...,D) points, m/s: the smaller of the mean speeds over the `span` frames before and
    after (a foot that lands or lifts off is still on its contact frame, though a centred difference says not)."""
    n = len(points)
    idx = np.arange(n)
    shape = (-1,) + (1,) * (points.ndim - 2)
    out = []
    for a, b in ((np.clip(idx - span, 0, n - 1), idx), (idx, np.clip(idx + span, 0, n - 1))):
        dt = np.maximum(times[b] - times[a], 1e-6).reshape(shape)
        out.append(np.where((b > a).reshape(shape), np.linalg.norm(points[b] - points[a], axis=-1) / dt, np.inf))
    return np.minimum(*out)


def _candidates(soles: np.ndarray, up: np.ndarray, times: np.ndarray, low: float = 0.03,
                speed: float = 0.5) -> np.ndarray:
    """(N,2) feet that are low along the body's up axis (within `low` m of the lower foot) and slower than `speed`."""
    level = np.einsum("nfpc,nc->nfp", soles, up).min(-1)  # (N,2) lowest sole point along up
    is_low = level <= level.min(1, keepdims=True) + low
    return is_low & (_speeds(soles.mean(2), times) < speed)


def _plane_normal(points: np.ndarray, priors: list[tuple[np.ndarray, float]], sigma: float,
                  independent: int = 2) -> np.ndarray:
    """Unit normal minimising k/M Σ (n·(p − p̄))²/σ² + Σ_k λ_k (1 − (u_k·n)²): the eigenvector of the smallest
    eigenvalue of k/M C/σ² − Σ λ_k u_k u_kᵀ, oriented along the first prior. The M points count as k = `independent`
    observations: a foot's points over many frames share its pose errors, so they are far from independent."""
    centred = points - points.mean(0)
    m = centred.T @ centred / sigma**2 * min(1.0, independent / len(points))
    for u, lam in priors:
        m -= lam * np.outer(u, u)
    n = np.linalg.eigh(m)[1][:, 0]
    return n if n @ priors[0][0] >= 0 else -n


def fit_floor(points: np.ndarray, up: np.ndarray, *, threshold: float = 0.05, iterations: int = 300,
              max_tilt_deg: float = 30.0, up_sigma_deg: float = 5.0, level_sigma_deg: float = 20.0,
              seed: int = 0, min_sigma: float = 0.03) -> Floor | None:
    """Robust plane through candidate foot points (RANSAC, then a refit with priors on the normal).

    Args:
        points: (M,3) candidate sole points, camera frame, metres.
        up: (3,) the people's mean up axis in the camera frame (prior and orientation of the normal).
        threshold: inlier distance, metres.
        up_sigma_deg, level_sigma_deg: how far the normal may stray from `up` and from a level camera's up (−y).
        min_sigma: the smallest height error of one point, metres (a few pixels of a box bottom or a network foot at
            a few metres); the inliers' own spread understates it, their errors being shared across frames. On
            assets/sample.mp4 with sparse detection, 1 cm let a few boxes tilt the floor by 3.4°, 3 cm by 2.7°.

    Returns:
        The floor, or None when fewer than 12 candidates exist or fewer than half are inliers.
    """
    m = len(points)
    up = up / np.linalg.norm(up)
    if m < 12:
        return None
    rng = np.random.default_rng(seed)
    cos_tilt = np.cos(np.radians(max_tilt_deg))
    best = np.zeros(m, bool)
    for _ in range(iterations):
        a, b, c = points[rng.choice(m, 3, replace=False)]
        n = np.cross(b - a, c - a)
        norm = np.linalg.norm(n)
        if norm < 1e-9:
            continue
        n = n / norm * np.sign(n @ up or 1.0)
        if n @ up < cos_tilt:
            continue
        inl = np.abs((points - a) @ n) < threshold
        if inl.sum() > best.sum():
            best = inl
    if best.sum() < max(12, m // 2):
        return None
    inl = points[best]
    n = up
    for _ in range(3):  # refit: residual scale from the inliers, then the normal with its priors
        d = -np.median(inl @ n)
        sigma = max(1.4826 * np.median(np.abs(inl @ n + d)), min_sigma)
        priors = [(up, 1 / np.radians(up_sigma_deg) ** 2), (np.array([0.0, -1.0, 0.0]),
                                                            1 / np.radians(level_sigma_deg) ** 2)]
        n = _plane_normal(inl, priors, sigma)
    offset = float(-np.median(inl @ n))
    resid = inl @ n + offset
    return Floor(normal=n, offset=offset, residual=float(np.sqrt(np.mean(resid**2))), inliers=int(best.sum()),
                 candidates=m)


def world_from_floor(floor: Floor, origin: np.ndarray) -> np.ndarray:
    """(4,4) camera → world: Z = the floor normal, Y = the camera's forward direction on the floor, X = Y × Z; the
    floor at Z = 0 and `origin` (a camera-frame point) above the world origin."""
    z = floor.normal
    forward = np.array([0.0, 0.0, 1.0]) - z[2] * z
    if np.linalg.norm(forward) < 1e-6:  # camera looking straight down: image up is forward
        forward = np.array([0.0, -1.0, 0.0]) - z[1] * z
    y = forward / np.linalg.norm(forward)
    x = np.cross(y, z)
    out = np.eye(4)
    out[:3, :3] = np.stack([x, y, z])
    out[:3, 3] = [-(x @ origin), -(y @ origin), floor.offset]
    return out


def guess_camera_to_world(root: np.ndarray, root_height: float) -> np.ndarray:
    """(4,4) camera → world for a clip without a floor: a level camera, the person's root `root` (camera frame)
    `root_height` metres above the floor and above the world origin. Numpy only (the Blender add-on uses it)."""
    out = np.eye(4)
    out[:3, :3] = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]
    world = out[:3, :3] @ np.asarray(root, np.float64)
    out[:3, 3] = [-world[0], -world[1], root_height - world[2]]
    return out




def _snap_to_boxes(soles: np.ndarray, boxes: np.ndarray, focal: np.ndarray, princpt: np.ndarray,
                   height: int) -> np.ndarray:
    """(N,2,2,3) sole points moved in the image so that the lowest one sits on the person box's bottom edge, at
    unchanged depth: a detector box bottom locates the standing foot in the image to a few pixels, better than the
    network's leg length does. Frames whose box touches the image's bottom edge (feet cut off), or would move by more
    than a tenth of the box height, keep their points."""
    v = focal[1] * soles[..., 1] / soles[..., 2] + princpt[1]
    dv = boxes[:, 3] - v.max((1, 2))
    ok = (boxes[:, 3] < height - 2) & (np.abs(dv) < 0.1 * (boxes[:, 3] - boxes[:, 1]))
    out = soles.copy()
    out[ok, ..., 1] = (v[ok] + dv[ok, None, None] - princpt[1]) * soles[ok, ..., 2] / focal[1]
    return out


def _balance_up(joints: np.ndarray, soles: np.ndarray, up: np.ndarray, low: float = 0.03) -> np.ndarray:
    """(3,) the mean direction from the supporting feet (those within `low` m of the lowest) to the neck: vertical
    on average for a person in balance (the pelvis orientation a network predicts often leans by several degrees)."""
    level = np.einsum("nfpc,nc->nfp", soles, up).min(-1)
    support = (level <= level.min(1, keepdims=True) + low).astype(np.float64)
    centre = np.einsum("nf,nfc->nc", support, joints[:, [7, 8]]) / support.sum(1, keepdims=True)  # ankles
    v = joints[:, 12] - centre
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v.mean(0)




def _to_world(t: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ t[:3, :3].T + t[:3, 3]
