"""The seed's mmdet Faster R-CNN checkpoint, run through mmdet when installed or converted into torchvision's model.

SMPLer-X (`main/inference.py`) detects people with mmdet 2.x and
`faster_rcnn_r50_fpn_1x_coco_20200130-047c8118.pth` (Faster R-CNN R50-FPN 1x, COCO, box AP 37.4). mmdet needs a
compiled mmcv (see reference/dependency_notes.md §3), so by default the checkpoint is converted by a pure dict -> dict
key mapping into torchvision's `fasterrcnn_resnet50_fpn` with two mmdet-compatible parts swapped in.

Key mapping (mmdet 2.x names -> torchvision names):
    backbone.<resnet key>                    -> backbone.body.<resnet key>   (same ResNet-50, "pytorch" style:
                                                stride in the 3x3 conv, like torchvision)
    neck.lateral_convs.i.conv.{weight,bias}  -> backbone.fpn.inner_blocks.i.0.{weight,bias}   (i = 0..3)
    neck.fpn_convs.i.conv.{weight,bias}      -> backbone.fpn.layer_blocks.i.0.{weight,bias}
    rpn_head.rpn_conv                        -> rpn.head.conv.0.0
    rpn_head.rpn_cls (3, sigmoid objectness) -> rpn.head.cls_logits (3, sigmoid): same channel order (anchor a at
                                                channel a; torchvision's and mmdet's anchors enumerate ratios
                                                0.5, 1, 2 at one scale in the same order)
    rpn_head.rpn_reg (12 = 3 anchors x 4)    -> rpn.head.bbox_pred (channel 4a + k in both)
    roi_head.bbox_head.shared_fcs.0 / .1     -> roi_heads.box_head.fc6 / fc7 (same flatten order of 256x7x7)
    roi_head.bbox_head.fc_cls (81, 1024)     -> roi_heads.box_predictor.cls_score (81, 1024), rows permuted
    roi_head.bbox_head.fc_reg (320, 1024)    -> roi_heads.box_predictor.bbox_pred (324, 1024), 4 zero rows first

Classes: mmdet 2.x orders fc_cls as the 80 COCO classes (0 = person) then background LAST (index 80); fc_reg is
class-specific without background (80 x 4 = 320 rows, class c at rows 4c..4c+3). torchvision's classifier puts
background FIRST. The converted model therefore has 81 classes: row 0 = mmdet's background row 80, row c + 1 =
mmdet's class c, so a converted label is mmdet index + 1 and person is label 1 (as in torchvision's COCO weights,
whose 91 outputs are COCO category ids with gaps; we do not scatter into those 91 since only person is used).
Softmax is invariant to the row permutation. bbox_pred gets zero rows for background (torchvision never decodes them).

Box coding is equivalent: mmdet's DeltaXYWHBBoxCoder multiplies the deltas by target_stds (0.1, 0.1, 0.2, 0.2)
(means 0); torchvision's BoxCoder divides them by weights (10, 10, 5, 5). Both clamp log-scale deltas at
log(1000/16), use w = x2 - x1 without +1 (mmdet 2.x), and decode the RPN with unit weights.

Two parts differ in torchvision's defaults and are replaced here to follow mmdet 2.x exactly:
- Anchors: torchvision rounds the base anchors to integers; mmdet does not (`_MMDetAnchorGenerator` keeps them
  exact). Centres are at (x * stride, y * stride) in both (mmdet 2.x center_offset = 0).
- RoI pooling: mmdet 2.x uses RoIAlign with aligned=True (half-pixel offset) and maps a box of scale
  s = sqrt(w h) to level floor(log2(s / 56 + 1e-6)) clamped to 0..3; torchvision's MultiScaleRoIAlign uses
  aligned=False (`_MMDetRoIPool` reproduces mmdet's; the level rule equals torchvision's canonical 224/level 4).
The remaining test settings are equal (RPN: 1000 boxes per level before NMS 0.7, 1000 after; head: score > 0.05,
per-class NMS 0.5, 100 boxes; ImageNet mean/std on RGB; resize to 800/1333; pad to 32). Residual differences: mmdet
resizes the uint8 image with cv2 (rounded to integers) before normalising, torchvision resizes the normalised float
image with torch bilinear interpolation, and the resized size is rounded (mmdet) vs floored (torchvision). Not
measured against mmdet itself: mmdet cannot be installed here (no compiler-built mmcv).
"""

