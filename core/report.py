"""Per-conversion quality report (JSON): jitter before/after smoothing, coverage, speed per stage.

Jitter is the acceleration magnitude of 3D joints as SmoothNet (Zeng et al., ECCV 2022) defines its Accel metric,
mean over joints and frames of ‖x[t-1] − 2x[t] + x[t+1]‖, in mm/frame². Without ground truth this is a proxy: real
motion accelerates too, but at 25–30 fps frame-to-frame estimation noise dominates it. It is computed from the real
sample times (any --stride, variable frame rate): the second derivative over each triple of neighbouring samples,
in mm/s², divided by fps² — for consecutive frames exactly SmoothNet's second difference. Triples spanning a hole
that splits the track for smoothing (core.smooth.split_gap) are skipped.

Joint groups, from the SMPL-X forward (`output.joints`, smplx order: 55 skeleton joints, 21 extra vertex joints,
then 51 face landmarks and 17 contour landmarks with use_face_contour):
- body: joints 0–21 (pelvis … wrists) in the video camera, so translation jitter counts (what a viewer sees);
- hands: finger joints 25–54 and fingertips 66–75, relative to their wrist (20 / 21);
- face: jaw, eyes, nose, ears (22–24, 55–59) and the landmarks (76…), relative to the head joint (15).
Hands and face are measured relative to their parent because their few-mm jitter would drown in the body's.

Grounding (core/ground/, when it ran): the clip's floor and camera (`ground`: floor_found, moving_camera, camera
height and pitch, floor fit residual) and per track `foot_skate_mm_per_frame`, `penetration_mm`, `floating_mm`, each
{"raw", "smoothed", "final"}, `contact_fraction` per foot and the track's `floor_residual_mm`.

Height (core/height.py): per track `height_m` {"estimated": the network's standing height, "final": the clip's, the
`--person-height` when given}.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write
from .motion import MotionClip, MotionTrack
from .smooth import DEFAULT_MAX_GAP, sample_times, split_gap

__all__ = ["REPORT_VERSION", "accel_mm", "track_joints", "joint_groups", "build_report", "write_report"]

logger = logging.getLogger(__name__)

REPORT_VERSION = 1
_HEAD, _LEFT_WRIST, _RIGHT_WRIST = 15, 20, 21


def accel_mm(joints: np.ndarray, times: np.ndarray, fps: float = 1.0, max_gap: float = 1.0) -> float | None:
    """Mean acceleration magnitude (SmoothNet Accel definition) over triples of neighbouring samples.

    Args:
        joints: (N,J,3) metres.
        times: (N,) strictly increasing sample times: seconds (with the video's `fps`), or frame indices (fps 1).
        fps: frames per second of the video (the unit of the result is mm per frame²).
        max_gap: a step longer than this (units of `times`) is a hole; triples spanning it are skipped.

    Returns:
        mm/frame², or None when the track has no such triple.
    """
    t = np.asarray(times, np.float64)
    if len(t) < 3:
        return None
    dt = np.diff(t)
    ok = (dt[:-1] <= max_gap) & (dt[1:] <= max_gap)
    if not ok.any():
        return None
    vel = np.diff(joints, axis=0) / dt[:, None, None]
    acc = 2.0 * (vel[1:] - vel[:-1]) / (dt[:-1] + dt[1:])[:, None, None]  # second derivative, units of t⁻²
    return float(np.linalg.norm(acc[ok], axis=-1).mean() * 1000.0 / fps**2)


def joint_groups(num_joints: int) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """Joint indices of each group and the parent joint each is measured from (None = camera frame).

    Args:
        num_joints: J of the joints array (55, 76, 127 or 144 for smplx's SMPL-X variants).

    Returns:
        {"body": (idx, None), "hands": (idx, parent per idx), "face": (idx, parent per idx)}.
    """
    left = list(range(25, 40)) + [j for j in range(66, 71) if j < num_joints]
    right = list(range(40, 55)) + [j for j in range(71, 76) if j < num_joints]
    face = [22, 23, 24] + [j for j in range(55, 60) if j < num_joints] + list(range(76, num_joints))
    return {
        "body": (np.arange(22), None),
        "hands": (np.array(left + right), np.array([_LEFT_WRIST] * len(left) + [_RIGHT_WRIST] * len(right))),
        "face": (np.array(face), np.full(len(face), _HEAD)),
    }


def track_joints(body_model: Any, clip: MotionClip, track: MotionTrack, batch_size: int = 256) -> np.ndarray:
    """3D joints of a track from the SMPL-X forward, computed in batches.

    Args:
        body_model: an smplx SMPL-X module (core.body.load_body_model; flat_hand_mean=False), or a callable taking
            the smplx keywords as numpy arrays (global_orient (B,3), body_pose (B,63), left/right_hand_pose (B,45),
            jaw_pose, leye_pose, reye_pose (B,3), betas, expression (B,10), transl (B,3)) and returning (B,J,3).
        clip: the clip (for its hand-mean convention).
        track: the track.
        batch_size: frames per forward call.

    Returns:
        (N,J,3) float64 metres, OpenCV camera.
    """
    params = track.smplx_params()
    if clip.hands_include_mean and hasattr(body_model, "left_hand_mean"):
        # the module adds its own mean; give it poses relative to that mean
        params["left_hand_pose"] = params["left_hand_pose"] - _numpy(body_model.left_hand_mean).reshape(1, 45)
        params["right_hand_pose"] = params["right_hand_pose"] - _numpy(body_model.right_hand_mean).reshape(1, 45)
    chunks = []
    for start in range(0, len(track), batch_size):
        batch = {k: np.ascontiguousarray(v[start : start + batch_size], np.float32) for k, v in params.items()}
        chunks.append(_forward(body_model, batch))
    return np.concatenate(chunks).astype(np.float64)


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def _forward(body_model: Any, batch: Mapping[str, np.ndarray]) -> np.ndarray:
    """One batch through a torch smplx module or a numpy callable → (B,J,3)."""
    if hasattr(body_model, "parameters") and hasattr(body_model, "forward"):  # torch.nn.Module
        import torch

        param = next(iter(body_model.buffers()), None)
        device = param.device if param is not None else "cpu"
        dtype = param.dtype if param is not None and param.dtype.is_floating_point else torch.float32
        with torch.no_grad():
            out = body_model(**{k: torch.from_numpy(v).to(device=device, dtype=dtype) for k, v in batch.items()})
        return out.joints.detach().cpu().numpy()
    joints = np.asarray(body_model(**batch))
    if joints.ndim != 3 or joints.shape[0] != len(batch["transl"]) or joints.shape[2] != 3:
        raise ValueError(f"body_model callable: expected joints (B,J,3) with B={len(batch['transl'])}, got {joints.shape}")
    return joints


def _group_accels(joints: np.ndarray, clip: MotionClip, track: MotionTrack) -> dict[str, float | None]:
    times = sample_times(track, clip.fps)
    gap = split_gap(times, DEFAULT_MAX_GAP)
    out = {}
    for name, (idx, parent) in joint_groups(joints.shape[1]).items():
        part = joints[:, idx] if parent is None else joints[:, idx] - joints[:, parent]
        out[name] = accel_mm(part, times, clip.fps, gap)
    return out


def _reduction(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or before <= 0:
        return None
    return 1.0 - after / before


def build_report(
    raw_clip: MotionClip,
    smoothed_clip: MotionClip | None,
    body_model: Any,
    stage_times: Mapping[str, float],
    *,
    stage_frames: Mapping[str, int] | None = None,
    batch_size: int = 256,
) -> dict:
    """Quality report of one conversion.

    Args:
        raw_clip: the clip before smoothing.
        smoothed_clip: the clip after smoothing (same track ids), or None if smoothing was off.
        body_model: see `track_joints`.
        stage_times: seconds spent per stage, e.g. {"decode": 3.1, "detect": 40.2, "model": 300.0}.
        stage_frames: frames each stage processed (default: the video's num_frames for every stage).
        batch_size: frames per body-model forward.

    Returns:
        A JSON-serialisable dict: video info, per-stage seconds and fps, fraction of frames without any person,
        and per track: frame count, coverage, mean score, and accel (mm/frame²) per joint group raw / smoothed /
        relative reduction.
    """
    num_frames = raw_clip.num_frames
    stage_frames = dict(stage_frames or {})
    stages = {}
    for name, seconds in stage_times.items():
        frames = int(stage_frames.get(name, num_frames))
        seconds = float(seconds)
        stages[name] = {"seconds": seconds, "frames": frames, "fps": frames / seconds if seconds > 0 else None}

    seen = np.zeros(num_frames, bool)
    tracks = []
    ground = (smoothed_clip.metadata.get("ground") if smoothed_clip is not None else None) or {}
    smoothed = {t.track_id: t for t in smoothed_clip.tracks} if smoothed_clip is not None else {}
    for track in raw_clip.tracks:
        seen[track.frames] = True
        raw_acc = _group_accels(track_joints(body_model, raw_clip, track, batch_size), raw_clip, track)
        entry: dict[str, Any] = {
            "track_id": track.track_id,
            "frames": len(track),
            "first_frame": int(track.frames[0]),
            "last_frame": int(track.frames[-1]),
            "coverage": len(track) / num_frames if num_frames else None,
            "mean_score": float(track.scores.mean()),
            "accel_mm_per_frame2": {"raw": raw_acc},
        }
        if track.track_id in smoothed:
            other = smoothed[track.track_id]
            smooth_acc = _group_accels(track_joints(body_model, smoothed_clip, other, batch_size), smoothed_clip, other)
            entry["accel_mm_per_frame2"]["smoothed"] = smooth_acc
            entry["accel_mm_per_frame2"]["reduction"] = {k: _reduction(raw_acc[k], smooth_acc[k]) for k in raw_acc}
        height = raw_clip.metadata.get("height", {}).get("tracks", {}).get(str(track.track_id))
        if height:
            entry["height_m"] = {"estimated": height["estimated_m"], "final": height["final_m"]}
        entry.update(ground.get("tracks", {}).get(str(track.track_id), {}))
        tracks.append(entry)
    logger.debug("report: %d tracks, %d frames", len(tracks), num_frames)
    return {
        "report_version": REPORT_VERSION,
        "source": raw_clip.source,
        "fps": raw_clip.fps,
        "num_frames": num_frames,
        "image_size": list(raw_clip.image_size),
        "num_tracks": len(raw_clip.tracks),
        "frames_without_person": float(1.0 - seen.mean()) if num_frames else None,
        "stages": stages,
        "total_seconds": float(sum(float(s) for s in stage_times.values())),
        "smoothing": (smoothed_clip.metadata.get("smoothing") if smoothed_clip is not None else None),
        "ground": {k: v for k, v in ground.items() if k != "tracks"} or None,
        "tracks": tracks,
    }


def write_report(report: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Writes the report as indented JSON, atomically (temp file, then rename); makes parent folders."""
    text = json.dumps(report, indent=2, allow_nan=False)
    return atomic_write(path, lambda f: f.write(text), mode="w")
