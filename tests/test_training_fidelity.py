"""Issue 15: the remaining gaps to SMPLer-X's training and evaluation, and the `reference_behaviour` switch.

Each test checks one behaviour against an independent computation (the generator's people, a hand formula, Python's
`random`, a direct smplx forward) on synthetic data.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from training import synthetic
from training.configs.base import CONFIG_DIR, REFERENCE_FLAGS, TrainConfig, load_config
from training.datasets import DATA, HumanData, SampleDataset
from training.fidelity import REFERENCE, DataFlags


# ------------------------------------------------------------------------------------ 1. stochastic depth
@pytest.mark.parametrize("name", sorted(p.name for p in CONFIG_DIR.glob("smpler_x_*.py"))
                         + sorted(p.name for p in CONFIG_DIR.glob("ft_*.py")))
def test_drop_path_rate_per_config(name):
    from training.train import model_config

    cfg = load_config(CONFIG_DIR / name)
    want = {"s32": 0.1, "b32": 0.3, "l32": 0.5, "h32": 0.55}[cfg.variant]  # body_encoder_{small,base,large,huge}
    assert cfg.drop_path_rate == want and model_config(cfg).drop_path_rate == want


def _encoder(rate: float):
    from core.model import ModelConfig
    from core.model.vit import ViTEncoder

    torch.manual_seed(0)
    return ViTEncoder(ModelConfig("custom", 96, 3, 4, drop_path_rate=rate))


def test_drop_path_decay_rule_and_eval_identity():
    enc, plain = _encoder(0.5), _encoder(0.0)
    assert [b.drop_path for b in enc.blocks] == pytest.approx([0.0, 0.25, 0.5])  # linspace(0, rate, depth)
    plain.load_state_dict(enc.state_dict())
    img = torch.rand(4, 3, 256, 192)
    enc.eval(), plain.eval()
    with torch.no_grad():
        for a, b in zip(enc(img), plain(img)):
            assert torch.equal(a, b)  # inactive in inference
        enc.train(), plain.train()
        torch.manual_seed(1)
        diff = [not torch.equal(a, b) for a, b in zip(enc(img), plain(img))]
    assert all(diff)  # active in training


def test_drop_path_keeps_the_expectation():
    from core.model.vit import drop_path

    torch.manual_seed(0)
    x = torch.ones(20000, 2, 3)
    y = drop_path(x, 0.3, training=True)
    kept = (y[:, 0, 0] > 0).float()
    assert abs(float(kept.mean()) - 0.7) < 0.02  # whole samples dropped with probability 0.3
    assert torch.allclose(y[kept > 0], torch.full_like(y[kept > 0], 1 / 0.7))
    assert torch.equal(drop_path(x, 0.3, training=False), x)


# ------------------------------------------------------------------------------------ 4. image folders
@pytest.mark.parametrize("name,folder", [("RenBody_HiRes", "RenBody"), ("FIT3D", ""), ("HumanSC3D", "")])
def test_image_folders(tmp_path, mannequin_dir, name, folder):
    synthetic.write_humandata(tmp_path, name, mannequin_dir, n=2, seed=3)
    src = HumanData(DATA[name], tmp_path, "train", mannequin_dir, interval=1)
    with np.load(tmp_path / "preprocessed_datasets" / DATA[name].train[0], allow_pickle=False) as z:
        paths = z["image_path"]
    assert src.record(1)["img_path"] == str(tmp_path / folder / str(paths[1]))
    assert Path(src.record(1)["img_path"]).is_file()


# ------------------------------------------------------------------------------------ 6. sampling
def test_smpler_x_configs_use_the_fixed_subset():
    from training.sampling import epoch_plan

    for p in CONFIG_DIR.glob("smpler_x_*.py"):
        assert load_config(p).resample_each_epoch is False, p.name
    assert TrainConfig().resample_each_epoch is True  # the project's option stays available
    plan = [epoch_plan([50, 7], "balance", e, seed=2023, total_len=20, resample_each_epoch=False) for e in (0, 3)]
    np.testing.assert_array_equal(plan[0], plan[1])
    order = list(range(50))
    random.seed(2023)
    random.shuffle(order)  # the reference's once-shuffled datalist
    big = plan[0][plan[0][:, 0] == 0, 1]
    assert big.tolist() == order[:10]
    small = plan[0][plan[0][:, 0] == 1, 1]
    counts = np.bincount(small, minlength=7)
    assert len(small) == 10 and counts.min() == 1 and counts.sum() == 10  # a whole cycle of the small set + 3


# ------------------------------------------------------------------------------------ 3. hand / face validity
def test_mscoco_hand_validity_from_annotation(tmp_path, mannequin_dir):
    synthetic.write_mscoco(tmp_path, mannequin_dir, n=2, seed=5)
    ann_dir = tmp_path / "MSCOCO" / "annotations"
    db = json.loads((ann_dir / "coco_wholebody_train_v1.0.json").read_text())
    db["annotations"][0]["lefthand_valid"] = False
    db["annotations"][0]["face_valid"] = False
    (ann_dir / "coco_wholebody_train_v1.0.json").write_text(json.dumps(db))
    fits = json.loads((ann_dir / "MSCOCO_train_SMPLX_all_NeuralAnnot.json").read_text())
    for f in fits.values():  # fits without their own flags: the annotation decides (the reference's rule)
        for k in ("lhand_valid", "rhand_valid", "face_valid"):
            f["smplx_param"].pop(k)
    (ann_dir / "MSCOCO_train_SMPLX_all_NeuralAnnot.json").write_text(json.dumps(fits))
    from training.datasets.osx import MSCOCO
    from training.joints import PARTS, ROT_PARTS

    s = SampleDataset(MSCOCO(tmp_path), mannequin_dir).sample(0, None)
    pv = s["smplx_pose_valid"].reshape(53, 3)[:, 0]
    assert not pv[ROT_PARTS["lhand"]].any() and pv[ROT_PARTS["rhand"]].all() and not pv[ROT_PARTS["jaw"]].any()
    assert not s["smplx_joint_valid"][PARTS["lhand"]].any() and s["smplx_joint_valid"][PARTS["rhand"]].all()
    assert s["smplx_expr_valid"] == 0.0


def test_ubody_gt_mesh_zeroes_invalid_hands(tmp_path, mannequin_dir):
    from core.body import load_body_model
    from training.datasets.osx import UBody
    from training.test import GroundTruth

    bodies = synthetic.write_ubody(tmp_path, mannequin_dir, n=2, seed=7, scenes=("Magic_show",))
    for name in ("keypoint_annotation.json", "smplx_annotation.json"):
        path = tmp_path / "UBody" / "annotations" / "Magic_show" / name
        db = json.loads(path.read_text())
        if name.startswith("keypoint"):
            db["annotations"][1]["lefthand_valid"] = False
        else:
            for f in db.values():
                for k in ("lhand_valid", "rhand_valid", "face_valid"):
                    f["smplx_param"].pop(k)
        path.write_text(json.dumps(db))
    rec = UBody(tmp_path, "test", interval=1).records[0]
    mesh = GroundTruth(mannequin_dir).mesh(rec)
    p = {k: torch.as_tensor(v[1:2].reshape(1, -1)) for k, v in bodies["Magic_show"].params.items()}
    p["left_hand_pose"] = torch.zeros(1, 45)
    with torch.no_grad():
        want = load_body_model(mannequin_dir)(**p, leye_pose=torch.zeros(1, 3), reye_pose=torch.zeros(1, 3))
    np.testing.assert_allclose(mesh, want.vertices[0].numpy(), atol=1e-5)
    assert np.abs(mesh - bodies["Magic_show"].vertices[1]).max() > 1e-3  # the annotated left hand pose is gone


# ------------------------------------------------------------------------------------ 5. 3DPW GT joints
def _smpl_file(path: Path, seed: int) -> None:
    import pickle

    rng = np.random.default_rng(seed)
    v, j = 6890, 24
    parents = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
    w, jr = rng.random((v, j)), rng.random((j, v))
    arrays = {"v_template": rng.normal(0, 0.3, (v, 3)), "shapedirs": rng.normal(0, 0.01, (v, 3, 10)),
              "posedirs": np.zeros((v, 3, 207)), "J_regressor": jr / jr.sum(1, keepdims=True),
              "weights": w / w.sum(1, keepdims=True), "f": rng.integers(0, v, (13776, 3)),
              "kintree_table": np.array([[4294967295] + parents[1:], list(range(j))], np.int64)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(arrays, f, protocol=2)


def test_3dpw_gt_joints_use_the_neutral_regressor(tmp_path):
    import smplx
    from smplx.utils import Struct

    from core.body import load_pickle
    from training.test import GroundTruth

    _smpl_file(tmp_path / "smpl" / "SMPL_NEUTRAL.pkl", 1)
    _smpl_file(tmp_path / "smpl" / "SMPL_MALE.pkl", 2)
    rng = np.random.default_rng(3)
    gt = {"gender": "male", "pose": rng.normal(0, 0.2, 72).astype(np.float32),
          "shape": rng.normal(0, 1, 10).astype(np.float32), "trans": np.array([0.1, 0.2, 4.0], np.float32)}
    male = load_pickle(tmp_path / "smpl" / "SMPL_MALE.pkl")
    neutral = load_pickle(tmp_path / "smpl" / "SMPL_NEUTRAL.pkl")
    layer = smplx.SMPL(str(tmp_path / "smpl"), data_struct=Struct(**male), gender="male")
    with torch.no_grad():
        verts = layer(global_orient=torch.as_tensor(gt["pose"][None, :3]),
                      body_pose=torch.as_tensor(gt["pose"][None, 3:]), betas=torch.as_tensor(gt["shape"][None]),
                      transl=torch.as_tensor(gt["trans"][None])).vertices[0].numpy()
    got = GroundTruth(tmp_path).smpl_joints(gt)
    np.testing.assert_allclose(got, neutral["J_regressor"] @ verts, atol=1e-4)
    assert np.abs(got - male["J_regressor"] @ verts).max() > 1e-3


# ------------------------------------------------------------------------------------ 7. missing pieces
def test_left_and_right_hand_errors(mannequin_dir):
    from training.metrics import L_WRIST, R_WRIST, MeshEvaluator

    ev = MeshEvaluator.from_model_dir(mannequin_dir)
    rng = np.random.default_rng(0)
    gt = rng.normal(0, 0.3, (10475, 3))
    pred = gt + rng.normal(0, 0.01, gt.shape)
    c = pred[ev.lhand].mean(0)
    pred[ev.lhand] = c + 1.3 * (pred[ev.lhand] - c)  # a left-hand-only error
    out = ev.evaluate(pred, gt)
    for side, ids, w in (("lhand", ev.lhand, L_WRIST), ("rhand", ev.rhand, R_WRIST)):
        jp, jg = ev.j_regressor[w] @ pred, ev.j_regressor[w] @ gt
        want = np.linalg.norm(pred[ids] - jp + jg - gt[ids], axis=1).mean() * 1000
        assert out[f"pve_{side}"] == pytest.approx(want, rel=1e-9)
        assert f"pa_pve_{side}" in out and f"pa_mpjpe_{side}" in out and f"mpjpe_{side}" in out
    assert out["pve_hand"] == pytest.approx((out["pve_lhand"] + out["pve_rhand"]) / 2)
    assert out["pve_lhand"] > out["pve_rhand"] + 5


def test_renbody_hires_test_set(tmp_path, mannequin_dir):
    from training.test import build_testset

    synthetic.write_humandata(tmp_path, "RenBody_HiRes", mannequin_dir, n=3, seed=4, split="test")
    src = build_testset("RenBody_HiRes", tmp_path, mannequin_dir, interval=1)
    assert len(src) == 3 and src.record(0)["gt"]["kind"] == "smplx_params"


def test_syncbn_groups_per_node():
    from training.train import node_groups

    assert node_groups(16, 8) == [list(range(8)), list(range(8, 16))]
    assert node_groups(8, 8) == [list(range(8))]
    assert node_groups(6, 4) == [list(range(6))]  # uneven nodes: one global group
    assert TrainConfig().syncbn_per_node is True


def test_agora_test_dump_in_the_server_layout(tmp_path, mannequin_dir):
    from core.body import load_pickle
    from core.model import ModelConfig, SMPLerX
    from training.test import main

    synthetic.write_agora_test(tmp_path, mannequin_dir, n=2, seed=9)
    model = SMPLerX.build(ModelConfig("custom", 96, 2, 4), mannequin_dir)
    ck = model.save_checkpoint(tmp_path / "tiny.pth.tar")
    out = tmp_path / "predictions"
    assert main(["--checkpoint", str(ck), "--dataset", "AGORA-test", "--data-root", str(tmp_path),
                 "--model-dir", str(mannequin_dir)]) == 1  # no --predictions: a clear error
    assert main(["--checkpoint", str(ck), "--dataset", "AGORA-test", "--data-root", str(tmp_path),
                 "--model-dir", str(mannequin_dir), "--predictions", str(out)]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["ag_test_00000_personId_0.pkl", "ag_test_00000_personId_1.pkl"]
    d = load_pickle(out / files[1])  # the server reads plain pickles of numpy arrays
    sizes = {"transl": 3, "global_orient": 3, "body_pose": 63, "left_hand_pose": 45, "right_hand_pose": 45,
             "reye_pose": 3, "leye_pose": 3, "jaw_pose": 3, "expression": 10, "betas": 10}
    assert {k: v.shape for k, v in d["params"].items()} == {k: (1, n) for k, n in sizes.items()}
    assert d["joints"].shape == (1, 144, 2)
    # independent check of the joints: the test sample through the model, virtual camera, crop → png → 4K frame
    from training.test import build_testset

    src = build_testset("AGORA-test", tmp_path, mannequin_dir)
    sample = SampleDataset(src, mannequin_dir, train=False).sample(1)
    crop_dir = tmp_path / "AGORA" / "data" / "3840x2160" / "test_crop"
    trans = np.asarray(json.loads((crop_dir / "ag_test_00000_pid_1.json").read_text())["img2bb_trans"])
    with torch.no_grad():
        o = model.forward_crops(torch.from_numpy(sample["img"])[None], with_mesh=True)
    j = o["smplx_joints144"][0].numpy().astype(np.float64)
    t = o["cam_trans"][0].numpy().astype(np.float64)
    crop_px = np.stack([(j[:, 0] + t[0]) / (j[:, 2] + t[2] + 1e-4) * 5000 + 96,
                        (j[:, 1] + t[1]) / (j[:, 2] + t[2] + 1e-4) * 5000 + 128], 1) * 2  # 384×512 input
    png_px = crop_px @ sample["bb2img"][:, :2].T + sample["bb2img"][:, 2]
    full = np.linalg.solve(trans[:, :2], (png_px - trans[:, 2]).T).T
    np.testing.assert_allclose(d["joints"][0], full, rtol=1e-4, atol=0.05)
    np.testing.assert_allclose(d["params"]["transl"][0], t, atol=1e-5)


# ------------------------------------------------------------------------------------ 8. reference_behaviour
def test_reference_behaviour_flips_every_flag():
    fixed, ref = TrainConfig(), TrainConfig(reference_behaviour=True)
    assert set(REFERENCE_FLAGS) >= {f for f in DataFlags.__dataclass_fields__}
    for name in REFERENCE_FLAGS:
        assert getattr(fixed, name) is True and getattr(ref, name) is False, name
    assert DataFlags.from_config(ref) == REFERENCE and DataFlags.from_config(fixed) == DataFlags()
    cfg = load_config(CONFIG_DIR / "smpler_x_s32.py", reference_behaviour=True)
    assert all(getattr(cfg, n) is False for n in REFERENCE_FLAGS)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg  # survives the checkpoint round trip


@pytest.fixture(scope="module")
def hd(tmp_path_factory, mannequin_dir):
    root = tmp_path_factory.mktemp("fid")
    synthetic.write_humandata(root, "UP3D", mannequin_dir, n=2, seed=1)  # SMPL-X + 3D keypoints
    synthetic.write_humandata(root, "LSPET", mannequin_dir, n=2, seed=2, kind="smpl", with_3d=False)
    synthetic.write_humandata(root, "Talkshow", mannequin_dir, n=2, seed=3)
    synthetic.write_humandata(root, "MTP", mannequin_dir, n=2, seed=4, part_boxes=False)
    return root


def _sample(root, mannequin_dir, name, flags, i=0):
    src = HumanData(DATA[name], root, "train", mannequin_dir, interval=1, flags=flags)
    return src, SampleDataset(src, mannequin_dir, flags=flags).sample(i, None)


def test_flag_supervise_2d_only(hd, mannequin_dir):
    _, fixed = _sample(hd, mannequin_dir, "LSPET", DataFlags())
    _, ref = _sample(hd, mannequin_dir, "LSPET", REFERENCE)
    assert fixed["joint_trunc"].sum() > 10
    assert ref["joint_trunc"].sum() == 0 and ref["smplx_joint_trunc"].sum() == 0  # depth 0 fails `> 0`


def test_flag_one_eyeball_map(hd, mannequin_dir):
    b = synthetic.make_bodies(mannequin_dir, 2, np.random.default_rng(1))
    src_f, _ = _sample(hd, mannequin_dir, "UP3D", DataFlags())
    src_r = HumanData(DATA["UP3D"], hd, "train", mannequin_dir, interval=1, flags=REFERENCE)
    kp = b.kp2d[0]  # HUMAN_DATA/smplx order: 56 right eyeball... 57 left eyeball
    np.testing.assert_allclose(src_f.record(0)["kp2d"][[67, 68], :2], kp[[57, 56]], atol=1e-3)
    np.testing.assert_allclose(src_r.record(0)["kp2d"][[67, 68], :2], kp[[56, 57]], atol=1e-3)


def test_flag_talkshow_right_hand(hd, mannequin_dir):
    b = synthetic.make_bodies(mannequin_dir, 2, np.random.default_rng(3))
    fixed = HumanData(DATA["Talkshow"], hd, "train", mannequin_dir, interval=1).record(1)["smplx"]
    ref = HumanData(DATA["Talkshow"], hd, "train", mannequin_dir, interval=1, flags=REFERENCE).record(1)["smplx"]
    np.testing.assert_allclose(fixed["rhand_pose"], b.params["right_hand_pose"][1].reshape(-1), atol=1e-6)
    np.testing.assert_allclose(ref["rhand_pose"], b.params["left_hand_pose"][1].reshape(-1), atol=1e-6)


def test_flag_part_relative_depth(hd, mannequin_dir):
    from training.joints import PARTS, SMPLX_TO_137

    b = synthetic.make_bodies(mannequin_dir, 2, np.random.default_rng(1))
    j = b.joints[0][SMPLX_TO_137]
    _, fixed = _sample(hd, mannequin_dir, "UP3D", DataFlags())
    _, ref = _sample(hd, mannequin_dir, "UP3D", DataFlags(part_relative_depth=False))
    hand = PARTS["lhand"]
    np.testing.assert_allclose(ref["joint_img"][:, 2], ((j[:, 2] - j[0, 2]) / 1.0 + 1) / 2 * 16, atol=1e-3)
    np.testing.assert_allclose(fixed["joint_img"][hand, 2], ((j[hand, 2] - j[12, 2]) / 0.15 + 1) / 2 * 16, atol=1e-3)


def test_flag_boxes_from_keypoints(hd, mannequin_dir):
    _, fixed = _sample(hd, mannequin_dir, "MTP", DataFlags())
    _, ref = _sample(hd, mannequin_dir, "MTP", REFERENCE)
    assert fixed["lhand_bbox_valid"] == 1.0 and fixed["face_bbox_valid"] == 1.0
    assert ref["lhand_bbox_valid"] == 0.0 and ref["rhand_bbox_valid"] == 0.0 and ref["face_bbox_valid"] == 0.0


def test_flag_pw3d_joint_slots(tmp_path, mannequin_dir):
    from training.augment import apply_affine
    from training.datasets.osx import PW3D

    b = synthetic.write_pw3d(tmp_path, mannequin_dir, n=2, seed=12)
    ref_src = PW3D(tmp_path, "train", flags=REFERENCE)
    ref = SampleDataset(ref_src, mannequin_dir, flags=REFERENCE).sample(1, None)
    fixed = SampleDataset(PW3D(tmp_path, "train"), mannequin_dir).sample(1, None)
    test = SampleDataset(ref_src, mannequin_dir, train=False).sample(1)
    back = apply_affine(ref["joint_img"][:22, :2] * np.array([384 / 12, 512 / 16]), test["bb2img"])
    from core.body import load_body_model

    p = ref_src.record(1)["smplx"]  # 3DPW's converted params: SMPL body pose, no shape, no hands
    with torch.no_grad():
        out = load_body_model(mannequin_dir)(
            global_orient=torch.as_tensor(p["root_pose"][None]), body_pose=torch.as_tensor(p["body_pose"][None]),
            betas=torch.zeros(1, 10), transl=torch.as_tensor(p["trans"][None]))
    smpl_order = out.joints[0, :22].numpy()  # pelvis, hips, spine1, knees, … (SMPL's first 22 joints)
    np.testing.assert_allclose(back, smpl_order[:, :2] / smpl_order[:, 2:] * b.focal + b.princpt, atol=0.05)
    assert not ref["joint_img"][22:].any() and np.array_equal(ref["joint_img"], ref["smplx_joint_img"])
    assert np.abs(fixed["joint_img"][3, :2] - ref["joint_img"][3, :2]).max() > 0.05  # slot 3 = L_Knee vs spine1


def test_flag_agora_kid_betas(tmp_path, mannequin_dir):
    from training.datasets.osx import AGORA

    b = synthetic.write_agora(tmp_path, mannequin_dir, n=2, seed=8, kids=(1,))
    fixed, ref = AGORA(tmp_path).records[1]["smplx"], AGORA(tmp_path, flags=REFERENCE).records[1]["smplx"]
    np.testing.assert_allclose(fixed["shape"], b.params["betas"][1], atol=1e-6)
    np.testing.assert_allclose(ref["shape"], b.params["betas"][1] + 0.5, atol=1e-6)
    np.testing.assert_allclose(AGORA(tmp_path, flags=REFERENCE).records[0]["smplx"]["shape"], b.params["betas"][0],
                               atol=1e-6)  # adults keep betas_neutral in the reference too


def test_flag_restore_schedule_on_resume():
    import math

    from training.train import resume_schedule

    def run(steps, state=None, cfg=TrainConfig()):  # as train(): scheduler on the fresh optimizer, then resume
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.Adam([p], lr=1e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=1e-5)
        if state is not None:
            opt.load_state_dict(state[0])
            sched = resume_schedule(cfg, opt, sched, state[1], 10)
        for _ in range(steps):
            opt.step()
            sched.step()
        return opt, sched

    def cosine(start, t):
        return 1e-5 + (start - 1e-5) * (1 + math.cos(math.pi * t / 10)) / 2

    opt, sched = run(4)
    state = (opt.state_dict(), sched.state_dict())
    fixed, _ = run(3, state)
    ref, _ = run(3, state, TrainConfig(reference_behaviour=True))
    assert fixed.param_groups[0]["lr"] == pytest.approx(cosine(1e-3, 7), rel=1e-9)  # the uninterrupted run
    assert ref.param_groups[0]["lr"] == pytest.approx(cosine(cosine(1e-3, 4), 3), rel=1e-9)  # a fresh cosine


def test_flag_uniform_part_boxes(tmp_path, mannequin_dir):
    from training.datasets.osx import UBody

    synthetic.write_ubody(tmp_path, mannequin_dir, n=2, seed=15, scenes=("Magic_show",))
    ann = json.loads((tmp_path / "UBody" / "annotations" / "Magic_show" / "keypoint_annotation.json").read_text())
    ann = ann["annotations"][0]
    fixed = UBody(tmp_path, "train", interval=1).records[0]["boxes"]
    ref = UBody(tmp_path, "train", interval=1, flags=REFERENCE).records[0]["boxes"]
    x, y, w, h = ann["lefthand_box"]  # the reference: the annotation box scaled by 0.65 about its centre
    cx, cy = x + w / 2, y + h / 2
    np.testing.assert_allclose(ref["lhand"], [cx - 0.325 * w, cy - 0.325 * h, cx + 0.325 * w, cy + 0.325 * h],
                               rtol=1e-5)
    f = np.asarray(ann["face_kpts"]).reshape(-1, 3)
    lo, hi = f[:, :2].min(0), f[:, :2].max(0)
    c, half = (lo + hi) / 2, (hi - lo) / 2 * 1.2
    np.testing.assert_allclose(ref["face"], np.concatenate([c - half, c + half]), rtol=1e-5)
    fw, fh = fixed["lhand"][2] - fixed["lhand"][0], fixed["lhand"][3] - fixed["lhand"][1]
    assert fw / fh == pytest.approx(0.75, rel=1e-3)  # the project's boxes are 3:4 like every other set