from __future__ import annotations

import importlib.util
import logging
import re
from pathlib import Path

import numpy as np

from .base import Detector, check_images
from .torchvision_rcnn import RCNNDetector, build_faster_rcnn, find_weights, load_strict, load_weights_file

__all__ = ["MMDET_WEIGHTS", "MMDET_URL", "convert_mmdet_state_dict", "build_mmdet_compatible_faster_rcnn",
           "build_mmdet_detector", "MMDET_PERSON_INDEX", "CONVERTED_PERSON_LABEL"]

log = logging.getLogger(__name__)

MMDET_WEIGHTS = "faster_rcnn_r50_fpn_1x_coco_20200130-047c8118.pth"
MMDET_URL = ("https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/faster_rcnn_r50_fpn_1x_coco/"
             f"{MMDET_WEIGHTS}")
MMDET_PERSON_INDEX = 0  # mmdet's class index of person
CONVERTED_PERSON_LABEL = MMDET_PERSON_INDEX + 1  # label in the converted (background-first) model

_RENAMES = [  # (mmdet pattern, torchvision replacement), first match wins
    (r"^backbone\.(.+)$", r"backbone.body.\1"),
    (r"^neck\.lateral_convs\.(\d)\.conv\.(weight|bias)$", r"backbone.fpn.inner_blocks.\1.0.\2"),
    (r"^neck\.fpn_convs\.(\d)\.conv\.(weight|bias)$", r"backbone.fpn.layer_blocks.\1.0.\2"),
    (r"^rpn_head\.rpn_conv\.(weight|bias)$", r"rpn.head.conv.0.0.\1"),
    (r"^rpn_head\.rpn_cls\.(weight|bias)$", r"rpn.head.cls_logits.\1"),
    (r"^rpn_head\.rpn_reg\.(weight|bias)$", r"rpn.head.bbox_pred.\1"),
    (r"^roi_head\.bbox_head\.shared_fcs\.0\.(weight|bias)$", r"roi_heads.box_head.fc6.\1"),
    (r"^roi_head\.bbox_head\.shared_fcs\.1\.(weight|bias)$", r"roi_heads.box_head.fc7.\1"),
    (r"^roi_head\.bbox_head\.fc_cls\.(weight|bias)$", r"roi_heads.box_predictor.cls_score.\1"),
    (r"^roi_head\.bbox_head\.fc_reg\.(weight|bias)$", r"roi_heads.box_predictor.bbox_pred.\1"),
]


def _fc_cls_to_torchvision(value):
    """(C+1, ...) with background last -> background first."""
    import torch

    return torch.cat([value[-1:], value[:-1]], dim=0)


def _fc_reg_to_torchvision(value, num_classes: int):
    """(4C, ...) class-specific or (4, ...) class-agnostic deltas -> (4(C+1), ...) with zero background rows."""
    import torch

    if value.shape[0] == 4:
        value = value.repeat(num_classes, *([1] * (value.dim() - 1)))
    return torch.cat([torch.zeros_like(value[:4]), value], dim=0)


