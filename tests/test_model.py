"""SMPLer-X network: parity with the reference run, batching, sizes of every variant, checkpoint I/O."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.crop import crop_people
from core.model import VARIANTS, CheckpointError, ModelConfig, SMPLerX, infer_config, official_to_ours
from core.model.config import variant_config

# Tolerances of ../shared/reference/parity/README.md §6 (float32 re-implementation)
TOL = {
    "smplx_root_pose": 1e-4, "smplx_body_pose": 1e-4, "smplx_jaw_pose": 1e-4, "smplx_shape": 1e-4,
    "smplx_expr": 1e-4, "cam_trans": 1e-4, "smplx_lhand_pose": 5e-3, "smplx_rhand_pose": 5e-3,
    "lhand_bbox": 5e-3, "rhand_bbox": 5e-3, "face_bbox": 5e-3, "joint_img": 5e-3, "smplx_mesh_cam": 5e-4,
    "smplx_joint_proj": 5e-3,
}

# model_spec.md §6: state-dict entries and parameter counts per module
SPEC_COUNTS = {
    "s32": (223, 32_008_024, {"encoder": 21_675_648, "body_position_net": 154_000, "body_regressor": 1_901_757,
                              "box_net": 5_509_641, "hand_roi_net": 1_512_384, "hand_position_net": 123_200,
                              "hand_regressor": 1_125_234, "face_regressor": 6_160}),
    "b32": (223, 102_939_928, {"encoder": 85_818_624, "box_net": 7_082_505, "hand_roi_net": 6_047_616}),
    "l32": (367, 326_654_872, {"encoder": 303_328_256, "box_net": 8_131_081, "hand_roi_net": 10_750_464}),
    "h32": (463, 661_827_096, {"encoder": 630_951_680, "box_net": 9_179_657, "hand_roi_net": 16_796_800}),
}


@pytest.fixture(scope="module")
def cases(parity_dir):
    return dict(np.load(parity_dir / "s32_reference_cases.npz"))


@pytest.fixture(scope="module")
def s32(parity_dir, parity_model_dir):
    return SMPLerX.from_checkpoint(parity_dir / "smpler_x_s32_random.pth.tar", parity_model_dir)


def _check_outputs(out: dict, cases: dict, case: str, row: int = 0) -> dict[str, float]:
    errors = {}
    for key, tol in TOL.items():
        ref = cases[f"{case}_out_{key}"][0]
        err = float(np.abs(out[key][row].cpu().numpy() - ref).max())
        errors[key] = err
        assert err <= tol, f"{case} {key}: max error {err:.3e} > {tol:.0e}"
    return errors


def test_parity_case0_whole_preprocessing(s32, cases):
    """Frame + detector box → process_bbox → affine crop → network: the reference's outputs."""
    batch = crop_people(cases["image_rgb_uint8"], cases["case0_det_xyxy"][None])
    np.testing.assert_allclose(batch.bboxes[0], cases["case0_bbox_xywh_processed"], rtol=0, atol=1e-4)
    np.testing.assert_array_equal(batch.img2bb[0], cases["case0_img2bb_trans"])
    np.testing.assert_array_equal(batch.bb2img[0], cases["case0_bb2img_trans"])
    assert np.abs(batch.crops - cases["case0_input"]).max() < 2e-4
    _check_outputs(s32.forward_crops(torch.from_numpy(batch.crops)), cases, "case0")


def test_parity_case3_crop_tensor(s32, cases):
    out = s32.forward_crops(torch.from_numpy(cases["case3_input"]))
    _check_outputs(out, cases, "case3")
    np.testing.assert_allclose(out["smplx_joints144"][0].numpy(), cases["case3_smplx_joints144"][0], atol=5e-4)


def test_intermediates_match(s32, cases):
    out = s32.forward_crops(torch.from_numpy(cases["case3_input"]), with_mesh=False)
    for key, tol in [("mid_root_pose_6d", 1e-5), ("mid_body_pose_6d", 1e-4), ("mid_cam_param", 1e-5),
                     ("mid_body_joint_img", 1e-4), ("mid_lhand_bbox_body", 2e-3), ("mid_hand_pose_6d", 1e-3)]:
        assert np.abs(out[key].numpy() - cases[f"case3_{key}"]).max() <= tol, key


