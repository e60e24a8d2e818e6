"""core.report: accel by hand on tiny examples, coverage and stage speed, and a real SMPL-X forward in batches."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.motion import MotionClip, MotionTrack
from core.report import accel_mm, build_report, joint_groups, track_joints, write_report
from core.smooth import smooth_clip


def make_track(track_id: int, frames, transl=None, seed: int = 0, noise: float = 0.0) -> MotionTrack:
    frames = np.asarray(frames)
    n = len(frames)
    rng = np.random.default_rng(seed)
    return MotionTrack(
        track_id=track_id, frames=frames, times=frames / 10.0,
        global_orient=np.tile([np.pi, 0, 0], (n, 1)) + rng.normal(0, noise, (n, 3)),
        body_pose=rng.normal(0, noise, (n, 21, 3)),
        left_hand_pose=rng.normal(0, noise, (n, 15, 3)),
        right_hand_pose=rng.normal(0, noise, (n, 15, 3)),
        jaw_pose=rng.normal(0, noise, (n, 3)),
        betas=np.zeros((n, 10)), expression=np.zeros((n, 10)),
        transl=np.zeros((n, 3)) + [0, 0, 3] if transl is None else transl,
        boxes=np.tile([10.0, 10.0, 60.0, 90.0], (n, 1)), scores=np.full(n, 0.9),
    )


def make_clip(tracks, num_frames: int = 10) -> MotionClip:
    return MotionClip(fps=10.0, num_frames=num_frames, image_size=(100, 100), focal=[100.0, 100.0],
                      princpt=[50.0, 50.0], tracks=tracks)


OFFSETS = np.random.default_rng(3).normal(0, 0.2, (144, 3))


def fake_body(**params) -> np.ndarray:
    """A stand-in body model: body joints follow transl, hand joints add the first hand-pose vector to their wrist,
    face joints add jaw_pose to the head, so every group's accel can be computed by hand."""
    joints = np.broadcast_to(OFFSETS, (len(params["transl"]), 144, 3)).copy()
    joints[:, :22] += params["transl"][:, None]
    groups = joint_groups(144)
    left_idx = [j for j in groups["hands"][0] if j in range(25, 40) or j in range(66, 71)]
    right_idx = [j for j in groups["hands"][0] if j in range(40, 55) or j in range(71, 76)]
    joints[:, left_idx] += joints[:, 20:21] + params["left_hand_pose"][:, None, :3]
    joints[:, right_idx] += joints[:, 21:22] + params["right_hand_pose"][:, None, :3]
    joints[:, groups["face"][0]] += joints[:, 15:16] + params["jaw_pose"][:, None]
    return joints


def test_accel_by_hand_on_a_tiny_example():
    x = np.array([0.0, 0.001, 0.004, 0.006])  # metres
    joints = np.zeros((4, 2, 3))
    joints[:, 0, 0] = x  # joint 0 moves along x
    joints[:, 1, 1] = 2 * x  # joint 1 along y, twice as much
    # a[1] = 0 - 0.002 + 0.004 = 0.002, a[2] = 0.001 - 0.008 + 0.006 = -0.001 (joint 1: twice)
    expected = np.mean([2.0, 1.0, 4.0, 2.0])  # mm/frame²
    assert accel_mm(joints, np.arange(4)) == pytest.approx(expected)
    # a hole after frame 2 leaves only the first triple
    assert accel_mm(joints, np.array([0, 1, 2, 4])) == pytest.approx(np.mean([2.0, 4.0]))
    assert accel_mm(joints, np.array([0, 2, 4, 6])) is None
    assert accel_mm(joints[:2], np.arange(2)) is None