def convert_mmdet_state_dict(state_dict: dict) -> dict:
    """Rename an mmdet 2.x Faster R-CNN R50-FPN state dict to torchvision's (81-class, background-first) layout.

    Args:
        state_dict: mmdet names -> tensors (a `module.` prefix is stripped).

    Returns:
        torchvision names -> tensors, for `build_mmdet_compatible_faster_rcnn()`.

    Raises:
        ValueError: keys that are not part of this model, an mmdet 1.x layout, or a softmax RPN.
    """
    state_dict = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state_dict.items()}
    if any(k.startswith("bbox_head.") for k in state_dict):
        raise ValueError("mmdet 1.x checkpoint layout (bbox_head.* at the top level, background first); upgrade it "
                         "with mmdet's tools/model_converters/upgrade_model_version.py first")
    cls = state_dict.get("rpn_head.rpn_cls.weight")
    reg = state_dict.get("rpn_head.rpn_reg.weight")
    if cls is not None and reg is not None and cls.shape[0] * 4 != reg.shape[0]:
        raise ValueError(f"rpn_cls has {cls.shape[0]} outputs for {reg.shape[0] // 4} anchors: a softmax RPN "
                         "(2 per anchor), while torchvision's RPN uses one sigmoid objectness per anchor")
    num_classes = state_dict["roi_head.bbox_head.fc_cls.weight"].shape[0] - 1 \
        if "roi_head.bbox_head.fc_cls.weight" in state_dict else 80
    out, unknown = {}, []
    for key, value in state_dict.items():
        for pattern, repl in _RENAMES:
            if re.match(pattern, key):
                new = re.sub(pattern, repl, key)
                break
        else:
            unknown.append(key)
            continue
        if ".fc_cls." in key:
            value = _fc_cls_to_torchvision(value)
        elif ".fc_reg." in key:
            value = _fc_reg_to_torchvision(value, num_classes)
        out[new] = value
    if unknown:
        raise ValueError(f"keys not in mmdet's Faster R-CNN R50-FPN: {unknown[:8]} ({len(unknown)} in all)")
    return out


def _anchor_generator_class():
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    class _MMDetAnchorGenerator(AnchorGenerator):
        """torchvision's anchors without rounding the base anchors, as mmdet 2.x's AnchorGenerator."""

        def generate_anchors(self, scales, aspect_ratios, dtype=None, device=None):
            import torch

            dtype = dtype or torch.float32
            scales = torch.as_tensor(scales, dtype=dtype, device=device)
            aspect_ratios = torch.as_tensor(aspect_ratios, dtype=dtype, device=device)
            h_ratios = torch.sqrt(aspect_ratios)
            w_ratios = 1 / h_ratios
            ws = (w_ratios[:, None] * scales[None, :]).view(-1)
            hs = (h_ratios[:, None] * scales[None, :]).view(-1)
            return torch.stack([-ws, -hs, ws, hs], dim=1) / 2

    return _MMDetAnchorGenerator


def _roi_pool_class():
    import torch
    from torchvision.ops import MultiScaleRoIAlign

    class _MMDetRoIPool(MultiScaleRoIAlign):
        """mmdet 2.x SingleRoIExtractor: RoIAlign(7, sampling_ratio=0, aligned=True), level by box scale.

        Args:
            featmap_names: feature keys of strides `strides` (px).
            finest_scale: a box of scale sqrt(w h) < 2 * finest_scale goes to the finest level.
        """

        def __init__(self, featmap_names=("0", "1", "2", "3"), strides=(4, 8, 16, 32), output_size=7,
                     sampling_ratio=0, finest_scale=56):
            super().__init__(list(featmap_names), output_size, sampling_ratio)
            self.strides, self.finest_scale, self.size = list(strides), finest_scale, output_size

        def forward(self, features, boxes, image_shapes):
            from torchvision.ops import roi_align

            rois = torch.cat([torch.cat([torch.full_like(b[:, :1], i), b], dim=1) for i, b in enumerate(boxes)])
            feats = [features[name] for name in self.featmap_names]
            scale = torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
            levels = torch.floor(torch.log2(scale / self.finest_scale + 1e-6)).clamp(0, len(feats) - 1).long()
            out = rois.new_zeros((len(rois), feats[0].shape[1], self.size, self.size))
            for level, (feat, stride) in enumerate(zip(feats, self.strides)):
                idx = torch.where(levels == level)[0]
                if len(idx):
                    out[idx] = roi_align(feat, rois[idx], self.size, spatial_scale=1.0 / stride,
                                         sampling_ratio=self.sampling_ratio, aligned=True).to(out.dtype)
            return out

    return _MMDetRoIPool


def build_mmdet_compatible_faster_rcnn(score_thr: float = 0.05, min_size: int = 800, max_size: int = 1333):
    """torchvision Faster R-CNN R50-FPN with 81 classes, mmdet 2.x anchors and RoIAlign (random init, eval mode)."""
    anchors = _anchor_generator_class()(((32,), (64,), (128,), (256,), (512,)), ((0.5, 1.0, 2.0),) * 5)
    return build_faster_rcnn(81, score_thr=score_thr, min_size=min_size, max_size=max_size,
                             rpn_anchor_generator=anchors, box_roi_pool=_roi_pool_class()())


