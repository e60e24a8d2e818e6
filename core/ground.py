"""Feet on the ground: floor and world frame per video, foot contact, foot locking, steady depth.

Runs after smoothing (core/smooth.py) on a MotionClip whose people live in the video's OpenCV camera.

1. Foot geometry: each foot gets a heel and a toe *sole* point, the rearmost and foremost vertices of the foot's
   lowest centimetre in the rest pose, posed by numpy forward kinematics of the 22 body joints (linear blend
   skinning without pose correctives; a few mm from smplx's vertices). SMPL-X's heel/toe vertex joints sit 2–4 cm
   above the sole, these touch the floor when the foot is flat.
2. Steady depth: depth is the least reliable coordinate of a monocular estimate. The root's image position is kept
   and its log-depth is smoothed more than the image-plane coordinates (`GroundOptions.depth_sigma`).
3. Floor (fixed camera): candidate points are the sole points of feet that are low (along the body's up axis) and
   still, moved in the image so the lowest one sits on the person box's bottom edge (a detector box locates the
   standing foot better than the network's leg length). RANSAC (3-point planes within 30° of the people's up axis),
   then a refit whose normal minimises the inliers' squared distances plus priors towards the people's balance axis
   (supporting ankles → neck, vertical on average for a person in balance) and a level camera; the points count as
   a couple of observations (a foot's points over many frames share its pose errors), so a person standing still or
   stepping on a line gets its tilt from the priors and a person walking about from the feet. The world frame: Z up,
   floor Z = 0, Y the camera's forward direction on the floor, origin under the first person's first root position
   (`MotionClip.camera_to_world`).
4. Contacts per foot: low (lowest sole point within `contact_height` of the track's own floor level, the median
   height of its still, low feet, which absorbs a per-person depth bias) and slow (horizontal speed), with
   hysteresis and a minimum duration.
5. Placement: at contact frames the height error of the planted feet is removed by the smallest root move under the
   root's error covariance (a depth error along the root's viewing ray is likelier than a sideways one), and that
   correction is smoothed over time (the floor fixes the scale along the viewing ray).
6. Foot locking (`mode`): auto / always hold each planted foot at its median position on the floor (auto leaves a
   contact alone whose foot slides more than `max_slide` metres: a deliberate slide or a wrong contact); grounding
   only puts planted feet on the floor; never leaves the root as placed. Each foot's move is shared between the root
   (its most likely move given the root's and the leg's error covariances, blended in and out over `blend` frames
   around each contact) and the leg, which reaches the rest by damped least-squares IK on hip and knee during the
   contact (`leg_ik`), the ankle keeping the foot's orientation.
7. Root motion: "world" (as filmed) or "in_place" (root kept over the world origin, for game engines).

Moving cameras: `background_motion` measures how much the video's background moves outside the person boxes; a
moving camera (or a floor fit that fails) keeps camera-frame output, with `camera_to_world` the identity.

Nothing here imports torch; the Blender add-on uses `guess_camera_to_world` (numpy only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .motion import MotionClip, MotionTrack

__all__ = [
    "LOCK_MODES",
    "ROOT_MOTIONS",
    "GroundOptions",
    "FootModel",
    "foot_model",
    "forward_kinematics",
    "pose_track",
    "leg_ik",
    "Floor",
    "fit_floor",
    "world_from_floor",
    "detect_contacts",
    "foot_metrics",
    "background_motion",
    "guess_camera_to_world",
    "ground_clip",
    "ground_options",
    "ground_stage",
]

logger = logging.getLogger(__name__)

LOCK_MODES = ("auto", "always", "never", "grounding")
ROOT_MOTIONS = ("world", "in_place")
_BODY = 22  # pelvis … wrists: the joints that move the feet
_FOOT_JOINTS = ((7, 10), (8, 11))  # (ankle, foot) of the left and the right leg
_SOLE_BAND = 0.01  # metres above the lowest foot vertex that count as sole in the rest pose
# a foot's height error, as root position errors: 3 cm in any direction (pose errors included) plus 1 % of the
# distance along the root's viewing ray (monocular depth)
_SIGMA_SIDE, _SIGMA_DEPTH_REL = 0.03, 0.01
_SIGMA_LEG = 0.08  # a foot's position error relative to the root (the leg's joint angles), metres


@dataclass
class GroundOptions:
    """Settings of the ground stage (the CLI flags `--foot-lock`, `--root-motion`, `--depth-smoothing`, `--no-ground`).

    Attributes:
        mode: foot locking, one of LOCK_MODES.
        root_motion: "world" or "in_place".
        depth_sigma: Gaussian sigma in frames of the log-depth smoothing (0 = off); image-plane coordinates keep the
            smoothing stage's.
        contact_height: metres; a foot enters contact below this height and leaves above 1.5× it.
        contact_speed: m/s horizontal; a foot enters contact below this speed and leaves above 2× it.
        min_contact: shortest contact in frames (shorter ones are dropped, shorter gaps are closed).
        blend: frames over which a lock fades in before and out after its contact.
        max_slide: metres; in auto mode a contact whose foot travels more than this is not locked.
        moving_threshold: fraction of background pixels that change between samples above which the camera moves.
        use_boxes: put the floor under the person boxes' bottom edges (tight detector boxes) rather than under the
            network's feet.
    """

    mode: str = "auto"
    root_motion: str = "world"
    depth_sigma: float = 8.0
    contact_height: float = 0.02
    contact_speed: float = 0.8
    min_contact: int = 3
    blend: int = 4
    max_slide: float = 0.3
    moving_threshold: float = 0.2
    use_boxes: bool = True

    def __post_init__(self) -> None:
        if self.mode not in LOCK_MODES:
            raise ValueError(f"foot_lock (--foot-lock) {self.mode!r}: expected one of {LOCK_MODES}")
        if self.root_motion not in ROOT_MOTIONS:
            raise ValueError(f"root_motion (--root-motion) {self.root_motion!r}: expected one of {ROOT_MOTIONS}")
        if not np.isfinite(self.depth_sigma) or self.depth_sigma < 0:
            raise ValueError(f"depth_smoothing (--depth-smoothing) {self.depth_sigma}: expected a sigma >= 0 in frames")
        if self.min_contact < 1 or self.blend < 0:
            raise ValueError(f"min_contact ({self.min_contact}) must be >= 1 and blend ({self.blend}) >= 0 frames")


# ---------------------------------------------------------------------------------------------- body geometry
@dataclass(frozen=True)
class FootModel:
    """What posing the feet needs from an SMPL-X model (model frame: Y up, facing +Z, metres).

    Attributes:
        parents: (22,) parent of each body joint (-1 for the pelvis).
        joints: (22,3) template joints; joint_dirs (22,3,10) their change per beta.
        points: (2,2,3) template sole points [left, right] × [heel, toe]; point_dirs (2,2,3,10).
        weights: (2,2,22) skinning weights of the sole points over the body joints.
        vertex_ids: (2,2) the vertices chosen as sole points.
    """

    parents: np.ndarray
    joints: np.ndarray
    joint_dirs: np.ndarray
    points: np.ndarray
    point_dirs: np.ndarray
    weights: np.ndarray
    vertex_ids: np.ndarray


def foot_model(model_arrays: dict) -> FootModel:
    """Picks the heel and toe sole vertices of each foot and the arrays that pose them.

    Args:
        model_arrays: SMPL-X arrays (`core.body.read_model_arrays`): v_template, shapedirs, J_regressor, weights,
            kintree_table.
    """
    v = np.asarray(model_arrays["v_template"], np.float64)
    dirs = np.asarray(model_arrays["shapedirs"], np.float64)[:, :, :10]
    reg = np.asarray(model_arrays["J_regressor"], np.float64)[:_BODY]
    weights = np.asarray(model_arrays["weights"], np.float64)
    owner = weights.argmax(1)
    ids = np.zeros((2, 2), np.int64)
    for side, joints in enumerate(_FOOT_JOINTS):
        foot = np.flatnonzero(np.isin(owner, joints))
        if len(foot) < 2:
            raise ValueError(f"SMPL-X model: no foot vertices weighted to joints {joints}; is it an SMPL-X model?")
        sole = foot[v[foot, 1] < v[foot, 1].min() + _SOLE_BAND]
        ids[side] = sole[np.argmin(v[sole, 2])], sole[np.argmax(v[sole, 2])]
    w = weights[ids][..., :_BODY]
    parents = np.asarray(model_arrays["kintree_table"])[0, :_BODY].astype(np.int64)
    parents[0] = -1
    return FootModel(parents=parents, joints=reg @ v, joint_dirs=np.einsum("jv,vck->jck", reg, dirs),
                     points=v[ids], point_dirs=dirs[ids], weights=w / w.sum(-1, keepdims=True), vertex_ids=ids)


def _rotations(rotvec: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle → (..., 3, 3) rotation matrices (Rodrigues, numpy only)."""
    angle = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    axis = rotvec / np.maximum(angle, 1e-12)
    x, y, z = np.moveaxis(axis, -1, 0)
    zero = np.zeros_like(x)
    k = np.stack([np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1), np.stack([-y, x, zero], -1)], -2)
    s, c = np.sin(angle)[..., None], np.cos(angle)[..., None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def forward_kinematics(fm: FootModel, track: MotionTrack) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Global rotations (N,22,3,3) (model axes → camera), joint positions (N,22,3) and sole points (N,2,2,3), camera
    frame, metres."""
    betas = track.betas.astype(np.float64)
    rest = fm.joints + np.einsum("jck,nk->njc", fm.joint_dirs, betas)  # (N,22,3)
    pts = fm.points + np.einsum("fpck,nk->nfpc", fm.point_dirs, betas)  # (N,2,2,3)
    pose = np.concatenate([track.global_orient[:, None], track.body_pose], 1).astype(np.float64)
    local = _rotations(pose)
    n = len(track)
    rot = np.zeros((n, _BODY, 3, 3))
    pos = np.zeros((n, _BODY, 3))
    rot[:, 0], pos[:, 0] = local[:, 0], rest[:, 0] + track.transl
    for j in range(1, _BODY):
        p = fm.parents[j]
        rot[:, j] = rot[:, p] @ local[:, j]
        pos[:, j] = pos[:, p] + np.einsum("nab,nb->na", rot[:, p], rest[:, j] - rest[:, p])
    # linear blend skinning of the sole points: Σ_k w_k (R_k (v − J_k) + p_k)
    rel = pts[:, :, :, None, :] - rest[:, None, None]  # (N,2,2,22,3)
    moved = np.einsum("njab,nfpjb->nfpja", rot, rel) + pos[:, None, None]
    return rot, pos, np.einsum("fpj,nfpja->nfpa", fm.weights, moved)


def pose_track(fm: FootModel, track: MotionTrack) -> tuple[np.ndarray, np.ndarray]:
    """Body joints and sole points of a track in the camera frame.

    Returns:
        joints (N,22,3) and sole points (N,2,2,3) [left, right] × [heel, toe], metres, OpenCV camera.
    """
    _, joints, soles = forward_kinematics(fm, track)
    return joints, soles


def _rotvec(m: np.ndarray) -> np.ndarray:
    """(...,3,3) rotation matrices → (...,3) axis-angle."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(m.reshape(-1, 3, 3)).as_rotvec().reshape(m.shape[:-2] + (3,))


_LEGS = ((1, 4, 7), (2, 5, 8))  # (hip, knee, ankle) joints of the left and the right leg


def leg_ik(fm: FootModel, track: MotionTrack, shifts: np.ndarray, iterations: int = 3,
           damping: float = 1e-3) -> MotionTrack:
    """Moves each foot by `shifts` by turning its hip and knee (damped least squares on a numeric Jacobian), and
    turns the ankle back so the foot keeps its orientation (a planted foot stays flat).

    Args:
        shifts: (N,2,3) metres, camera frame, per foot [left, right]; zero rows leave a leg untouched.

    Returns:
        The track with new hip, knee and ankle rotations (the root and the rest of the body unchanged).
    """
    rot0, pos0, _ = forward_kinematics(fm, track)
    body = track.body_pose.astype(np.float64).copy()
    moving = np.abs(shifts).sum(-1) > 0  # (N,2)
    eps = 1e-4
    for _ in range(iterations):
        current = track.replace(body_pose=body)
        _, pos, _ = forward_kinematics(fm, current)
        for f, (hip, knee, ankle) in enumerate(_LEGS):
            rows = moving[:, f]
            if not rows.any():
                continue
            residual = (pos0[:, ankle] + shifts[:, f] - pos[:, ankle])[rows]
            jac = np.zeros((int(rows.sum()), 3, 6))
            for k in range(6):
                bumped = body.copy()
                joint = (hip, knee)[k // 3] - 1
                delta = np.zeros(3)
                delta[k % 3] = eps
                bumped[:, joint] = _rotvec(_rotations(body[:, joint]) @ _rotations(delta))
                jac[:, :, k] = (forward_kinematics(fm, current.replace(body_pose=bumped))[1][rows, ankle] - pos[rows, ankle]) / eps
            jt = np.swapaxes(jac, 1, 2)
            step = np.linalg.solve(jt @ jac + damping * np.eye(6), np.einsum("nka,na->nk", jt, residual))
            for i, joint in enumerate((hip, knee)):
                body[rows, joint - 1] = _rotvec(_rotations(body[rows, joint - 1]) @ _rotations(step[:, 3 * i:3 * i + 3]))
    rot, _, _ = forward_kinematics(fm, track.replace(body_pose=body))
    for f, (_, knee, ankle) in enumerate(_LEGS):  # ankle: back to the foot's original global orientation
        rows = moving[:, f]
        body[rows, ankle - 1] = _rotvec(np.swapaxes(rot[rows, knee], -1, -2) @ rot0[rows, ankle])
    return track.replace(body_pose=body)


# ---------------------------------------------------------------------------------------------- floor
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
              seed: int = 0) -> Floor | None:
    """Robust plane through candidate foot points (RANSAC, then a refit with priors on the normal).

    Args:
        points: (M,3) candidate sole points, camera frame, metres.
        up: (3,) the people's mean up axis in the camera frame (prior and orientation of the normal).
        threshold: inlier distance, metres.
        up_sigma_deg, level_sigma_deg: how far the normal may stray from `up` and from a level camera's up (−y).

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
        sigma = max(1.4826 * np.median(np.abs(inl @ n + d)), 0.01)
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


# ---------------------------------------------------------------------------------------------- contacts
def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index ranges of the True runs of a (N,) bool array."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _holes(frames: np.ndarray) -> np.ndarray:
    """(N-1,) True where consecutive samples are further apart than 1.5 × the track's usual step (a stride of 4
    is no hole; a missing stretch is)."""
    steps = np.diff(frames)
    return steps > 1.5 * (np.median(steps) if len(steps) else 1)


def _hysteresis(enter: np.ndarray, stay: np.ndarray, restart: np.ndarray) -> np.ndarray:
    """True from a frame where `enter` holds until `stay` fails (all (N,) bool); at a `restart` frame (after a hole)
    a contact only continues if it enters anew."""
    out = np.zeros(len(enter), bool)
    on = False
    for i, (e, s, r) in enumerate(zip(enter, stay, restart)):
        on = e if r else s and (on or e)
        out[i] = on
    return out


def detect_contacts(heights: np.ndarray, speeds: np.ndarray, frames: np.ndarray, opts: GroundOptions) -> np.ndarray:
    """Per-foot contact with hysteresis and a minimum duration.

    Args:
        heights: (N,2) metres, lowest sole point of each foot above the floor.
        speeds: (N,2) m/s, horizontal speed of each foot.
        frames: (N,) frame indices (a hole in the track ends a contact; a regular stride does not).
        opts: thresholds.

    Returns:
        (N,2) bool [left, right].
    """
    h, v = opts.contact_height, opts.contact_speed
    out = np.zeros(heights.shape, bool)
    breaks = np.r_[False, _holes(frames)]
    for f in range(2):
        enter = (heights[:, f] < h) & (speeds[:, f] < v)
        stay = (heights[:, f] < 1.5 * h) & (speeds[:, f] < 2 * v)
        mask = _hysteresis(enter, stay, breaks)
        for a, b in _runs(~mask):  # close short gaps inside a contact
            if 0 < a and b < len(mask) and b - a < opts.min_contact and not breaks[a:b + 1].any():
                mask[a:b] = True
        for a, b in _runs(mask):  # drop short contacts (a hole splits a run)
            cuts = [a] + [i for i in range(a + 1, b) if breaks[i]] + [b]
            for lo, hi in zip(cuts[:-1], cuts[1:]):
                if hi - lo < opts.min_contact:
                    mask[lo:hi] = False
        out[:, f] = mask
    return out


# ---------------------------------------------------------------------------------------------- corrections
def _smooth_log_depth(track: MotionTrack, root: np.ndarray, sigma: float, image_size) -> np.ndarray:
    """(N,3) root positions with their log-depth smoothed (sigma frames), image position unchanged."""
    from .smooth import frame_weights, local_polynomial, segments

    out = root.copy()
    if sigma <= 0:
        return out
    z = np.maximum(root[:, 2], 1e-3)
    w = frame_weights(track, image_size)
    for seg in segments(track.frames, 5):
        t = track.frames[seg].astype(np.float64)
        logz = local_polynomial(t, np.log(z[seg])[:, None], w[seg], sigma)[:, 0]
        out[seg] = root[seg] / z[seg, None] * np.exp(logz)[:, None]
    return out


def _min_norm_shift(errors: np.ndarray, rays: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(N,3) smallest root moves (under the root's error covariance) that raise the feet by −errors (N,) metres.

    Σ = σ_side² (I − r rᵀ) + σ_depth² r rᵀ per frame with r the root's viewing ray; Δ = −e Σ n / (nᵀ Σ n).
    """
    r = rays / np.linalg.norm(rays, axis=1, keepdims=True)
    depth = np.linalg.norm(rays, axis=1)
    sd = np.hypot(_SIGMA_DEPTH_REL * depth, _SIGMA_SIDE)
    rn = r @ up
    sigma_n = _SIGMA_SIDE**2 * (up[None] - rn[:, None] * r) + (sd**2 * rn)[:, None] * r
    return -errors[:, None] * sigma_n / np.einsum("nc,c->n", sigma_n, up)[:, None]