def test_report_groups_coverage_and_stage_speed_by_hand(tmp_path):
    transl = np.zeros((4, 3)) + [0, 0, 3]
    transl[:, 0] += [0.0, 0.001, 0.004, 0.006]
    track = make_track(1, [0, 1, 2, 3], transl=transl)
    hand = np.zeros((4, 15, 3))
    hand[:, 0, 2] = [0.0, 0.0, 0.003, 0.0]  # accel 3, -6 mm
    jaw = np.zeros((4, 3))
    jaw[:, 1] = [0.0, 0.002, 0.0, 0.0]  # accel -4, 2 mm
    track = track.replace(left_hand_pose=hand, right_hand_pose=-hand, jaw_pose=jaw)
    other = make_track(2, [3, 4, 5, 6])
    clip = make_clip([track, other], num_frames=10)
    report = build_report(clip, None, fake_body, {"detect": 2.0, "model": 5.0}, stage_frames={"model": 8})
    first = report["tracks"][0]["accel_mm_per_frame2"]["raw"]
    assert first["body"] == pytest.approx(1.5)  # transl: |2| and |-1| mm for every body joint
    assert first["hands"] == pytest.approx(4.5)  # wrist-relative: 3 and 6 mm, both hands
    assert first["face"] == pytest.approx(3.0)  # head-relative: 4 and 2 mm
    assert report["tracks"][1]["accel_mm_per_frame2"]["raw"] == {"body": 0.0, "hands": 0.0, "face": 0.0}
    assert report["frames_without_person"] == pytest.approx(0.3)  # frames 7, 8, 9 of 10
    assert report["stages"]["detect"] == {"seconds": 2.0, "frames": 10, "fps": 5.0}
    assert report["stages"]["model"]["fps"] == pytest.approx(8 / 5.0)
    assert report["total_seconds"] == pytest.approx(7.0)
    assert report["tracks"][0]["coverage"] == pytest.approx(0.4)
    path = write_report(report, tmp_path / "r" / "report.json")
    assert json.loads(path.read_text()) == report
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]


def test_joint_groups_cover_smplx_layout():
    groups = joint_groups(144)
    body, hands, face = groups["body"][0], groups["hands"][0], groups["face"][0]
    assert list(body) == list(range(22))
    assert len(hands) == 30 + 10 and set(groups["hands"][1]) == {20, 21}
    assert len(face) == 3 + 5 + 68
    assert not (set(body) & set(hands)) and not (set(hands) & set(face))
    assert len(joint_groups(55)["face"][0]) == 3 and len(joint_groups(55)["hands"][0]) == 30


@pytest.fixture(scope="module")
def body_model(parity_model_dir):
    try:
        from core.body import load_body_model
    except ImportError:  # the body package not there yet: the same smplx settings by hand
        import smplx

        return smplx.create(str(parity_model_dir), "smplx", gender="neutral", use_pca=False, use_face_contour=True,
                            flat_hand_mean=False, num_betas=10, num_expression_coeffs=10)
    return load_body_model(parity_model_dir)


def test_report_with_smplx_forward_in_batches(body_model, tmp_path):
    import torch

    frames = np.arange(40)
    clip = make_clip([make_track(0, frames, seed=1, noise=0.05)], num_frames=40)
    smoothed = smooth_clip(clip, root=0.3, body=0.3, hands=0.4, face=0.3, transl=0.5)  # seconds: 3–5 frames at 10 fps
    joints = track_joints(body_model, clip, clip.tracks[0], batch_size=16)
    assert joints.shape == (40, 144, 3)
    # against one direct smplx call (no batching)
    p = {k: torch.as_tensor(v) for k, v in clip.tracks[0].smplx_params().items()}
    with torch.no_grad():
        direct = body_model(**p).joints.numpy()
    np.testing.assert_allclose(joints, direct, atol=1e-5)
    report = build_report(clip, smoothed, body_model, {"model": 1.5}, batch_size=16)
    acc = report["tracks"][0]["accel_mm_per_frame2"]
    for group in ("body", "hands", "face"):
        assert acc["raw"][group] > 0
        assert acc["smoothed"][group] < 0.5 * acc["raw"][group], group
        assert acc["reduction"][group] == pytest.approx(1 - acc["smoothed"][group] / acc["raw"][group])
    assert report["smoothing"]["body"] == smoothed.metadata["smoothing"]["body"]
    write_report(report, tmp_path / "report.json")


def test_hands_including_mean_are_not_counted_twice(body_model):
    clip = make_clip([make_track(0, np.arange(5), seed=2, noise=0.1)], num_frames=5)
    mean_l = body_model.left_hand_mean.detach().numpy()
    mean_r = body_model.right_hand_mean.detach().numpy()
    absolute = clip.with_hand_mean(mean_l, mean_r)
    np.testing.assert_allclose(track_joints(body_model, absolute, absolute.tracks[0]),
                               track_joints(body_model, clip, clip.tracks[0]), atol=1e-5)


def test_callable_with_wrong_output_is_rejected():
    clip = make_clip([make_track(0, np.arange(4))])
    with pytest.raises(ValueError, match="expected joints"):
        track_joints(lambda **p: np.zeros((4, 3)), clip, clip.tracks[0])
