"""core.smooth on synthetic motions: smooth ground-truth rotation curves + noise, joints from a scipy kinematic chain."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from core.motion import MotionClip, MotionTrack
from core.smooth import frame_weights, local_polynomial, robust_betas, segments, smooth_clip

FPS = 30.0
# SMPL-X body parents for joints 0..21 (pelvis .. wrists): an independent copy of the standard tree.
PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19]


def _bone_offsets() -> np.ndarray:
    """(22,3) metres: fixed rest offsets of each joint from its parent (y up model frame, roughly human)."""
    rng = np.random.default_rng(5)
    offsets = rng.normal(0, 0.03, (22, 3))
    offsets[:, 1] += np.array([0, -.09, -.09, .11, -.38, -.38, .13, -.40, -.40, .05, -.06, -.06, .22, .08, .08,
                               .09, .06, .06, .0, .0, .0, .0])
    offsets[[16, 17, 18, 19, 20, 21], 0] += np.array([.12, -.12, .26, -.26, .25, -.25])
    return offsets


OFFSETS = _bone_offsets()


def chain_joints(global_orient: np.ndarray, body_pose: np.ndarray, transl: np.ndarray) -> np.ndarray:
    """(N,22,3) metres: joint positions from axis-angle root (N,3), body (N,21,3), transl (N,3), via scipy."""
    n = len(global_orient)
    rots = [Rotation.from_rotvec(global_orient)]
    pos = [transl.astype(np.float64)]
    for j in range(1, 22):
        parent = PARENTS[j]
        pos.append(pos[parent] + rots[parent].apply(np.tile(OFFSETS[j], (n, 1))))
        rots.append(rots[parent] * Rotation.from_rotvec(body_pose[:, j - 1]))
    return np.stack(pos, axis=1)


def accel_error_mm(pred: np.ndarray, gt: np.ndarray) -> float:
    """SmoothNet acceleration error: mean over frames and joints of ‖a_pred − a_gt‖, a = x[t-1] − 2x[t] + x[t+1]."""
    def accel(x):
        return x[:-2] - 2 * x[1:-1] + x[2:]

    return float(np.linalg.norm(accel(pred) - accel(gt), axis=-1).mean() * 1000)


def mpjpe_mm(pred: np.ndarray, gt: np.ndarray) -> float:
    return float(np.linalg.norm(pred - gt, axis=-1).mean() * 1000)


def geodesic(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in radians between axis-angle rotations a and b (any shape (..., 3))."""
    ra = Rotation.from_rotvec(a.reshape(-1, 3))
    rb = Rotation.from_rotvec(b.reshape(-1, 3))
    return (ra.inv() * rb).magnitude().reshape(a.shape[:-1])


def _curves(rng, n: int, k: int, amp: float) -> np.ndarray:
    """(n,k,3) smooth axis-angle curves: sums of two sinusoids of 0.2–1.0 Hz per component."""
    t = np.arange(n)[:, None, None] / FPS
    out = np.zeros((n, k, 3))
    for _ in range(2):
        f = rng.uniform(0.2, 1.0, (1, k, 3))
        ph = rng.uniform(0, 2 * np.pi, (1, k, 3))
        a = rng.uniform(0.3, 1.0, (1, k, 3)) * amp / 2
        out += a * np.sin(2 * np.pi * f * t + ph)
    return out