def _interpolate(values: np.ndarray, known: np.ndarray, frames: np.ndarray, sigma: float) -> np.ndarray:
    """(N,D) values known at `known` frames, smoothed (sigma frames) and carried across the unknown frames."""
    from .smooth import local_polynomial

    if not known.any():
        return np.zeros_like(values)
    w = np.where(known, 1.0, 1e-6)
    return local_polynomial(frames.astype(np.float64), np.where(known[:, None], values, 0.0), w, max(sigma, 1.0),
                            degree=1)


def _blend_weights(mask: np.ndarray, blend: int) -> np.ndarray:
    """(N,) 1 inside the runs of `mask`, fading to 0 over `blend` frames on both sides (smoothstep)."""
    n = len(mask)
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return np.zeros(n)
    dist = np.abs(np.arange(n)[:, None] - idx[None]).min(1)
    x = np.clip(1 - dist / (blend + 1), 0, 1)
    return x * x * (3 - 2 * x)


def _foot_targets(soles_w: np.ndarray, contacts: np.ndarray, opts: GroundOptions) -> tuple[np.ndarray, np.ndarray]:
    """Per-foot world moves (N,2,3) that hold each planted foot where it stands (auto/always: its median position on
    the floor) or only on the floor (grounding), held past each contact, and their blend weights (N,2) in [0,1]."""
    n = len(soles_w)
    centre = soles_w.mean(2)  # (N,2,3) foot centres
    low = soles_w[..., 2].min(2)  # (N,2) lowest sole point
    shift, weight = np.zeros((n, 2, 3)), np.zeros((n, 2))
    for f in range(2):
        for a, b in _runs(contacts[:, f]):
            if opts.mode in ("auto", "always"):
                target = np.median(centre[a:b, f, :2], axis=0)
                slide = np.linalg.norm(centre[a:b, f, :2] - target, axis=1).max()
                if opts.mode == "always" or slide <= opts.max_slide:
                    shift[a:b, f, :2] = target - centre[a:b, f, :2]
            shift[a:b, f, 2] = -low[a:b, f]
            lo, hi = max(0, a - opts.blend), min(n, b + opts.blend)
            shift[lo:a, f], shift[b:hi, f] = shift[a, f], shift[b - 1, f]
        weight[:, f] = _blend_weights(contacts[:, f], opts.blend)
    return shift, weight