@pytest.mark.parametrize("batch", [2, 3, 8])
def test_batches_equal_single_runs(s32, cases, batch):
    """Rows of a batch equal single runs (B=3 is where the reference's torch.cross broke root and jaw)."""
    gen = torch.Generator().manual_seed(batch)
    crops = torch.cat([torch.from_numpy(cases["case3_input"]), torch.from_numpy(cases["case0_input"]),
                       torch.rand(max(0, batch - 2), 3, 512, 384, generator=gen)])[:batch]
    many = s32.forward_crops(crops, with_mesh=False)
    for i in range(batch):
        one = s32.forward_crops(crops[i:i + 1], with_mesh=False)
        for key, tol in TOL.items():
            if key in one:
                err = (many[key][i] - one[key][0]).abs().max().item()
                assert err <= tol, f"B={batch} row {i} {key}: {err:.2e}"


def test_predict_maps_back_to_original_camera(s32, cases):
    """Mesh projected with the per-crop focal/princpt lands where the crop-space projection maps through bb2img."""
    image, det = cases["image_rgb_uint8"], cases["case0_det_xyxy"][None]
    res = s32.predict(image, det, with_mesh=True)[0]
    np.testing.assert_allclose(res["focal"], cases["case0_focal"], rtol=1e-6)
    np.testing.assert_allclose(res["princpt"], cases["case0_princpt"], rtol=1e-6)
    v = res["vertices"].astype(np.float64)
    uv = v[:, :2] / v[:, 2:] * res["focal"] + res["princpt"]
    batch = crop_people(image, det)
    out = s32.forward_crops(torch.from_numpy(batch.crops))
    crop_mesh = out["smplx_mesh_cam"][0].numpy().astype(np.float64)
    crop_uv = (crop_mesh[:, :2] / crop_mesh[:, 2:] * 5000 + [96, 128]) * 2  # virtual camera → body px → crop px
    bb2img = cases["case0_bb2img_trans"].astype(np.float64)
    assert np.abs(uv - (crop_uv @ bb2img[:, :2].T + bb2img[:, 2])).max() < 1e-2  # pixels
    box = out["lhand_bbox"][0].numpy().reshape(2, 2).astype(np.float64) @ bb2img[:, :2].T + bb2img[:, 2]
    assert np.abs(res["lhand_bbox"].reshape(2, 2) - box).max() < 1e-2


