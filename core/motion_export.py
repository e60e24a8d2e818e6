"""Exports of a MotionClip to the layouts other tools read: the original SMPLer-X per-person files
(`smplx/*.npz` + `meta/*.json`, reference/model_spec.md §4) and AMASS-style SMPL-X npz (numpy only, like
core.motion: the Blender add-on bundles it)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .motion import MotionClip, rest_root_joint

__all__ = ["export_per_frame", "export_amass", "CAMERA_TO_Z_UP"]


def export_per_frame(clip: MotionClip, out_dir: str | os.PathLike, model_arrays: Mapping[str, np.ndarray] | None = None) -> list[Path]:
    """Writes the original SMPLer-X per-person files (reference/model_spec.md §4), one pair per track frame.

    `{out_dir}/smplx/{frame:05}_{track_id}.npz` with global_orient (1,3), body_pose (21,3), left/right_hand_pose
    (15,3) relative to hands_mean, jaw_pose (1,3), leye_pose/reye_pose (1,3) float64 zeros, betas (1,10),
    expression (1,10), transl (1,3) (float32, OpenCV camera, metres), and `{out_dir}/meta/{frame:05}_{track_id}.json`
    with focal, princpt (the clip camera), bbox and bbox_mmdet (detector box xywh; the original's bbox is its
    enlarged crop box, which only defined its per-crop camera), bbox_id (= track_id), frame, img_path (source).
    The original's bbox_id is the person index within a frame; here it is the track id, stable over the video.

    Args:
        model_arrays: the SMPL-X model arrays (core.body.read_model_arrays); needed only if the clip's hand poses
            include hands_mean (the original files store them relative to it).

    Returns:
        The npz paths written.
    """
    out_dir = Path(out_dir)
    means = (None, None) if model_arrays is None else (model_arrays["hands_meanl"], model_arrays["hands_meanr"])
    written = []
    for track in clip.tracks:
        left, right = clip.relative_hand_poses(track, *means)
        xywh = np.concatenate([track.boxes[:, :2], track.boxes[:, 2:] - track.boxes[:, :2]], axis=1)
        for i, frame in enumerate(track.frames):
            stem = f"{int(frame):05d}_{track.track_id}"
            params = {
                "global_orient": track.global_orient[i].reshape(1, 3),
                "body_pose": track.body_pose[i],
                "left_hand_pose": left[i],
                "right_hand_pose": right[i],
                "jaw_pose": track.jaw_pose[i].reshape(1, 3),
                "leye_pose": np.zeros((1, 3)),
                "reye_pose": np.zeros((1, 3)),
                "betas": track.betas[i].reshape(1, 10),
                "expression": track.expression[i].reshape(1, 10),
                "transl": track.transl[i].reshape(1, 3),
            }
            meta = {
                "focal": clip.focal.tolist(),
                "princpt": clip.princpt.tolist(),
                "bbox": xywh[i].astype(float).tolist(),
                "bbox_mmdet": xywh[i].astype(float).tolist(),
                "bbox_id": track.track_id,
                "frame": int(frame),
                "img_path": clip.source,
            }
            npz_path = atomic_write(out_dir / "smplx" / f"{stem}.npz", lambda f, p=params: np.savez(f, **p))
            atomic_write(out_dir / "meta" / f"{stem}.json", lambda f, m=meta: f.write(json.dumps(m)), mode="w")
            written.append(npz_path)
    return written


# OpenCV camera (x right, y down, z forward) → AMASS-style world (z up, the camera looking along +y).
CAMERA_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def _axis_angle_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """(N,3) axis-angle → (N,3,3) rotation matrices (Rodrigues, float64; numpy only, Blender has no scipy)."""
    rotvec = np.asarray(rotvec, np.float64)
    angle = np.linalg.norm(rotvec, axis=1)[:, None, None]
    axis = rotvec / np.maximum(angle[:, :, 0], 1e-12)
    k = np.zeros((len(rotvec), 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - k.transpose(0, 2, 1)
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def _matrix_to_axis_angle(matrix: np.ndarray) -> np.ndarray:
    """(N,3,3) rotation matrices → (N,3) axis-angle with angle in [0, π], via unit quaternions (stable near π)."""
    m = np.asarray(matrix, np.float64)
    # Shepperd: pick the largest of 4w², 4x², 4y², 4z² for the square root.
    diag = np.stack([m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2], m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=1)
    cand = np.stack(
        [
            np.stack([1 + diag[:, 0], m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]], 1),
            np.stack([m[:, 2, 1] - m[:, 1, 2], 1 + 2 * diag[:, 1] - diag[:, 0], m[:, 0, 1] + m[:, 1, 0], m[:, 0, 2] + m[:, 2, 0]], 1),
            np.stack([m[:, 0, 2] - m[:, 2, 0], m[:, 0, 1] + m[:, 1, 0], 1 + 2 * diag[:, 2] - diag[:, 0], m[:, 1, 2] + m[:, 2, 1]], 1),
            np.stack([m[:, 1, 0] - m[:, 0, 1], m[:, 0, 2] + m[:, 2, 0], m[:, 1, 2] + m[:, 2, 1], 1 + 2 * diag[:, 3] - diag[:, 0]], 1),
        ],
        axis=1,
    )  # (N, 4 choices, wxyz), each proportional to the quaternion
    choice = np.argmax(np.stack([diag[:, 0], diag[:, 1], diag[:, 2], diag[:, 3]], 1), axis=1)
    quat = cand[np.arange(len(m)), choice]
    quat = quat / np.linalg.norm(quat, axis=1, keepdims=True)
    quat = quat * np.where(quat[:, :1] < 0, -1.0, 1.0)
    sin_half = np.linalg.norm(quat[:, 1:], axis=1, keepdims=True)
    angle = 2 * np.arctan2(sin_half, quat[:, :1])
    return quat[:, 1:] * np.where(sin_half > 1e-12, angle / np.maximum(sin_half, 1e-12), 2.0)


def _rotate_root(global_orient: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """rotation · R(global_orient) as (N,3) float64 axis-angle."""
    return _matrix_to_axis_angle(rotation @ _axis_angle_to_matrix(global_orient))


def export_amass(
    clip: MotionClip,
    path: str | os.PathLike,
    track_index: int = 0,
    *,
    model_arrays: Mapping[str, np.ndarray] | None = None,
    z_up: bool = True,
) -> Path:
    """Writes one track as an AMASS-style SMPL-X npz.

    Keys: poses (N,165) axis-angle = root, body 21, jaw, leye, reye, left hand 15, right hand 15 (hands absolute,
    i.e. including hands_mean: AMASS uses flat_hand_mean=True); trans (N,3) metres; betas (10,) (the per-frame
    median); num_betas; gender; mocap_framerate and mocap_frame_rate (= clip.fps); mocap_time_length;
    surface_model_type 'smplx'; root_orient, pose_body, pose_hand, pose_jaw, pose_eye (the split AMASS uses);
    frames (N,) video frame indices; world 'z_up' or 'opencv_camera'.

    Frame: with `z_up` (AMASS convention) the world is the clip's floor frame when it has one (`camera_to_world`: z
    up, floor z = 0, key `world` 'floor'), else the camera turned to z up, the camera at the origin looking along +y
    (x_w = x_c, y_w = z_c, z_w = -y_c); without `z_up` the OpenCV camera frame. Because SMPL-X rotates about
    the root joint J0, the translation becomes t' = R_w (J0 + t) - J0' (J0' for the written betas), which needs the
    model arrays.

    Args:
        clip: the clip; track `track_index` is written.
        model_arrays: SMPL-X arrays (core.body.read_model_arrays) for J0 and hands_mean; required unless `z_up` is
            False and the clip's hands already include the mean.

    Raises:
        ValueError: track_index out of range, or model_arrays missing when needed.
    """
    if not 0 <= track_index < len(clip.tracks):
        raise ValueError(f"track_index {track_index} out of range: the clip has {len(clip.tracks)} tracks")
    track = clip.tracks[track_index]
    if model_arrays is None and (z_up or not clip.hands_include_mean):
        raise ValueError(
            "export_amass needs model_arrays=core.body.read_model_arrays(model_dir): AMASS stores absolute hand poses"
            " and the Z-up conversion needs the root joint of the shaped body"
        )
    n = len(track)
    if model_arrays is not None:
        left, right = clip.flat_hand_poses(track, model_arrays["hands_meanl"], model_arrays["hands_meanr"])
    else:
        left, right = track.left_hand_pose, track.right_hand_pose
    betas = np.median(track.betas, axis=0).astype(np.float32)
    orient = track.global_orient.astype(np.float64)
    trans = track.transl.astype(np.float64)
    if model_arrays is not None:
        j0_src = rest_root_joint(model_arrays, track.betas, track.expression)
        j0_dst = rest_root_joint(model_arrays, betas[None])
        floor = z_up and clip.has_floor
        rot = clip.camera_to_world[:3, :3] if floor else CAMERA_TO_Z_UP if z_up else np.eye(3)
        shift = clip.camera_to_world[:3, 3] if floor else np.zeros(3)
        trans = (j0_src + trans) @ rot.T + shift - j0_dst
        if z_up:
            orient = _rotate_root(orient, rot)
    eyes = np.zeros((n, 6))
    poses = np.concatenate(
        [orient, track.body_pose.reshape(n, 63), track.jaw_pose, eyes, left.reshape(n, 45), right.reshape(n, 45)], axis=1
    ).astype(np.float64)
    out = {
        "poses": poses,
        "trans": trans,
        "betas": betas.astype(np.float64),
        "num_betas": np.asarray(betas.shape[0]),
        "gender": np.asarray(track.gender),
        "mocap_framerate": np.asarray(clip.fps),
        "mocap_frame_rate": np.asarray(clip.fps),
        "mocap_time_length": np.asarray(n / clip.fps),
        "surface_model_type": np.asarray("smplx"),
        "root_orient": poses[:, :3],
        "pose_body": poses[:, 3:66],
        "pose_jaw": poses[:, 66:69],
        "pose_eye": poses[:, 69:75],
        "pose_hand": poses[:, 75:165],
        "frames": track.frames,
        "world": np.asarray(("floor" if clip.has_floor else "z_up") if z_up else "opencv_camera"),
    }
    return atomic_write(path, lambda f: np.savez(f, **out))
