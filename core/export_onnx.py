"""Export the SMPLer-X network (crops → SMPL-X parameters, boxes, joints) to ONNX for onnxruntime/TensorRT.

Only the network is exported: the SMPL-X layer stays outside (run it with smplx or core.body on the outputs), so
the file carries no body-model data and its licence is the checkpoint's. The graph input is `crops`
(B, 3, 512, 384) float32 RGB in [0, 1] (no mean/std, the affine crop of core.crop); the outputs are
`OUTPUT_NAMES`, the same tensors as `SMPLerX.forward` under the same keys.

The default exporter is torch.export (`dynamo=True`). torchvision's RoIAlign has no entry in torch's own ONNX
table, so it is translated with onnxscript's torchvision function to ONNX RoiAlign
(coordinate_transformation_mode="output_half_pixel" = aligned=False, sampling_ratio 0 = adaptive, mode avg);
GridSample (bilinear, align_corners) and RoiAlign need opset 16 or later.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from .atomic import AtomicOutputs
from .model import SMPLerX
from .model.config import INPUT_IMG_SHAPE

__all__ = [
    "OUTPUT_NAMES", "PARAM_OUTPUT_NAMES", "INPUT_NAME", "MIN_OPSET", "DEFAULT_OPSET", "SMPLerXOnnxNet", "export_onnx",
]

log = logging.getLogger(__name__)

INPUT_NAME = "crops"
PARAM_OUTPUT_NAMES = ("smplx_root_pose", "smplx_body_pose", "smplx_lhand_pose", "smplx_rhand_pose",
                      "smplx_jaw_pose", "smplx_shape", "smplx_expr", "cam_trans")
OUTPUT_NAMES = PARAM_OUTPUT_NAMES + ("lhand_bbox", "rhand_bbox", "face_bbox", "joint_img")
MIN_OPSET = 16  # RoiAlign's output_half_pixel mode and GridSample first appear in opset 16
DEFAULT_OPSET = 18  # the lowest opset torch.export's ONNX exporter writes (its function library's opset)
_TRACE_BATCH = 2  # example batch for a dynamic export: torch.export specialises dimensions of size 1


class SMPLerXOnnxNet(nn.Module):
    """`SMPLerX.forward` with its dict turned into a tuple in `names` order (ONNX graphs have ordered outputs).

    Args:
        model: the network (its SMPL-X layer, if any, is not called).
        names: output keys of `SMPLerX.forward`, in graph order.
    """

    def __init__(self, model: SMPLerX, names: tuple[str, ...] = OUTPUT_NAMES) -> None:
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(crops)
        return tuple(out[k] for k in self.names)


def _roi_align_table() -> dict:
    """torchvision::roi_align → onnxscript's ONNX RoiAlign translation (absent from torch's own table)."""
    import torchvision  # noqa: F401  (registers torch.ops.torchvision.*)
    from onnxscript.function_libs.torch_lib.ops.vision import torchvision_roi_align

    return {torch.ops.torchvision.roi_align.default: torchvision_roi_align}


def _export_dynamo(net: nn.Module, crops: torch.Tensor, path: Path, names: tuple[str, ...], opset: int,
                   dynamic: bool) -> None:
    dynamic_shapes = {"crops": {0: torch.export.Dim("batch", min=1)}} if dynamic else None
    program = torch.onnx.export(
        net, (crops,), input_names=[INPUT_NAME], output_names=list(names), opset_version=opset, dynamo=True,
        dynamic_shapes=dynamic_shapes, custom_translation_table=_roi_align_table())
    program.save(str(path), external_data=None)  # one file unless the weights exceed protobuf's 2 GB


def _export_torchscript(net: nn.Module, crops: torch.Tensor, path: Path, names: tuple[str, ...], opset: int,
                        dynamic: bool) -> None:
    import torchvision  # noqa: F401  (registers roi_align's ONNX symbolic)

    dynamic_axes = {n: {0: "batch"} for n in (INPUT_NAME, *names)} if dynamic else None
    with warnings.catch_warnings():  # sizes read from shapes are traced as constants on purpose; batch stays symbolic
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(net, (crops,), str(path), input_names=[INPUT_NAME], output_names=list(names),
                          opset_version=opset, dynamo=False, dynamic_axes=dynamic_axes)


def export_onnx(checkpoint: str | Path, out_path: str | Path, batch_size: int | None = None,
                opset: int = DEFAULT_OPSET, include_params_only: bool = False, dynamo: bool = True) -> Path:
    """Export a SMPLer-X checkpoint's network to an ONNX file (float32, CPU export, runs on any provider).

    Args:
        checkpoint: official or our `smpler_x_*.pth.tar` (any size; the variant comes from the weights).
        out_path: the `.onnx` file to write; written atomically. Networks over 2 GB (H32) put their weights in
            `<out_path>.data` beside it, as ONNX requires.
        batch_size: fixed batch size B of the graph, or None for a dynamic batch dimension named "batch".
        opset: ONNX opset of the default domain, at least 16. torch.export writes opset 18 or later, so 16
            and 17 (older TensorRT) go through the TorchScript exporter.
        include_params_only: export only `PARAM_OUTPUT_NAMES` (SMPL-X parameters and cam_trans), dropping the
            boxes and joint_img.
        dynamo: use torch.export (default, for opset ≥ 18); False uses the older TorchScript exporter.

    Returns:
        The written path. Graph input `crops` (B, 3, 512, 384) float32 RGB in [0, 1]; outputs in this order
        (see `SMPLerX.forward`): smplx_root_pose (B,3), smplx_body_pose (B,63), smplx_lhand_pose and
        smplx_rhand_pose (B,45) axis-angle relative to hands_mean, smplx_jaw_pose (B,3), smplx_shape (B,10),
        smplx_expr (B,10), cam_trans (B,3) m in the virtual camera f=5000, c=(96,128) of the 192×256 body
        image; unless params only: lhand_bbox, rhand_bbox, face_bbox (B,4) xyxy crop pixels, joint_img (B,65,3).

    Raises:
        FileNotFoundError: missing checkpoint.
        CheckpointError: unusable checkpoint.
        ValueError: batch_size < 1 or opset < 16.
    """
    if batch_size is not None and (not isinstance(batch_size, int) or isinstance(batch_size, bool)
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None (dynamic batch), got {batch_size!r}")
    if opset < MIN_OPSET:
        raise ValueError(f"opset {opset} is too old: ONNX RoiAlign (output_half_pixel) and GridSample need "
                         f"opset {MIN_OPSET} or later")
    if dynamo and opset < DEFAULT_OPSET:
        log.info("opset %d: using the TorchScript exporter (torch.export writes opset %d or later)", opset,
                 DEFAULT_OPSET)
        dynamo = False
    out_path = Path(out_path)
    model = SMPLerX.from_checkpoint(checkpoint, None, device="cpu", dtype=torch.float32)
    names = PARAM_OUTPUT_NAMES if include_params_only else OUTPUT_NAMES
    net = SMPLerXOnnxNet(model, names).eval()
    crops = torch.rand(batch_size or _TRACE_BATCH, 3, *INPUT_IMG_SHAPE)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    # Export into a private folder under the final name (external data records that name), then move.
    tmp_dir = Path(tempfile.mkdtemp(prefix=".onnx-export-", dir=out_path.parent))
    try:
        tmp = tmp_dir / out_path.name
        exporter = _export_dynamo if dynamo else _export_torchscript
        with torch.no_grad():
            exporter(net, crops, tmp, names, opset, batch_size is None)
        with AtomicOutputs() as staged:  # every part appears together, the .onnx last (it names its data file)
            for part in sorted(tmp_dir.iterdir(), key=lambda p: p == tmp):
                part.replace(staged.path(out_path.parent / part.name))
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    data = out_path.with_name(out_path.name + ".data")
    size = out_path.stat().st_size + (data.stat().st_size if data.is_file() else 0)
    log.info("%s: SMPLer-X %s exported in %.1f s (%.1f MB, opset %d, batch %s)", out_path, model.cfg.name,
             time.perf_counter() - start, size / 1e6, opset, batch_size or "dynamic")
    return out_path