def test_predict_rejects_box_outside_image(s32, cases):
    res = s32.predict(cases["image_rgb_uint8"], np.array([[5000.0, 5000.0, 5100.0, 5300.0]]))
    assert res == [None]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_sizes_match_spec(variant):
    """Key names, shapes and parameter counts of every size, built on the meta device (no memory)."""
    with torch.device("meta"):
        model = SMPLerX(variant_config(variant))
    sd = model.state_dict()
    entries, params, per_module = SPEC_COUNTS[variant]
    assert len(sd) == entries
    assert sum(p.numel() for p in model.parameters()) == params
    for name, count in per_module.items():
        assert sum(p.numel() for p in getattr(model, name).parameters()) == count, name
    c = variant_config(variant).embed_dim
    assert tuple(sd["box_net.deconv.0.weight"].shape) == (c + 400, 256, 4, 4)
    assert tuple(sd["hand_roi_net.deconv.3.weight"].shape) == (c // 2, c // 4, 4, 4)
    assert infer_config(sd).name == variant


def test_s32_keys_equal_official_checkpoint(parity_dir):
    raw = torch.load(parity_dir / "smpler_x_s32_random.pth.tar", map_location="cpu", weights_only=True)["network"]
    with torch.device("meta"):
        model = SMPLerX(variant_config("s32"))
    ours = {f"module.{k}": tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == {k: tuple(v.shape) for k, v in raw.items()}


def test_save_load_round_trip(tmp_path, parity_model_dir):
    torch.manual_seed(0)
    model = SMPLerX.build("s32", None)
    path = model.save_checkpoint(tmp_path / "x.pth.tar", epoch=3)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["epoch"] == 3 and all(k.startswith("module.") for k in raw["network"])
    assert not any("smplx_layer" in k for k in raw["network"])
    back = SMPLerX.from_checkpoint(path, parity_model_dir)
    for k, v in model.state_dict().items():
        assert torch.equal(v, back.state_dict()[k]), k
    crops = torch.rand(1, 3, 512, 384, generator=torch.Generator().manual_seed(1))
    a, b = model.forward_crops(crops, with_mesh=False), back.forward_crops(crops, with_mesh=False)
    assert torch.equal(a["smplx_body_pose"], b["smplx_body_pose"])


def test_custom_size_round_trip(tmp_path):
    """Our own checkpoints carry their config, so small ViTs (the demo's) reload with their size."""
    cfg = ModelConfig("tiny", embed_dim=64, depth=2, num_heads=4, box_width=32)
    path = SMPLerX.build(cfg, None).save_checkpoint(tmp_path / "tiny.pth.tar")
    assert SMPLerX.from_checkpoint(path, None).cfg == cfg


def test_fp16_bare_state_dict_accepted(tmp_path, parity_dir):
    """A bare fp16 state dict without `module.` and with legacy names (`backbone.`) loads like the container."""
    raw = torch.load(parity_dir / "smpler_x_s32_random.pth.tar", map_location="cpu", weights_only=True)["network"]
    bare = {k.replace("module.encoder.", "backbone."): v for k, v in raw.items()}
    bare = {k.replace("module.", ""): v for k, v in bare.items()}
    torch.save(bare, tmp_path / "bare.pth")
    model = SMPLerX.from_checkpoint(tmp_path / "bare.pth", None)
    ref = official_to_ours(raw)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in ref.items())
    assert all(v.dtype != torch.float16 for v in model.state_dict().values())


def test_wrong_size_is_named(parity_dir):
    with pytest.raises(CheckpointError, match=r"checkpoint is S32 \(width 384.*B32 requested"):
        SMPLerX.from_checkpoint(parity_dir / "smpler_x_s32_random.pth.tar", None, variant="b32")


def test_missing_and_unexpected_keys_are_named(tmp_path, parity_dir):
    raw = torch.load(parity_dir / "smpler_x_s32_random.pth.tar", map_location="cpu", weights_only=True)
    net = dict(raw["network"])
    net.pop("module.face_regressor.expr_out.0.bias")
    net["module.extra_head.weight"] = torch.zeros(3)
    torch.save({"epoch": 0, "network": net}, tmp_path / "bad.pth.tar")
    with pytest.raises(CheckpointError) as err:
        SMPLerX.from_checkpoint(tmp_path / "bad.pth.tar", None)
    msg = str(err.value)
    assert "bad.pth.tar" in msg and "face_regressor.expr_out.0.bias" in msg and "extra_head.weight" in msg


def test_corrupt_and_missing_files(tmp_path, parity_dir):
    data = (parity_dir / "smpler_x_s32_random.pth.tar").read_bytes()[:100_000]
    (tmp_path / "cut.pth.tar").write_bytes(data)
    with pytest.raises(CheckpointError, match="cut.pth.tar"):
        SMPLerX.from_checkpoint(tmp_path / "cut.pth.tar", None)
    with pytest.raises(FileNotFoundError, match="smpler_x_s32.pth.tar.*SMPLer-X"):
        SMPLerX.from_checkpoint(tmp_path / "smpler_x_s32.pth.tar", None)


def test_untrusted_pickle_is_refused(tmp_path):
    """weights_only loading: a checkpoint that would run code on load is rejected, not executed."""
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "evil.pth.tar", "wb") as fh:
        pickle.dump({"network": Evil()}, fh)
    with pytest.raises(CheckpointError, match="evil.pth.tar"):
        SMPLerX.from_checkpoint(tmp_path / "evil.pth.tar", None)