def _perturb(rotvec: np.ndarray, rng, std: float) -> np.ndarray:
    """Composes each rotation with a random small rotation of per-axis std `std` radians."""
    shape = rotvec.shape
    noise = Rotation.from_rotvec(rng.normal(0, std, (rotvec.size // 3, 3)))
    return (Rotation.from_rotvec(rotvec.reshape(-1, 3)) * noise).as_rotvec().reshape(shape)


def make_motion(n: int = 240, seed: int = 0) -> dict[str, np.ndarray]:
    """Ground truth: an upright person (root near 180° about x, as SMPLer-X predicts) moving smoothly."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FPS
    upright = Rotation.from_rotvec([np.pi, 0, 0])
    wobble = Rotation.from_rotvec(_curves(rng, n, 1, 0.4)[:, 0])
    return {
        "global_orient": (upright * wobble).as_rotvec(),
        "body_pose": _curves(rng, n, 21, 0.8),
        "left_hand_pose": _curves(rng, n, 15, 0.6),
        "right_hand_pose": _curves(rng, n, 15, 0.6),
        "jaw_pose": _curves(rng, n, 1, 0.3)[:, 0],
        "expression": _curves(rng, n, 10, 1.0)[:, :, 0],
        "transl": np.stack([0.3 * np.sin(2 * np.pi * 0.3 * t), 0.1 * np.sin(2 * np.pi * 0.5 * t), 4 + 0.5 * t / t[-1]], 1),
        "betas": np.tile(rng.normal(0, 1, 10), (n, 1)),
    }


def add_noise(gt: dict[str, np.ndarray], seed: int = 1) -> dict[str, np.ndarray]:
    """Per-frame estimation noise of roughly SMPLer-X's size: 2–4° per joint, 2 cm sideways, 6 cm in depth."""
    rng = np.random.default_rng(seed)
    noisy = dict(gt)
    noisy["global_orient"] = _perturb(gt["global_orient"], rng, 0.04)
    noisy["body_pose"] = _perturb(gt["body_pose"], rng, 0.04)
    noisy["left_hand_pose"] = _perturb(gt["left_hand_pose"], rng, 0.07)
    noisy["right_hand_pose"] = _perturb(gt["right_hand_pose"], rng, 0.07)
    noisy["jaw_pose"] = _perturb(gt["jaw_pose"], rng, 0.04)
    noisy["expression"] = gt["expression"] + rng.normal(0, 0.2, gt["expression"].shape)
    noisy["transl"] = gt["transl"] + rng.normal(0, 1, gt["transl"].shape) * [0.02, 0.02, 0.06]
    noisy["betas"] = gt["betas"] + rng.normal(0, 0.3, gt["betas"].shape)
    return noisy


def make_clip(params: dict[str, np.ndarray], frames: np.ndarray | None = None, scores: np.ndarray | None = None) -> MotionClip:
    n = len(params["global_orient"])
    frames = np.arange(n) if frames is None else frames
    boxes = np.tile([200.0, 100.0, 400.0, 500.0], (n, 1))
    track = MotionTrack(
        track_id=0, frames=frames, times=frames / FPS, boxes=boxes,
        scores=np.full(n, 0.95) if scores is None else scores, **params,
    )
    return MotionClip(fps=FPS, num_frames=int(frames[-1]) + 1, image_size=(640, 640), focal=[800.0, 800.0],
                      princpt=[320.0, 320.0], tracks=[track])


def _joints(track: MotionTrack) -> np.ndarray:
    return chain_joints(track.global_orient, track.body_pose, track.transl)


def test_noisy_motion_accel_down_80_percent_and_mpjpe_not_worse():
    gt = make_motion()
    noisy_clip = make_clip(add_noise(gt))
    gt_joints = chain_joints(gt["global_orient"], gt["body_pose"], gt["transl"])
    smoothed = smooth_clip(noisy_clip)
    raw_j, smooth_j = _joints(noisy_clip.tracks[0]), _joints(smoothed.tracks[0])
    acc_raw, acc_smooth = accel_error_mm(raw_j, gt_joints), accel_error_mm(smooth_j, gt_joints)
    mp_raw, mp_smooth = mpjpe_mm(raw_j, gt_joints), mpjpe_mm(smooth_j, gt_joints)
    print(f"body+transl: accel {acc_raw:.2f} -> {acc_smooth:.2f} mm/f² ({100 * (1 - acc_smooth / acc_raw):.1f}% lower),"
          f" MPJPE {mp_raw:.1f} -> {mp_smooth:.1f} mm")
    assert acc_smooth < 0.2 * acc_raw
    assert mp_smooth <= mp_raw
    # root-relative articulation alone, too (translation noise must not hide pose noise)
    rel = lambda j: j - j[:, :1]  # noqa: E731
    assert accel_error_mm(rel(smooth_j), rel(gt_joints)) < 0.2 * accel_error_mm(rel(raw_j), rel(gt_joints))
    assert mpjpe_mm(rel(smooth_j), rel(gt_joints)) <= mpjpe_mm(rel(raw_j), rel(gt_joints))
    # every rotation part gets closer to the truth, not only those the chain sees
    for name in ("left_hand_pose", "right_hand_pose", "jaw_pose", "global_orient"):
        err_raw = geodesic(getattr(noisy_clip.tracks[0], name), gt[name]).mean()
        err_smooth = geodesic(getattr(smoothed.tracks[0], name), gt[name]).mean()
        assert err_smooth < 0.7 * err_raw, name
    expr_raw = np.abs(noisy_clip.tracks[0].expression - gt["expression"]).mean()
    assert np.abs(smoothed.tracks[0].expression - gt["expression"]).mean() < 0.7 * expr_raw


def test_input_clip_untouched_and_metadata_records_settings():
    clip = make_clip(add_noise(make_motion(60)))
    before = {k: getattr(clip.tracks[0], k).copy() for k in ("body_pose", "transl", "betas")}
    out = smooth_clip(clip, body=1.5)
    for key, value in before.items():
        np.testing.assert_array_equal(getattr(clip.tracks[0], key), value)
    assert out is not clip and out.tracks[0] is not clip.tracks[0]
    assert out.metadata["smoothing"]["body"] == 1.5
    assert "smoothing" not in clip.metadata


def test_noise_free_motion_almost_unchanged():
    gt = make_motion()
    clip = make_clip(gt)
    out = smooth_clip(clip).tracks[0]
    gt_joints = chain_joints(gt["global_orient"], gt["body_pose"], gt["transl"])
    # a few mm on motions of up to ±0.8 rad at 0.2–1 Hz; the noisy input above is at tens of mm
    assert mpjpe_mm(_joints(out), gt_joints) < 6.0
    assert np.degrees(geodesic(out.body_pose, gt["body_pose"])).max() < 3.0
    np.testing.assert_allclose(out.transl, gt["transl"], atol=2e-3)
    np.testing.assert_allclose(out.betas, gt["betas"], atol=1e-6)


def test_zero_strengths_leave_poses_equal():
    clip = make_clip(add_noise(make_motion(50)))
    out = smooth_clip(clip, root=0, body=0, hands=0, face=0, transl=0, one_shape=False).tracks[0]
    for name in ("global_orient", "body_pose", "left_hand_pose", "jaw_pose", "transl", "expression", "betas"):
        np.testing.assert_array_equal(getattr(out, name), getattr(clip.tracks[0], name))


def test_quaternion_sign_flips_and_angles_near_pi():
    """The same rotations written as r or as r − 2π r/|r| (the other side of π) must smooth identically."""
    gt = make_motion(120, seed=3)
    noisy = add_noise(gt, seed=4)
    root = noisy["global_orient"]
    angle = np.linalg.norm(root, axis=1, keepdims=True)
    assert np.all(angle > 2.6)  # upright: close to π
    flipped = dict(noisy)
    alternate = np.arange(len(root)) % 2 == 1
    flipped["global_orient"] = np.where(alternate[:, None], root - 2 * np.pi * root / angle, root)
    a = smooth_clip(make_clip(noisy)).tracks[0].global_orient
    b = smooth_clip(make_clip(flipped)).tracks[0].global_orient
    assert geodesic(a, b).max() < 1e-5
    # and it is the right answer: close to the truth, unlike a naive average of raw axis-angles
    raw_error = geodesic(noisy["global_orient"], gt["global_orient"]).mean()
    assert geodesic(a, gt["global_orient"]).mean() < 0.5 * raw_error
    naive = local_polynomial(np.arange(len(root), dtype=float), flipped["global_orient"], np.ones(len(root)), 3.0)
    assert np.degrees(geodesic(naive, gt["global_orient"])).mean() > 30


def test_confidence_downweights_an_outlier_frame():
    gt = make_motion(90, seed=6)
    params = add_noise(gt, seed=7)
    bad = 45
    params["body_pose"] = params["body_pose"].copy()
    params["body_pose"][bad] += 0.8  # a wrong estimate ...
    params["transl"] = params["transl"].copy()
    params["transl"][bad] += [0.5, 0.0, 1.5]
    scores = np.full(90, 0.95)
    scores[bad] = 0.05  # ... that the detector was unsure about
    clip = make_clip(params, scores=scores)
    weighted = smooth_clip(clip, confidence=True).tracks[0]
    uniform = smooth_clip(clip, confidence=False).tracks[0]
    window = slice(bad - 3, bad + 4)
    err_w = geodesic(weighted.body_pose[window], gt["body_pose"][window]).mean()
    err_u = geodesic(uniform.body_pose[window], gt["body_pose"][window]).mean()
    assert err_w < 0.5 * err_u
    t_w = np.linalg.norm(weighted.transl[window] - gt["transl"][window], axis=1).mean()
    t_u = np.linalg.norm(uniform.transl[window] - gt["transl"][window], axis=1).mean()
    assert t_w < 0.5 * t_u


def test_bad_boxes_get_low_weights():
    clip = make_clip(make_motion(40))
    track = clip.tracks[0]
    boxes = track.boxes.copy()
    boxes[10] = [200, 100, 200.5, 500]  # degenerate
    boxes[20] = [500, 100, 900, 500]  # mostly outside the 640-wide image (width 400, 140 inside)
    boxes[30] = [100, 0, 500, 800]  # sudden 2× jump in size, partly outside
    w = frame_weights(track.replace(boxes=boxes), clip.image_size)
    assert w[10] <= 0.03 and w[20] < 0.4 and w[30] < 0.1
    assert np.allclose(np.delete(w, [10, 20, 30]), 0.95)


def test_gaps_split_segments_and_are_not_smoothed_across():
    gt = make_motion(80, seed=8)
    frames = np.concatenate([np.arange(40), np.arange(40) + 100])
    params = {k: v.copy() for k, v in gt.items()}
    params["body_pose"][40:] += 0.6  # a very different pose after the person comes back
    params["transl"][40:] += [1.0, 0.0, 0.0]
    out = smooth_clip(make_clip(params, frames=frames)).tracks[0]
    assert segments(frames, 5) == [slice(0, 40), slice(40, 80)]
    assert np.degrees(geodesic(out.body_pose[38:42], params["body_pose"][38:42])).max() < 2.0
    np.testing.assert_allclose(out.transl[38:42], params["transl"][38:42], atol=5e-3)
    # a short hole (3 missing frames) stays one segment and is bridged
    assert len(segments(np.array([0, 1, 2, 6, 7]), 5)) == 1


def test_one_robust_shape_per_track():
    gt = make_motion(60, seed=9)
    params = add_noise(gt, seed=10)
    params["betas"] = params["betas"].copy()
    params["betas"][:5] += 4.0  # a few wild frames
    out = smooth_clip(make_clip(params)).tracks[0]
    assert np.all(out.betas == out.betas[0])
    assert np.abs(out.betas[0] - gt["betas"][0]).max() < 0.25
    assert np.abs(params["betas"].mean(0) - gt["betas"][0]).max() > 0.25  # a plain mean would be pulled off


def test_robust_betas_is_weighted_median():
    betas = np.array([[0.0], [1.0], [2.0], [10.0]])
    assert robust_betas(betas, np.ones(4))[0] in (1.0, 2.0)
    assert robust_betas(betas, np.array([1, 1, 1, 10.0]))[0] == 10.0
    assert robust_betas(betas, np.array([5, 1, 1, 1.0]))[0] == 0.0


def test_local_polynomial_keeps_quadratics_and_is_zero_phase():
    t = np.arange(50, dtype=float)
    quad = np.stack([0.01 * t**2 - 2 * t + 1, -t], axis=1)
    w = np.random.default_rng(0).uniform(0.1, 1.0, 50)  # exact for any weights, including at the ends
    np.testing.assert_allclose(local_polynomial(t, quad, w, 3.0), quad, atol=1e-4)
    holes = np.delete(t, [10, 11, 30])
    np.testing.assert_allclose(local_polynomial(holes, 0.5 * holes[:, None] ** 2, np.ones(47), 2.0),
                               0.5 * holes[:, None] ** 2, rtol=1e-5, atol=1e-4)
    impulse = np.zeros((50, 1))
    impulse[25] = 1
    response = local_polynomial(t, impulse, np.ones(50), 3.0)[:, 0]
    np.testing.assert_allclose(response[25 - 12 : 25], response[26 : 26 + 12][::-1], atol=1e-12)  # symmetric
    assert abs(response.sum() - 1) < 1e-9
    # degree 0 is plain Gaussian smoothing in the interior
    gauss = local_polynomial(t, impulse, np.ones(50), 2.0, degree=0)[:, 0]
    kernel = np.exp(-0.5 * (np.arange(-8, 9) / 2.0) ** 2)
    np.testing.assert_allclose(gauss[17:34], kernel / kernel.sum(), atol=1e-12)
    # one sample: returned unchanged; two samples: no blow-up
    np.testing.assert_allclose(local_polynomial(t[:2], quad[:2], np.ones(2), 3.0), quad[:2], atol=1e-4)


@pytest.mark.parametrize("bad", [{"body": -1.0}, {"hands": float("nan")}, {"max_gap": 0}])
def test_rejects_bad_strengths(bad):
    clip = make_clip(make_motion(10))
    with pytest.raises(ValueError, match=next(iter(bad))):
        smooth_clip(clip, **bad)


def test_smplx_joints_of_all_parts_improve(mannequin_dir):
    """The same check through a real SMPL-X forward (all 144 joints: body, hands, face landmarks)."""
    from core.body import load_body_model
    from core.report import track_joints

    body_model = load_body_model(mannequin_dir)
    gt = make_motion(120, seed=11)
    noisy = make_clip(add_noise(gt, seed=12))
    smoothed = smooth_clip(noisy)
    joints = {name: track_joints(body_model, c, c.tracks[0]) for name, c in
              (("gt", make_clip(gt)), ("raw", noisy), ("smooth", smoothed))}
    acc_raw, acc_smooth = accel_error_mm(joints["raw"], joints["gt"]), accel_error_mm(joints["smooth"], joints["gt"])
    mp_raw, mp_smooth = mpjpe_mm(joints["raw"], joints["gt"]), mpjpe_mm(joints["smooth"], joints["gt"])
    print(f"SMPL-X 144 joints: accel {acc_raw:.1f} -> {acc_smooth:.2f}, MPJPE {mp_raw:.1f} -> {mp_smooth:.1f} mm")
    assert acc_smooth < 0.2 * acc_raw
    assert mp_smooth <= mp_raw