class _MMDetNative(Detector):
    """The checkpoint run by an installed mmdet (2.x or 3.x) itself; mmdet expects BGR images."""

    def __init__(self, config: Path, checkpoint: Path, device: str, score_thr: float):
        from mmdet.apis import init_detector

        self.model = init_detector(str(config), str(checkpoint), device=device)
        self.score_thr = score_thr

    def detect(self, images: list[np.ndarray]) -> list[np.ndarray]:
        from mmdet.apis import inference_detector

        check_images(images)
        results = []
        for img in images:
            res = inference_detector(self.model, np.ascontiguousarray(img[:, :, ::-1]))
            if hasattr(res, "pred_instances"):  # mmdet 3.x DetDataSample
                inst = res.pred_instances
                keep = inst.labels == MMDET_PERSON_INDEX
                boxes = np.concatenate([inst.bboxes[keep].cpu().numpy(), inst.scores[keep, None].cpu().numpy()], 1)
            else:  # mmdet 2.x: per-class list of (n, 5), optionally (bboxes, masks)
                boxes = np.asarray((res[0] if isinstance(res, tuple) else res)[MMDET_PERSON_INDEX])
            boxes = boxes[boxes[:, 4] >= self.score_thr] if len(boxes) else np.zeros((0, 5))
            results.append(boxes[np.argsort(-boxes[:, 4], kind="stable")].astype(np.float32))
        return results


def _mmdet_config(config: str | Path | None) -> Path | None:
    if config is not None:
        return Path(config)
    import mmdet

    root = Path(mmdet.__file__).parent / ".mim" / "configs" / "faster_rcnn"
    for name in ("faster-rcnn_r50_fpn_1x_coco.py", "faster_rcnn_r50_fpn_1x_coco.py"):
        if (root / name).is_file():
            return root / name
    return None


def build_mmdet_detector(model_dir: str | Path | None, device: str = "cpu", backend: str = "auto",
                         score_thr: float = 0.05, min_size: int = 800, max_size: int = 1333, batch_size: int = 2,
                         config: str | Path | None = None) -> Detector:
    """The "mmdet" backend: `model_dir/faster_rcnn_r50_fpn_1x_coco_20200130-047c8118.pth`, person = mmdet class 0.

    Args:
        model_dir: folder holding the checkpoint.
        device: torch device.
        backend: "auto" (mmdet when importable, else conversion), "convert" or "mmdet".
        score_thr, min_size, max_size, batch_size: test settings of the converted model (see `build_faster_rcnn`).
        config: mmdet config file for the native path (default: the one bundled with mmdet).

    Raises:
        FileNotFoundError: the checkpoint is missing.
        ValueError: an unknown backend, backend="mmdet" without mmdet, or a checkpoint that does not convert.
    """
    if backend not in ("auto", "convert", "mmdet"):
        raise ValueError(f"unknown mmdet backend {backend!r}; choose auto, convert or mmdet")
    path = find_weights(model_dir, MMDET_WEIGHTS, MMDET_URL, "mmdet Faster R-CNN (SMPLer-X's detector)")
    has_mmdet = importlib.util.find_spec("mmdet") is not None
    if backend == "mmdet" and not has_mmdet:
        raise ValueError("backend='mmdet' but mmdet is not installed; use backend='convert' (needs no mmdet)")
    if backend != "convert" and has_mmdet:
        cfg = _mmdet_config(config)
        if cfg is not None:
            log.info("running %s through mmdet with %s", path, cfg)
            return _MMDetNative(cfg, path, device, score_thr)
        log.warning("mmdet is installed but ships no Faster R-CNN config; converting %s instead", path)
    try:
        state = convert_mmdet_state_dict(load_weights_file(path))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not an mmdet Faster R-CNN R50-FPN checkpoint ({exc})") from exc
    model = build_mmdet_compatible_faster_rcnn(score_thr=score_thr, min_size=min_size, max_size=max_size)
    load_strict(model, state, path)
    log.info("mmdet Faster R-CNN converted from %s", path)
    return RCNNDetector(model, device=device, person_label=CONVERTED_PERSON_LABEL, batch_size=batch_size)
