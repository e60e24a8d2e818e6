"""ONNX export of the SMPLer-X network: onnxruntime (CPU) reproduces PyTorch and the reference parity outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from core.export_onnx import OUTPUT_NAMES, PARAM_OUTPUT_NAMES, export_onnx  # noqa: E402
from core.model import SMPLerX  # noqa: E402

pytestmark = pytest.mark.slow

# Tolerances of ../shared/reference/parity/README.md §6 (float32 re-implementation)
TOL = {
    "smplx_root_pose": 1e-4, "smplx_body_pose": 1e-4, "smplx_jaw_pose": 1e-4, "smplx_shape": 1e-4,
    "smplx_expr": 1e-4, "cam_trans": 1e-4, "smplx_lhand_pose": 5e-3, "smplx_rhand_pose": 5e-3,
    "lhand_bbox": 5e-3, "rhand_bbox": 5e-3, "face_bbox": 5e-3, "joint_img": 5e-3,
}
CKPT = "smpler_x_s32_random.pth.tar"


@pytest.fixture(scope="module")
def cases(parity_dir):
    return dict(np.load(parity_dir / "s32_reference_cases.npz"))


@pytest.fixture(scope="module")
def s32(parity_dir):
    return SMPLerX.from_checkpoint(parity_dir / CKPT, None)


@pytest.fixture(scope="module")
def onnx_path(parity_dir, tmp_path_factory):
    """The default export: torch.export, dynamic batch, every output."""
    return export_onnx(parity_dir / CKPT, tmp_path_factory.mktemp("onnx") / "s32.onnx")


@pytest.fixture(scope="module")
def session(onnx_path):
    return ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])


def _run(session, crops: np.ndarray) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"crops": crops.astype(np.float32)})))


def _compare(ours: dict[str, np.ndarray], ref: dict[str, np.ndarray], keys, what: str) -> None:
    for key in keys:
        assert ours[key].shape == ref[key].shape, f"{what} {key}: shape {ours[key].shape} != {ref[key].shape}"
        err = float(np.abs(ours[key] - ref[key]).max())
        assert err <= TOL[key], f"{what} {key}: max error {err:.3e} > {TOL[key]:.0e}"


def test_graph_signature_and_roi_align_semantics(onnx_path):
    """One file, input `crops` with a dynamic batch, named outputs, RoiAlign = torchvision aligned=False."""
    assert not onnx_path.with_name(onnx_path.name + ".data").exists()
    model = onnx.load(str(onnx_path))
    onnx.checker.check_model(model)
    (inp,) = model.graph.input
    dims = inp.type.tensor_type.shape.dim
    assert inp.name == "crops" and dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, 512, 384]
    assert tuple(o.name for o in model.graph.output) == OUTPUT_NAMES
    assert {o.domain: o.version for o in model.opset_import}[""] == 18
    rois = [n for n in model.graph.node if n.op_type == "RoiAlign"]
    assert len(rois) == 1
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in rois[0].attribute}
    assert attrs["coordinate_transformation_mode"] == b"output_half_pixel"
    assert attrs.get("sampling_ratio", 0) == 0 and attrs.get("mode", b"avg") == b"avg"
    assert (attrs["output_height"], attrs["output_width"]) == (16, 16)
    assert {"GridSample", "Atan"} <= {n.op_type for n in model.graph.node}


@pytest.mark.parametrize("case", ["case0", "case3"])
def test_parity_cases(session, s32, cases, case):
    """onnxruntime on the reference crops ≈ PyTorch and ≈ the reference run's outputs."""
    crops = cases[f"{case}_input"]
    ours = _run(session, crops)
    with torch.no_grad():
        torch_out = {k: v.numpy() for k, v in s32(torch.from_numpy(crops)).items()}
    _compare(ours, torch_out, OUTPUT_NAMES, f"{case} onnx vs torch")
    _compare(ours, {k: cases[f"{case}_out_{k}"] for k in OUTPUT_NAMES}, OUTPUT_NAMES, f"{case} onnx vs reference")


def test_random_batch_of_three(session, s32):
    """A batch size other than the export's example runs (dynamic batch) and rows stay independent."""
    crops = torch.rand(3, 3, 512, 384, generator=torch.Generator().manual_seed(11))
    ours = _run(session, crops.numpy())
    with torch.no_grad():
        torch_out = {k: v.numpy() for k, v in s32(crops).items()}
    _compare(ours, torch_out, OUTPUT_NAMES, "batch 3 onnx vs torch")
    single = _run(session, crops[1:2].numpy())
    _compare(single, {k: v[1:2] for k, v in ours.items()}, OUTPUT_NAMES, "row 1 alone vs in batch")


def test_fixed_batch_params_only_opset17(parity_dir, cases, tmp_path):
    """Opset 17 (the TorchScript exporter) with a fixed batch of 1 and only the SMPL-X parameters."""
    path = export_onnx(parity_dir / CKPT, tmp_path / "p.onnx", batch_size=1, opset=17, include_params_only=True)
    model = onnx.load(str(path))
    assert {o.domain: o.version for o in model.opset_import}[""] == 17
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape == [1, 3, 512, 384]
    assert tuple(o.name for o in sess.get_outputs()) == PARAM_OUTPUT_NAMES
    ours = _run(sess, cases["case3_input"])
    _compare(ours, {k: cases[f"case3_out_{k}"] for k in PARAM_OUTPUT_NAMES}, PARAM_OUTPUT_NAMES, "params only")
    assert [p.name for p in tmp_path.iterdir()] == ["p.onnx"]  # no temporary left behind


def test_missing_checkpoint_and_bad_arguments(tmp_path):
    missing = tmp_path / "nope" / "smpler_x_s32.pth.tar"
    with pytest.raises(FileNotFoundError, match="smpler_x_s32.pth.tar"):
        export_onnx(missing, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()
    with pytest.raises(ValueError, match="opset"):
        export_onnx(missing, tmp_path / "out.onnx", opset=15)
    with pytest.raises(ValueError, match="batch_size"):
        export_onnx(missing, tmp_path / "out.onnx", batch_size=0)
