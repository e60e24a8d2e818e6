"""Time-based smoothing (issue 16 item 11): strengths and gaps in seconds on the real sample times, so the same
motion is smoothed the same at any frame rate and stride; the report's accel and the Blender keys use those times."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from core.motion import MotionClip, MotionTrack
from core.report import accel_mm, build_report
from core.smooth import SMOOTHING_PRESETS, smooth_clip, timeline_frames
from tests.test_smooth import FPS, add_noise, chain_joints, make_clip, make_motion, mpjpe_mm


def _clip(frames: np.ndarray, times: np.ndarray, fps: float, transl: np.ndarray, body=None) -> MotionClip:
    n = len(frames)
    track = MotionTrack(
        track_id=0, frames=frames, times=times, global_orient=np.tile([np.pi, 0, 0], (n, 1)),
        body_pose=np.zeros((n, 21, 3)) if body is None else body, left_hand_pose=np.zeros((n, 15, 3)),
        right_hand_pose=np.zeros((n, 15, 3)), jaw_pose=np.zeros((n, 3)), betas=np.zeros((n, 10)),
        expression=np.zeros((n, 10)), transl=transl, boxes=np.tile([200.0, 100.0, 400.0, 500.0], (n, 1)),
        scores=np.full(n, 0.95))
    return MotionClip(fps=fps, num_frames=int(frames[-1]) + 1, image_size=(640, 640), focal=[800.0, 800.0],
                      princpt=[320.0, 320.0], tracks=[track])


def _change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean rotation angle (rad) between two axis-angle arrays."""
    return float((Rotation.from_rotvec(a.reshape(-1, 3)).inv() * Rotation.from_rotvec(b.reshape(-1, 3))).magnitude().mean())


def test_stride6_is_smoothed_as_much_as_stride1():
    """Every 6th frame of the same noisy 30 fps estimates (a --stride 6 conversion) is still smoothed: the pose
    moves by as much as at stride 1 and the joints get closer to the truth (before: 0.0 rad, nothing smoothed)."""
    gt = make_motion(240, seed=3)
    noisy = add_noise(gt, seed=4)
    full = make_clip(noisy)
    every6 = full.replace(tracks=[full.tracks[0].select(slice(0, None, 6))])
    changes, gains = [], []
    for clip in (full, every6):
        raw = clip.tracks[0]
        out = smooth_clip(clip).tracks[0]
        rows = raw.frames
        truth = chain_joints(gt["global_orient"][rows], gt["body_pose"][rows], gt["transl"][rows])
        err_raw = mpjpe_mm(chain_joints(raw.global_orient, raw.body_pose, raw.transl), truth)
        err_out = mpjpe_mm(chain_joints(out.global_orient, out.body_pose, out.transl), truth)
        changes.append(_change(raw.body_pose, out.body_pose))
        gains.append(1 - err_out / err_raw)
    assert changes[1] > 0.6 * changes[0] > 0, changes
    assert gains[1] > 0.15 and gains[0] > 0.4, gains


def test_same_motion_same_smoothing_at_25_and_60_fps():
    """A 3 Hz oscillation keeps the same fraction of its amplitude at 25 and at 60 fps with a 0.12 s sigma; counted
    in frames, the same setting would smooth the 60 fps video 2.4x less."""
    kept = []
    for fps in (25.0, 60.0):
        frames = np.arange(int(4 * fps))
        t = frames / fps
        transl = np.stack([0.1 * np.sin(2 * np.pi * 3.0 * t), np.zeros_like(t), np.full_like(t, 4.0)], 1)
        out = smooth_clip(_clip(frames, t, fps, transl), transl=0.12).tracks[0].transl[:, 0]
        middle = slice(len(t) // 4, 3 * len(t) // 4)
        kept.append(np.abs(out[middle]).max() / 0.1)
    assert 0.1 < kept[0] < 0.95 and abs(kept[0] - kept[1]) < 0.1, kept


def test_variable_frame_rate_uses_real_timestamps():
    """A steady motion (quadratic in time) recorded at a variable frame rate comes out unchanged: the filter keeps
    quadratics in the real time; on frame indices the uneven spacing would bend it."""
    rng = np.random.default_rng(0)
    steps = rng.choice([1 / 40, 1 / 20], size=119)
    times = np.concatenate([[0.0], np.cumsum(steps)])
    frames = np.arange(len(times))
    transl = np.stack([0.5 * times + 0.3 * times**2, -0.2 * times, 4 + 0.1 * times**2], 1)
    out = smooth_clip(_clip(frames, times, 30.0, transl)).tracks[0]
    np.testing.assert_allclose(out.transl, transl, atol=2e-4)


def test_report_accel_is_defined_at_any_stride():
    """x = a t²/2 sampled at stride 6 of 25 fps: accel = a / fps² per frame², from the real times (was None)."""
    fps, a = 25.0, 2.0  # m/s²
    frames = np.arange(0, 120, 6)
    t = frames / fps
    joints = np.zeros((len(t), 1, 3))
    joints[:, 0, 0] = 0.5 * a * t**2
    assert abs(accel_mm(joints, t, fps, max_gap=0.5) - a / fps**2 * 1000) < 1e-9

    def body(**kw):  # joints = transl (every one of 55 joints), the report's numpy-callable form
        return np.repeat(kw["transl"][:, None, :], 55, axis=1)

    transl = np.stack([0.5 * a * t**2, np.zeros_like(t), np.full_like(t, 4.0)], 1)
    clip = _clip(frames, t, fps, transl)
    report = build_report(clip, smooth_clip(clip), body, {"model": 1.0})
    accel = report["tracks"][0]["accel_mm_per_frame2"]
    assert abs(accel["raw"]["body"] - a / fps**2 * 1000) < 1e-4  # float32 clip arrays
    assert accel["smoothed"]["body"] is not None


def test_keys_follow_real_timestamps():
    """Constant rate: keys land on the frame indices (whatever the first timestamp); variable rate: at t × fps."""
    frames = np.arange(0, 30, 3)
    constant = _clip(frames, 0.5 + frames / 25.0, 25.0, np.zeros((10, 3)) + [0, 0, 4])
    np.testing.assert_allclose(timeline_frames(constant, constant.tracks[0]), frames, atol=1e-9)
    times = np.array([0.0, 0.02, 0.1, 0.12, 0.2, 0.3, 0.31, 0.4, 0.5, 0.6])  # up to 2.5 frames off the indices
    vfr = _clip(np.arange(10), times, 25.0, np.zeros((10, 3)) + [0, 0, 4])
    np.testing.assert_allclose(timeline_frames(vfr, vfr.tracks[0]), times * 25.0, atol=1e-9)
    rounded = _clip(frames, np.round(frames / 25.0 + 0.0004, 3), 25.0, np.zeros((10, 3)) + [0, 0, 4])  # ms PTS
    np.testing.assert_array_equal(timeline_frames(rounded, rounded.tracks[0]), frames)


def test_presets_are_seconds_defined_once():
    from core import pipeline

    assert pipeline.SMOOTHING_PRESETS is SMOOTHING_PRESETS
    # 3 frames at 25 fps: the strength the frame-based defaults had on the footage they were tuned on
    assert SMOOTHING_PRESETS["default"]["body"] == 3 / 25.0
    assert FPS == 30.0