def _split_shift(shifts: np.ndarray, weights: np.ndarray, rays: np.ndarray) -> np.ndarray:
    """(N,3) the root's share of the feet's moves (camera frame), the rest goes to the legs.

    The most likely root move given root errors Σ_r (`_min_norm_shift`'s) and leg errors σ_leg² I per planted foot:
    Δ_r = (Σ_r⁻¹ + Σ_f w_f / σ_leg²)⁻¹ Σ_f w_f Δ_f / σ_leg².
    """
    r = rays / np.linalg.norm(rays, axis=1, keepdims=True)
    sd = np.hypot(_SIGMA_DEPTH_REL * np.linalg.norm(rays, axis=1), _SIGMA_SIDE)
    outer = np.einsum("na,nb->nab", r, r)
    inv_root = (np.eye(3) - outer) / _SIGMA_SIDE**2 + outer / sd[:, None, None] ** 2
    total = weights.sum(1)
    lhs = inv_root + (total / _SIGMA_LEG**2)[:, None, None] * np.eye(3)
    rhs = np.einsum("nf,nfc->nc", weights, shifts) / _SIGMA_LEG**2
    return np.linalg.solve(lhs, rhs[..., None])[..., 0]


# ---------------------------------------------------------------------------------------------- metrics
def foot_metrics(soles_w: np.ndarray, contacts: np.ndarray, frames: np.ndarray) -> dict[str, float | None]:
    """Foot skate, penetration and floating of one track in the world frame.

    Args:
        soles_w: (N,2,2,3) sole points, world frame (floor Z = 0).
        contacts: (N,2) bool, the frames that count as contact.
        frames: (N,) frame indices (skate only between consecutive samples, without a hole between them).

    Returns:
        `foot_skate_mm_per_frame`: mean horizontal move of a planted foot's centre per video frame between
        consecutive contact samples; `penetration_mm`: mean depth of the lowest sole point below the floor over all frames;
        `floating_mm`: mean height of planted feet's lowest sole point over contact frames (None without contacts).
    """
    centre = soles_w.mean(2)
    low = soles_w[..., 2].min(2)
    step = ~_holes(frames)[:, None] & contacts[1:] & contacts[:-1]
    moves = np.linalg.norm(np.diff(centre[..., :2], axis=0), axis=-1) / np.diff(frames)[:, None]
    lowest = low.min(1)
    return {
        "foot_skate_mm_per_frame": float(moves[step].mean() * 1000) if step.any() else None,
        "penetration_mm": float(np.maximum(-lowest, 0).mean() * 1000),
        "floating_mm": float(np.maximum(low[contacts], 0).mean() * 1000) if contacts.any() else None,
    }


