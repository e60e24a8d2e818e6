"""HumanData loader, synthetic generator, augmentation/flip and per-sample targets (training/datasets, targets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from training.augment import Aug, apply_affine, flip_pose, process_bbox
from training.datasets import DATA, HumanData, SampleDataset
from training.joints import FLIP_PERM, NUM_JOINTS, PARTS, SMPLX_TO_137
from training.targets import part_relative


@pytest.fixture(scope="module")
def synth(tmp_path_factory, mannequin_dir) -> Path:
    from training.synthetic import write_humandata

    root = tmp_path_factory.mktemp("synth")
    write_humandata(root, "UP3D", mannequin_dir, n=4, seed=1)  # SMPL-X + 3D, uncompressed, meta sizes
    write_humandata(root, "LSPET", mannequin_dir, n=3, seed=2, kind="smpl", with_3d=False, compressed=True)
    write_humandata(root, "BEDLAM", mannequin_dir, n=3, seed=3, compressed=True, betas_neutral=True)
    write_humandata(root, "SSP3D", mannequin_dir, n=2, seed=4)  # fixed 512×512, no meta
    return root


def _bodies(mannequin_dir, n, seed, shape=(480, 640)):
    """Regenerate the people the writer made (same generator stream) as the independent reference."""
    from training.synthetic import make_bodies

    return make_bodies(mannequin_dir, n, np.random.default_rng(seed), shape)


def _ds(synth, mannequin_dir, name, train=True):
    return SampleDataset(HumanData(DATA[name], synth, "train", mannequin_dir, interval=1), mannequin_dir, train=train)


def test_missing_files_named(tmp_path, mannequin_dir):
    with pytest.raises(FileNotFoundError, match="bedlam_train.npz"):
        HumanData(DATA["BEDLAM"], tmp_path, "train", mannequin_dir)


def test_sample_shapes_and_keypoint_round_trip(synth, mannequin_dir):
    ds = _ds(synth, mannequin_dir, "UP3D")
    assert len(ds) == 4
    s = ds.sample(0, None)  # no augmentation
    assert s["img"].shape == (3, 512, 384) and s["img"].dtype == np.float32
    assert 0.0 <= s["img"].min() and s["img"].max() <= 1.0
    for k in ("joint_img", "smplx_joint_img", "joint_cam", "smplx_joint_cam"):
        assert s[k].shape == (NUM_JOINTS, 3)
    for k in ("joint_valid", "joint_trunc", "smplx_joint_valid", "smplx_joint_trunc"):
        assert s[k].shape == (NUM_JOINTS, 1)
    assert s["smplx_pose"].shape == (159,) and s["smplx_pose_valid"].shape == (159,)
    assert s["is_3D"] == 1.0
    # grid → crop pixels → original pixels reproduces the projected joints of an independent SMPL-X run
    b = _bodies(mannequin_dir, 4, 1)
    kp = b.kp2d[0][SMPLX_TO_137]
    rec = ds.source.record(0)
    test = SampleDataset(ds.source, mannequin_dir, train=False).sample(0)
    crop_px = s["joint_img"][:, :2] * np.array([384 / 12, 512 / 16])
    back = apply_affine(crop_px, test["bb2img"])
    ok = s["joint_trunc"][:, 0] > 0
    assert ok.sum() > 100
    np.testing.assert_allclose(back[ok], kp[ok], atol=0.05)
    # 3D targets: root-relative and part-relative camera joints of the same people
    j = b.joints[0][SMPLX_TO_137]
    np.testing.assert_allclose(s["joint_cam"], j - j[0], atol=1e-5)
    np.testing.assert_allclose(s["smplx_joint_cam"], part_relative(j), atol=1e-5)
    np.testing.assert_allclose(s["smplx_shape"], b.params["betas"][0], atol=1e-6)
    assert rec["img_shape"] == (480, 640)


def test_smpl_2d_only_file(synth, mannequin_dir):
    """SMPL params (no hands/face/shape), compressed 2D keypoints, no 3D: 2D still supervises (fixed bug)."""
    s = _ds(synth, mannequin_dir, "LSPET").sample(1, None)
    assert s["is_3D"] == 0.0 and s["smplx_shape_valid"] == 0.0 and s["smplx_expr_valid"] == 0.0
    pv = s["smplx_pose_valid"].reshape(53, 3)[:, 0]
    assert pv[:22].all() and not pv[22:].any()
    assert s["joint_trunc"].sum() > 50  # the reference masked every 2D joint here
    assert not s["smplx_joint_valid"][PARTS["lhand"]].any()


def test_flat_hand_mean_and_betas_neutral(synth, mannequin_dir):
    from core.body import read_model_arrays

    s = _ds(synth, mannequin_dir, "BEDLAM").sample(0, None)
    b = _bodies(mannequin_dir, 3, 3)
    pose = s["smplx_pose"].reshape(53, 3)
    np.testing.assert_allclose(pose[22:37], b.params["left_hand_pose"][0], atol=1e-5)
    np.testing.assert_allclose(pose[37:52], b.params["right_hand_pose"][0], atol=1e-5)
    np.testing.assert_allclose(s["smplx_shape"], b.params["betas"][0], atol=1e-6)
    assert read_model_arrays(mannequin_dir)["hands_meanl"].any()


def test_fixed_image_shape_without_meta(synth, mannequin_dir):
    rec = _ds(synth, mannequin_dir, "SSP3D").source.record(0)
    assert rec["img_shape"] == (512, 512)


def test_flip_gives_the_mirrored_mesh(mannequin_dir):
    """smplx forward of flipped parameters == mirror of the original mesh (mannequin is left/right symmetric)."""
    from scipy.spatial import cKDTree

    from core.body import load_body_model, read_model_arrays

    v = read_model_arrays(mannequin_dir)["v_template"]
    _, mirror = cKDTree(v).query(v * [-1, 1, 1])
    bm = load_body_model(mannequin_dir)
    rng = np.random.default_rng(0)
    pose = rng.normal(0, 0.3, (53, 3)).astype(np.float32)
    betas = torch.tensor(rng.normal(0, 1, (1, 10)), dtype=torch.float32)

    def run(p):
        t = lambda x: torch.tensor(np.asarray(x, np.float32).reshape(1, -1))  # noqa: E731
        with torch.no_grad():
            o = bm(global_orient=t(p[0]), body_pose=t(p[1:22]), left_hand_pose=t(p[22:37]),
                   right_hand_pose=t(p[37:52]), jaw_pose=t(p[52]), betas=betas)
        return o.vertices[0].numpy(), o.joints[0].numpy()[SMPLX_TO_137]

    v0, j0 = run(pose)
    v1, j1 = run(flip_pose(pose))
    np.testing.assert_allclose(v1, (v0 * [-1, 1, 1])[mirror], atol=1e-5)
    mirrored = (j0 * [-1, 1, 1])[FLIP_PERM]  # 137 joints incl. face landmark pairs
    np.testing.assert_allclose(j1[:65], mirrored[:65], atol=1e-5)
    np.testing.assert_allclose(j1[65:120], mirrored[65:120], atol=5e-4)  # the mannequin's face is symmetric to 0.2 mm
    np.testing.assert_allclose(j1[120:], mirrored[120:], atol=3e-3)  # contour: neck-yaw bins are discrete
    np.testing.assert_allclose(flip_pose(flip_pose(pose)), pose)


def test_flipped_sample_mirrors_targets(synth, mannequin_dir):
    ds = _ds(synth, mannequin_dir, "UP3D")
    rec = ds.source.record(2)
    from training.augment import crop_image
    from training.datasets.base import body_model, load_image
    from training.targets import build_targets

    img = load_image(rec["img_path"])
    bm = body_model(mannequin_dir)
    out = {}
    for flip in (False, True):
        aug = Aug(flip=flip)
        _, img2bb, _ = crop_image(img, rec["bbox"], aug)
        out[flip] = build_targets(rec, aug, img2bb, bm)
    a, b = out[False], out[True]
    np.testing.assert_allclose(b["joint_img"][FLIP_PERM][:, 0], 12 - a["joint_img"][:, 0], atol=1e-3)
    np.testing.assert_allclose(b["joint_img"][FLIP_PERM][:, 1:], a["joint_img"][:, 1:], atol=1e-3)
    np.testing.assert_allclose(b["joint_cam"][FLIP_PERM], a["joint_cam"] * [-1, 1, 1], atol=1e-5)
    np.testing.assert_allclose(b["smplx_pose"].reshape(53, 3), flip_pose(a["smplx_pose"].reshape(53, 3)), atol=1e-5)
    np.testing.assert_allclose(b["lhand_bbox_center"][0], 12 - a["rhand_bbox_center"][0], atol=1e-3)
    np.testing.assert_allclose(b["lhand_bbox_size"], a["rhand_bbox_size"], atol=1e-3)


def test_rotation_augmentation_rotates_root_and_joints(synth, mannequin_dir):
    from scipy.spatial.transform import Rotation

    ds = _ds(synth, mannequin_dir, "UP3D")
    rec = ds.source.record(1)
    from training.augment import crop_image
    from training.datasets.base import body_model, load_image
    from training.targets import build_targets

    img = load_image(rec["img_path"])
    res = {}
    for rot in (0.0, 30.0):
        aug = Aug(rot=rot)
        _, img2bb, _ = crop_image(img, rec["bbox"], aug)
        res[rot] = build_targets(rec, aug, img2bb, body_model(mannequin_dir))
    rz = Rotation.from_euler("z", -30, degrees=True)
    np.testing.assert_allclose(res[30.0]["joint_cam"], rz.apply(res[0.0]["joint_cam"]), atol=1e-5)
    r0 = Rotation.from_rotvec(res[0.0]["smplx_pose"][:3])
    r1 = Rotation.from_rotvec(res[30.0]["smplx_pose"][:3])
    assert (r1 * (rz * r0).inv()).magnitude() < 1e-5


def test_process_bbox_matches_reference_case():
    """model_spec.md §2 [run]: det xyxy (500.3, 80.7, 780.9, 690.2) in 1280×720
    → (354.86563, 4.6375, 570.46875, 760.625)."""
    box = process_bbox(np.array([500.3, 80.7, 780.9 - 500.3, 690.2 - 80.7]), 1280, 720, 1.25)
    np.testing.assert_allclose(box, [354.86563, 4.6375, 570.46875, 760.625], rtol=1e-6)


def test_random_augmentation_ranges():
    from training.augment import sample_aug

    rng = np.random.default_rng(0)
    augs = [sample_aug(rng) for _ in range(2000)]
    s = np.array([a.scale for a in augs])
    r = np.array([a.rot for a in augs])
    c = np.stack([a.color for a in augs])
    assert 0.75 <= s.min() and s.max() <= 1.25
    assert np.abs(r).max() <= 60 and 0.3 < (r == 0).mean() < 0.5
    assert 0.8 <= c.min() and c.max() <= 1.2
    assert 0.45 < np.mean([a.flip for a in augs]) < 0.55


def test_part_boxes_from_keypoints_when_missing(tmp_path, synth, mannequin_dir):
    from training.synthetic import write_humandata

    write_humandata(tmp_path, "UP3D", mannequin_dir, n=4, seed=1, part_boxes=False)  # same people as `synth`
    a = _ds(synth, mannequin_dir, "UP3D").sample(0, None)
    b = _ds(tmp_path, mannequin_dir, "UP3D").sample(0, None)
    for part in ("lhand", "rhand", "face"):
        assert b[f"{part}_bbox_valid"] == 1.0
    for part in ("lhand", "rhand"):
        np.testing.assert_allclose(b[f"{part}_bbox_center"], a[f"{part}_bbox_center"], atol=1e-3)
        np.testing.assert_allclose(b[f"{part}_bbox_size"], a[f"{part}_bbox_size"], atol=1e-3)
    np.testing.assert_allclose(b["face_bbox_center"], a["face_bbox_center"], atol=0.3)


@pytest.mark.parametrize("which", ["mannequin", "parity"])
def test_joints_only_layer_matches_smplx(which, mannequin_dir, parity_model_dir):
    from core.body import load_body_model
    from training.body_joints import joints_only

    full = load_body_model(mannequin_dir if which == "mannequin" else parity_model_dir, batch_size=3)
    fast = joints_only(full)
    assert fast.v_template.shape[0] < 1500
    g = torch.Generator().manual_seed(0)
    kw = {k: s * torch.randn(3, n, generator=g) for k, n, s in [
        ("global_orient", 3, 1.0), ("body_pose", 63, 0.4), ("left_hand_pose", 45, 0.3), ("right_hand_pose", 45, 0.3),
        ("jaw_pose", 3, 0.2), ("betas", 10, 1.0), ("expression", 10, 1.0), ("transl", 3, 1.0)]}
    with torch.no_grad():
        torch.testing.assert_close(fast(**kw).joints, full(**kw).joints, atol=2e-6, rtol=0)


def test_joint_maps_match_the_network_side():
    """One 144→137 map for targets and predictions (the reference swapped the eyeball slots on the GT side)."""
    from core.body import JOINT_IDX_137
    from training.joints import FLIP_PAIRS, JOINT_NAMES

    assert SMPLX_TO_137.tolist() == list(JOINT_IDX_137)
    assert np.array_equal(FLIP_PERM[FLIP_PERM], np.arange(NUM_JOINTS))
    for a, b in FLIP_PAIRS:
        na, nb = JOINT_NAMES[a], JOINT_NAMES[b]
        assert na.startswith("Face_") or (na[2:] == nb[2:] and {na[:2], nb[:2]} == {"L_", "R_"})
    assert len(FLIP_PAIRS) == 11 + 20 + 1 + 5 + 2 + 6 + 5 + 3 + 8


def test_training_crop_matches_core_crop(synth, mannequin_dir):
    """Same geometry as inference (core.crop); OpenCV sampling differs from core's exact bilinear by < 1/32 px."""
    import core.crop
    from training.augment import crop_image
    from training.datasets.base import load_image

    rec = _ds(synth, mannequin_dir, "UP3D").source.record(0)
    img = load_image(rec["img_path"])
    for aug in (Aug(), Aug(scale=1.1, rot=20.0, flip=True)):
        a, t_a, _ = crop_image(img, rec["bbox"], aug)
        b, t_b, _ = core.crop.crop_image(img, rec["bbox"], (384, 512), aug.scale, aug.rot, aug.flip)
        np.testing.assert_array_equal(t_a, t_b)
        d = np.abs(a - b)
        assert d.mean() < 0.2 and np.percentile(d, 99) < 3.0


