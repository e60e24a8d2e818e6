"""OSX-style loaders (MSCOCO, MPII, UBody, Human3.6M, 3DPW, AGORA, EHF) on synthetic data in their layouts."""

from __future__ import annotations

import numpy as np
import pytest

from training import synthetic
from training.datasets.base import SampleDataset
from training.datasets.osx import LOADERS, read_ply_vertices
from training.joints import FEET_137, PARTS, ROT_ANKLES_WRISTS, SMPLX_TO_137
from training.targets import part_relative


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("osx")


def _sample(name, root, md, i=0, split="train"):
    src = LOADERS[name](root, split, md)
    return src, SampleDataset(src, md, train=split == "train").sample(i, None)


def test_missing_layout_is_named(tmp_path, mannequin_dir):
    with pytest.raises(FileNotFoundError, match="coco_wholebody_train_v1.0.json"):
        LOADERS["MSCOCO"](tmp_path, "train", mannequin_dir)
    with pytest.raises(FileNotFoundError, match="3DPW_train.json"):
        LOADERS["PW3D"](tmp_path, "train", mannequin_dir)


def test_mscoco(root, mannequin_dir):
    b = synthetic.write_mscoco(root, mannequin_dir, n=2, seed=11)
    src, s = _sample("MSCOCO", root, mannequin_dir, 1)
    assert len(src) == 2 and s["is_3D"] == 0.0
    j = b.joints[1][SMPLX_TO_137]
    np.testing.assert_allclose(s["smplx_joint_cam"], part_relative(j), atol=1e-5)  # NeuralAnnot fit forward
    assert s["joint_trunc"][PARTS["lhand"]].sum() > 10  # 2D hand keypoints supervise (fixed masking bug)
    ok = s["joint_valid"][:, 0] > 0
    assert ok[PARTS["body"]].sum() == 23  # COCO has no pelvis and neck
    np.testing.assert_allclose(s["joint_img"][ok, :2], s["smplx_joint_img"][ok, :2], atol=1e-3)
    assert s["lhand_bbox_valid"] == 1.0 and s["face_bbox_valid"] == 1.0


def test_mpii(root, mannequin_dir):
    synthetic.write_mpii(root, mannequin_dir, n=2, seed=12)
    _, s = _sample("MPII", root, mannequin_dir)
    pv = s["smplx_pose_valid"].reshape(53, 3)[:, 0]
    assert not pv[ROT_ANKLES_WRISTS].any() and pv[1:7].all()
    assert not s["joint_valid"][FEET_137].any() and not s["smplx_joint_valid"][FEET_137].any()
    assert s["joint_valid"][:14].sum() == 14 - 0 and s["joint_valid"][25:].sum() == 0


def test_ubody_splits_and_targets(root, mannequin_dir):
    bodies = synthetic.write_ubody(root, mannequin_dir, n=4, seed=13)
    train = LOADERS["UBody"](root, "train", mannequin_dir, interval=1)
    test = LOADERS["UBody"](root, "test", mannequin_dir, interval=1)
    assert all("video0" in r["img_path"] for r in train.records)
    assert all("video1" in r["img_path"] and "gt" in r for r in test.records)
    s = SampleDataset(train, mannequin_dir).sample(0, None)
    j = bodies["Magic_show"].joints[0][SMPLX_TO_137]
    np.testing.assert_allclose(s["joint_cam"], j - j[0], atol=1e-5)
    assert s["is_3D"] == 1.0


def test_h36m_world_params_and_camera(root, mannequin_dir):
    b = synthetic.write_h36m(root, mannequin_dir, n=2, seed=14)
    _, s = _sample("Human36M", root, mannequin_dir, 1)
    j = b.joints[1][SMPLX_TO_137]
    ok = s["joint_valid"][:, 0] > 0
    np.testing.assert_allclose(s["joint_cam"][ok], (j - j[0])[ok], atol=1e-5)
    np.testing.assert_allclose(s["smplx_pose"][:3], b.params["global_orient"][1], atol=1e-5)
    crop_x = s["joint_img"][:14, 0]
    assert np.all((crop_x > 0) & (crop_x < 12))


def test_pw3d_train(root, mannequin_dir):
    b = synthetic.write_pw3d(root, mannequin_dir, n=2, seed=15)
    _, s = _sample("PW3D", root, mannequin_dir)
    np.testing.assert_allclose(s["smplx_pose"][3:66], b.params["body_pose"][0].reshape(-1), atol=1e-6)
    assert s["smplx_shape_valid"] == 0.0 and not s["smplx_joint_valid"][PARTS["lhand"]].any()
    assert s["joint_trunc"][:14].sum() >= 10 and s["lhand_bbox_valid"] == 0.0


def test_agora_crops(root, mannequin_dir):
    b = synthetic.write_agora(root, mannequin_dir, n=2, seed=16)
    src, s = _sample("AGORA", root, mannequin_dir, 1)
    j = b.joints[1][SMPLX_TO_137]
    ok = s["joint_valid"][:, 0] > 0
    assert ok.sum() == 137 - 17  # every AGORA joint but the contour
    np.testing.assert_allclose(s["joint_cam"][ok], (j - j[0])[ok], atol=1e-5)
    assert s["joint_trunc"][:25].sum() >= 20
    assert src.record(0)["img_shape"] == (512, 384)
    val = synthetic.write_agora(root, mannequin_dir, n=1, seed=17, split="val")
    rec = LOADERS["AGORA"](root, "val", mannequin_dir).record(0)
    import json

    np.testing.assert_allclose(np.array(json.load(open(rec["gt"]["path"]))), val.vertices[0], atol=1e-6)


def test_ehf(root, mannequin_dir):
    from scipy.spatial.transform import Rotation

    b = synthetic.write_ehf(root, mannequin_dir, n=2, seed=18)
    src, s = _sample("EHF", root, mannequin_dir, 1, split="test")
    assert s["img"].shape == (3, 512, 384) and s["bb2img"].shape == (2, 3)
    gt = src.record(1)["gt"]
    v = Rotation.from_rotvec(gt["rotvec"]).apply(read_ply_vertices(gt["path"]))
    np.testing.assert_allclose(v, b.vertices[1], atol=2e-6)