def _to_world(t: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ t[:3, :3].T + t[:3, 3]


# ---------------------------------------------------------------------------------------------- moving camera
def background_motion(video, clip: MotionClip, samples: int = 16, width: int = 160) -> float:
    """Median fraction of background pixels (outside every person box, enlarged by 20 %) that differ by more than
    25 grey levels between evenly spaced frames and their temporal median: ≈ 0 for a fixed camera.

    Args:
        video: a `core.video.VideoSource` (iterated once) or anything yielding frames with `.index` and `.image`.
        clip: the clip (person boxes per frame).
    """
    total = max(getattr(video, "num_frames", 0) or clip.num_frames, 1)
    every = max(1, total // samples)
    boxes: dict[int, list[np.ndarray]] = {}
    for track in clip.tracks:
        for f, b in zip(track.frames.tolist(), track.boxes):
            boxes.setdefault(f, []).append(b)
    grey, masks = [], []
    for k, frame in enumerate(video):
        if k % every:
            continue
        img = frame.image.astype(np.float32).mean(-1)
        step = max(1, img.shape[1] // width)
        small = img[::step, ::step]
        keep = np.ones(small.shape, bool)
        for x0, y0, x1, y1 in boxes.get(frame.index, []):
            mx, my = 0.2 * (x1 - x0), 0.2 * (y1 - y0)
            keep[max(0, int((y0 - my) / step)):int((y1 + my) / step) + 1,
                 max(0, int((x0 - mx) / step)):int((x1 + mx) / step) + 1] = False
        grey.append(small)
        masks.append(keep)
    if len(grey) < 3:
        return 0.0
    stack = np.stack(grey)
    median = np.median(stack, axis=0)
    changed = [np.mean(np.abs(g - median)[m] > 25) for g, m in zip(stack, masks) if m.any()]
    return float(np.median(changed)) if changed else 0.0


# ---------------------------------------------------------------------------------------------- the stage
@dataclass
class _Posed:
    joints: np.ndarray  # (N,22,3) camera
    soles: np.ndarray  # (N,2,2,3) camera
    up: np.ndarray  # (N,3) camera


def _pose(fm: FootModel, track: MotionTrack) -> _Posed:
    joints, soles = pose_track(fm, track)
    return _Posed(joints, soles, _up_axes(track))


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


def _balance_up(p: _Posed, low: float = 0.03) -> np.ndarray:
    """(3,) the mean direction from the supporting feet (those within `low` m of the lowest) to the neck: vertical
    on average for a person in balance (the pelvis orientation a network predicts often leans by several degrees)."""
    level = np.einsum("nfpc,nc->nfp", p.soles, p.up).min(-1)
    support = (level <= level.min(1, keepdims=True) + low).astype(np.float64)
    centre = np.einsum("nf,nfc->nc", support, p.joints[:, [7, 8]]) / support.sum(1, keepdims=True)  # ankles
    v = p.joints[:, 12] - centre
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v.mean(0)


def _floor_points(clip: MotionClip, tracks: list[MotionTrack], posed: list[_Posed],
                  use_boxes: bool) -> tuple[np.ndarray, np.ndarray]:
    """All candidate sole points (M,3) (snapped to the boxes with `use_boxes`) and the people's mean up axis (3,)."""
    pts, ups = [], []
    for track, p in zip(tracks, posed):
        cand = _candidates(p.soles, p.up, track.times)
        soles = _snap_to_boxes(p.soles, track.boxes, clip.focal, clip.princpt, clip.image_size[1]) if use_boxes \
            else p.soles
        pts.append(soles[cand].reshape(-1, 3))
        ups.append(_balance_up(p) * len(track))
    up = np.sum(ups, axis=0)
    return np.concatenate(pts), up / np.linalg.norm(up)


def ground_clip(clip: MotionClip, model_arrays: dict, opts: GroundOptions | None = None,
                raw: MotionClip | None = None, background: float | None = None) -> MotionClip:
    """Floor, world frame, contacts, steady depth and foot locking of a smoothed clip (see the module docstring).

    Args:
        clip: the smoothed clip (OpenCV camera).
        model_arrays: SMPL-X arrays of the body model the clip belongs to.
        opts: settings (defaults: `GroundOptions()`).
        raw: the clip before smoothing (its foot metrics go into the report as "raw"); None to skip them.
        background: `background_motion` of the video, or None when unknown.

    Returns:
        A new clip with `camera_to_world`, per-track `contacts` and corrected `transl`, and metadata["ground"]:
        floor (found, camera height, pitch, roll, residual), moving_camera, and per track id the contact fraction
        and foot metrics {"raw", "smoothed", "final"}.
    """
    opts = opts or GroundOptions()
    fm = foot_model(model_arrays)
    tracks = list(clip.tracks)
    roots = []
    for track in tracks:  # steady depth first: the floor fit sees less depth noise
        j0 = _posed_root(fm, track)
        roots.append(_smooth_log_depth(track, j0 + track.transl, opts.depth_sigma, clip.image_size) - j0)
    tracks = [t.replace(transl=tr) for t, tr in zip(tracks, roots)]
    posed = [_pose(fm, t) for t in tracks]
    moving = background is not None and background > opts.moving_threshold
    floor = None
    reason = "the background moves: the camera is not fixed" if moving else ""
    if not moving and tracks:
        points, up = _floor_points(clip, tracks, posed, opts.use_boxes)
        floor = fit_floor(points, up)
        if floor is None:
            reason = (f"no consistent floor under the feet ({len(points)} candidate points): a moving camera, "
                      "or nobody stands on the ground")
    info: dict[str, Any] = {"floor_found": floor is not None, "moving_camera": bool(moving),
                            "background_motion": background, "reason": reason, "mode": opts.mode,
                            "root_motion": opts.root_motion, "depth_sigma": opts.depth_sigma, "tracks": {}}
    if floor is None:
        logger.warning("ground: %s; output stays in the camera frame", reason)
        tracks = [t.replace(contacts=None) for t in tracks]  # no floor, no contacts
        return clip.replace(tracks=tracks, camera_to_world=np.eye(4), metadata={**clip.metadata, "ground": info})
    first = min(range(len(tracks)), key=lambda i: tracks[i].frames[0])
    world = world_from_floor(floor, posed[first].joints[0, 0])
    info.update(_floor_info(floor, world))
    raw_tracks = {t.track_id: t for t in raw.tracks} if raw is not None else {}
    out = []
    for track, smooth_track, p in zip(tracks, clip.tracks, posed):
        final, contacts, details = _ground_track(fm, track, p, world, floor, opts, clip.image_size)
        metrics = {"smoothed": foot_metrics(_to_world(world, pose_track(fm, smooth_track)[1]), contacts,
                                            track.frames),
                   "final": foot_metrics(_to_world(world, pose_track(fm, final)[1]), contacts, track.frames)}
        if track.track_id in raw_tracks:
            metrics["raw"] = foot_metrics(_to_world(world, pose_track(fm, raw_tracks[track.track_id])[1]),
                                          contacts, track.frames)
        info["tracks"][str(track.track_id)] = {**details, **{k: {s: m[k] for s, m in metrics.items()}
                                                             for k in metrics["final"]}}
        out.append(final.replace(contacts=contacts))
    return clip.replace(tracks=out, camera_to_world=world, metadata={**clip.metadata, "ground": info})


def _posed_root(fm: FootModel, track: MotionTrack) -> np.ndarray:
    """(N,3) the shaped root joint J0 (the point `transl` moves)."""
    return fm.joints[0] + track.betas.astype(np.float64) @ fm.joint_dirs[0].T


def _floor_info(floor: Floor, world: np.ndarray) -> dict[str, Any]:
    """Camera height, pitch (down positive) and roll in degrees, and the fit's residual."""
    forward, right = world[:3, 2], world[:3, 0]  # the camera's z and x axes in the world
    return {"camera_height_m": floor.offset, "camera_pitch_deg": float(np.degrees(np.arcsin(-forward[2]))),
            "camera_roll_deg": float(np.degrees(np.arcsin(right[2]))), "floor_residual_mm": floor.residual * 1000,
            "floor_inliers": floor.inliers, "floor_candidates": floor.candidates}


def _ground_track(fm: FootModel, track: MotionTrack, p: _Posed, world: np.ndarray, floor: Floor,
                  opts: GroundOptions, image_size) -> tuple[MotionTrack, np.ndarray, dict]:
    """Contacts, placement, locking and root motion of one track (camera frame in and out)."""
    rot, up = world[:3, :3], floor.normal
    soles_w = _to_world(world, p.soles)
    heights = soles_w[..., 2].min(2)
    cand = _candidates(p.soles, p.up, track.times)
    level = float(np.median(heights[cand])) if cand.any() else 0.0
    speeds = _speeds(soles_w.mean(2)[..., :2], track.times)
    contacts = detect_contacts(heights - level, speeds, track.frames, opts)
    transl = track.transl.astype(np.float64)
    frames = track.frames
    residual = None
    if opts.mode != "never" and contacts.any():
        # placement: the smallest root move that puts the planted feet on the floor, smoothed over time
        planted = contacts.any(1)
        err = np.where(contacts, heights, 0).sum(1) / np.maximum(contacts.sum(1), 1)
        root = p.joints[:, 0]
        shift = _min_norm_shift(err, root, up)
        shift = _interpolate(shift, planted, frames, opts.depth_sigma)
        transl = transl + shift
        soles_w = _to_world(world, p.soles + shift[:, None, None])
        feet, weights = _foot_targets(soles_w, contacts, opts)
        feet = feet @ rot  # world → camera directions
        root_shift = _split_shift(feet, weights, root + shift)
        transl = transl + root_shift
        # the legs reach only during contact: bending a swinging leg towards a held target costs more than it gains
        legs = np.minimum(weights, contacts)[..., None] * (feet - root_shift[:, None])
        track = leg_ik(fm, track.replace(transl=transl), legs)
        residual = float(np.abs(err[planted]).mean() * 1000)
    if opts.root_motion == "in_place":
        root_w = _to_world(world, _posed_root(fm, track) + transl)
        transl = transl - np.c_[root_w[:, :2], np.zeros(len(root_w))] @ rot
    details = {"contact_fraction": {"left": float(contacts[:, 0].mean()), "right": float(contacts[:, 1].mean())},
               "floor_residual_mm": float(np.sqrt(np.mean((heights[cand] - level) ** 2)) * 1000) if cand.any()
               else None, "floor_level_mm": level * 1000, "placement_error_mm": residual}
    return track.replace(transl=transl), contacts, details


def ground_options(convert_options: Any) -> GroundOptions:
    """GroundOptions from a `core.pipeline.ConvertOptions` (foot_lock, root_motion, depth_smoothing); ValueError
    naming the option when one is invalid."""
    return GroundOptions(mode=convert_options.foot_lock, root_motion=convert_options.root_motion,
                         depth_sigma=float(convert_options.depth_smoothing))


def ground_stage(clip: MotionClip, raw: MotionClip, model_arrays: dict, opts: GroundOptions, frames) -> MotionClip:
    """The pipeline's ground stage: background motion of the video `frames` (a fresh VideoSource), then
    `ground_clip`; metadata["ground"]["summary"] is a one-line account for progress and the UI."""
    moving = background_motion(frames, clip)
    out = ground_clip(clip, model_arrays, opts, raw=raw, background=moving)
    info = out.metadata["ground"]
    if info["floor_found"]:
        summary = (f"floor found: camera {info['camera_height_m']:.2f} m up, pitched {info['camera_pitch_deg']:.1f}°"
                   f" down; foot lock {opts.mode}")
    else:
        summary = f"no floor ({info['reason']}); motion stays in the camera frame"
    out.metadata["ground"]["summary"] = summary
    return out
