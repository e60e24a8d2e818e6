"""The ground stage: steady depth, floor and world frame, contacts, placement, locking, root motion, report."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..motion import MotionClip, MotionTrack
from ..smooth import (DEFAULT_MAX_GAP, frame_weights, local_polynomial, sample_times, segments, sigma_width,
                      split_gap)
from ._body import FootModel, foot_model, leg_ik, pose_track
from ._contacts import _foot_targets, detect_contacts, foot_metrics
from ._floor import (Floor, _balance_up, _candidates, _snap_to_boxes, _speeds, _to_world, _up_axes, fit_floor,
                     world_from_floor)
from ._options import GroundOptions

logger = logging.getLogger(__name__)

# a foot's height error, as root position errors: 3 cm in any direction (pose errors included) plus 1 % of the
# distance along the root's viewing ray (monocular depth)
_SIGMA_SIDE, _SIGMA_DEPTH_REL = 0.03, 0.01
_SIGMA_LEG = 0.08  # a foot's position error relative to the root (the leg's joint angles), metres


def _smooth_log_depth(track: MotionTrack, root: np.ndarray, sigma: float, image_size, fps: float) -> np.ndarray:
    """(N,3) root positions with their log-depth smoothed (Gaussian sigma in seconds), image position unchanged;
    holes that split a track for smoothing split it here too."""
    out = root.copy()
    if sigma <= 0:
        return out
    z = np.maximum(root[:, 2], 1e-3)
    w = frame_weights(track, image_size)
    times = sample_times(track, fps)
    width = sigma_width(times, sigma)
    for seg in segments(times, split_gap(times, DEFAULT_MAX_GAP)):
        logz = local_polynomial(times[seg], np.log(z[seg])[:, None], w[seg], width)[:, 0]
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


def _interpolate(values: np.ndarray, known: np.ndarray, times: np.ndarray, sigma: float) -> np.ndarray:
    """(N,D) values known at `known` samples, smoothed (sigma seconds, at least one sampling step even at 0) and
    carried across the unknown ones."""
    if not known.any():
        return np.zeros_like(values)
    w = np.where(known, 1.0, 1e-6)
    width = sigma_width(times, max(sigma, 1e-9))
    return local_polynomial(times, np.where(known[:, None], values, 0.0), w, width, degree=1)




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




def _floor_points(clip: MotionClip, tracks: list[MotionTrack], posed: list[_Posed],
                  use_boxes: bool) -> tuple[np.ndarray, np.ndarray]:
    """All candidate sole points (M,3) (snapped to the boxes with `use_boxes`) and the people's mean up axis (3,)."""
    pts, ups = [], []
    for track, p in zip(tracks, posed):
        cand = _candidates(p.soles, p.up, track.times)
        soles = _snap_to_boxes(p.soles, track.boxes, clip.focal, clip.princpt, clip.image_size[1]) if use_boxes \
            else p.soles
        pts.append(soles[cand].reshape(-1, 3))
        ups.append(_balance_up(p.joints, p.soles, p.up) * len(track))
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
        roots.append(_smooth_log_depth(track, j0 + track.transl, opts.depth_sigma, clip.image_size, clip.fps) - j0)
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
        logger.info("ground: %s; output stays in the camera frame", reason)  # the report and UI say it
        tracks = [t.replace(contacts=None) for t in tracks]  # no floor, no contacts
        return clip.replace(tracks=tracks, camera_to_world=np.eye(4), metadata={**clip.metadata, "ground": info})
    first = min(range(len(tracks)), key=lambda i: tracks[i].frames[0])
    world = world_from_floor(floor, posed[first].joints[0, 0])
    info.update(_floor_info(floor, world))
    raw_tracks = {t.track_id: t for t in raw.tracks} if raw is not None else {}
    out = []
    for track, smooth_track, p in zip(tracks, clip.tracks, posed):
        final, contacts, details = _ground_track(fm, track, p, world, floor, opts, clip.fps)
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
                  opts: GroundOptions, fps: float) -> tuple[MotionTrack, np.ndarray, dict]:
    """Contacts, placement, locking and root motion of one track (camera frame in and out)."""
    rot, up = world[:3, :3], floor.normal
    soles_w = _to_world(world, p.soles)
    heights = soles_w[..., 2].min(2)
    cand = _candidates(p.soles, p.up, track.times)
    level = float(np.median(heights[cand])) if cand.any() else 0.0
    speeds = _speeds(soles_w.mean(2)[..., :2], track.times)
    contacts = detect_contacts(heights - level, speeds, track.frames, opts)
    transl = track.transl.astype(np.float64)
    residual = None
    if opts.mode != "never" and contacts.any():
        # placement: the smallest root move that puts the planted feet on the floor, smoothed over time
        planted = contacts.any(1)
        err = np.where(contacts, heights, 0).sum(1) / np.maximum(contacts.sum(1), 1)
        root = p.joints[:, 0]
        shift = _min_norm_shift(err, root, up)
        shift = _interpolate(shift, planted, sample_times(track, fps), opts.depth_sigma)
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