def test_unlabelled_2d_joints_do_not_supervise_smplx_2d(synth, mannequin_dir):
    """2D of SMPL-X joints taken from the file's keypoints: a joint without a 2D label keeps its 3D target
    (`smplx_joint_valid`) but gets no 2D target (`smplx_joint_trunc`)."""
    from training.augment import crop_image
    from training.datasets.base import body_model, load_image
    from training.targets import build_targets

    rec = dict(_ds(synth, mannequin_dir, "UP3D").source.record(0))
    rec["kp3d"] = None
    rec["kp2d"] = rec["kp2d"].copy()
    rec["kp2d"][[1, 2, 30], 2] = 0.0
    _, img2bb, _ = crop_image(load_image(rec["img_path"]), rec["bbox"], Aug())
    t = build_targets(rec, Aug(), img2bb, body_model(mannequin_dir))
    assert t["smplx_joint_valid"][[1, 2, 30], 0].all() and not t["smplx_joint_trunc"][[1, 2, 30], 0].any()
    assert not t["joint_valid"][[1, 2, 30], 0].any() and t["is_3D"] == 0.0
    assert t["smplx_joint_trunc"][[3, 4, 5], 0].all()


def test_bad_humandata_files_raise_clear_errors(tmp_path, mannequin_dir):
    pre = tmp_path / "preprocessed_datasets"
    pre.mkdir()
    np.savez(pre / "up3d_trainval.npz", image_path=np.array(["a.jpg"]))
    with pytest.raises(ValueError, match="not a HumanData file"):
        HumanData(DATA["UP3D"], tmp_path, "train", mannequin_dir)
    mask = np.zeros(190, np.uint8)
    mask[:144] = 1
    np.savez(pre / "up3d_trainval.npz", image_path=np.array(["a.jpg"]), bbox_xywh=np.ones((1, 5), np.float32),
             __keypoints_compressed__=np.array(True), smplx=np.array({"global_orient": np.zeros((1, 3))}),
             keypoints2d_smplx=np.zeros((1, 5, 3), np.float32), keypoints2d_smplx_mask=mask)
    with pytest.raises(ValueError, match="has 5 columns but its mask has 144 ones"):
        HumanData(DATA["UP3D"], tmp_path, "train", mannequin_dir)
