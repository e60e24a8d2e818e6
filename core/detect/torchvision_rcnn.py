"""Faster R-CNN R50-FPN person detector on torchvision's implementation (the "torchvision" backend).

The network is `torchvision.models.detection.fasterrcnn_resnet50_fpn` built with weights=None and filled from
torchvision's COCO weights file in the model directory (nothing is downloaded). The same wrapper also runs the seed's
mmdet checkpoint once converted (see `mmdet_convert.py`). Its test settings equal mmdet's Faster R-CNN test config
used by the reference: resize to short side 800 / long side <= 1333, score > 0.05, per-class NMS 0.5, <= 100 boxes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .base import Detector, check_images

__all__ = ["RCNNDetector", "build_faster_rcnn", "build_torchvision_detector", "load_weights_file", "load_strict",
           "find_weights", "TORCHVISION_WEIGHTS", "TORCHVISION_URL", "COCO_PERSON_LABEL"]

log = logging.getLogger(__name__)

TORCHVISION_WEIGHTS = "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"
TORCHVISION_URL = f"https://download.pytorch.org/models/{TORCHVISION_WEIGHTS}"
COCO_PERSON_LABEL = 1  # torchvision's labels are COCO category ids, 0 = background


class RCNNDetector(Detector):
    """Runs a torchvision detection model and keeps one label (a person).

    Args:
        model: a torchvision detection model in eval mode (takes a list of CHW float [0, 1] tensors).
        device: torch device the model lives on.
        person_label: the label the model gives people.
        batch_size: images per forward pass.
    """

    def __init__(self, model, device: str = "cpu", person_label: int = COCO_PERSON_LABEL, batch_size: int = 2):
        self.model = model.eval().to(device)
        self.device = device
        self.person_label = person_label
        self.batch_size = batch_size

    def detect(self, images: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        check_images(images)
        results = []
        for i in range(0, len(images), self.batch_size):
            batch = [torch.from_numpy(np.ascontiguousarray(img)).to(self.device).permute(2, 0, 1).float() / 255
                     for img in images[i:i + self.batch_size]]
            with torch.inference_mode():
                outputs = self.model(batch)
            for out in outputs:
                keep = out["labels"] == self.person_label
                boxes = torch.cat([out["boxes"][keep], out["scores"][keep, None]], dim=1)
                results.append(boxes.float().cpu().numpy())
        return results


def build_faster_rcnn(num_classes: int = 91, score_thr: float = 0.05, nms_thr: float = 0.5, max_per_img: int = 100,
                      min_size: int = 800, max_size: int = 1333, **model_kwargs):
    """torchvision's Faster R-CNN R50-FPN at random init, eval mode, test settings as keywords.

    Args:
        num_classes: classifier outputs including background (91 for torchvision COCO, 81 for converted mmdet).
        score_thr, nms_thr, max_per_img: box head test settings.
        min_size, max_size: resize so the short side is min_size unless the long side would pass max_size.
        **model_kwargs: passed to FasterRCNN (e.g. rpn_anchor_generator, box_roi_pool).
    """
    from torchvision.models.detection import fasterrcnn_resnet50_fpn

    model = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=num_classes,
                                    box_score_thresh=score_thr, box_nms_thresh=nms_thr,
                                    box_detections_per_img=max_per_img, min_size=min_size, max_size=max_size,
                                    **model_kwargs)
    return model.eval()


def find_weights(model_dir: str | Path | None, filename: str, url: str, what: str) -> Path:
    """The weights file `model_dir/filename`, or FileNotFoundError saying where to get it and where to put it."""
    if model_dir is not None:
        path = Path(model_dir) / filename
        if path.is_file():
            return path
        where = f"{path} is missing"
    else:
        where = "no model directory was given"
    raise FileNotFoundError(f"{what} weights not found: {where}. Download {url} and put {filename} into the "
                            "model directory (the folder passed as model_dir / --model-dir).")


def load_weights_file(path: Path) -> dict:
    """Read a checkpoint with torch.load(weights_only=True); unwrap a {"state_dict": ...} or {"model": ...} dict."""
    import torch

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged file or one holding pickled objects beyond tensors and plain containers
        raise ValueError(f"{path}: cannot read as a weights-only torch checkpoint ({exc})") from exc
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(hasattr(v, "shape") for v in obj.values()):
        raise ValueError(f"{path}: expected a dict of tensors (a state dict), got {type(obj).__name__}")
    return obj


def load_strict(model, state_dict: dict, path: Path) -> None:
    """Load strictly; ValueError naming the file and the missing/unexpected/mis-shaped keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        raise ValueError(f"{path}: does not fit the Faster R-CNN R50-FPN model: missing {missing[:5]} "
                         f"({len(missing)}), unexpected {unexpected[:5]} ({len(unexpected)}), "
                         f"wrong shapes {shapes[:5]} ({len(shapes)})")
    model.load_state_dict(state_dict, strict=True)  # BatchNorm fills in num_batches_tracked when absent


def build_torchvision_detector(model_dir: str | Path | None, device: str = "cpu", score_thr: float = 0.05,
                               min_size: int = 800, max_size: int = 1333, batch_size: int = 2) -> RCNNDetector:
    """The "torchvision" backend: `model_dir/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth`, COCO label 1 = person.

    Raises:
        FileNotFoundError: the weights file is missing.
        ValueError: the file is not that model's state dict.
    """
    path = find_weights(model_dir, TORCHVISION_WEIGHTS, TORCHVISION_URL, "torchvision Faster R-CNN")
    model = build_faster_rcnn(91, score_thr=score_thr, min_size=min_size, max_size=max_size)
    load_strict(model, load_weights_file(path), path)
    log.info("torchvision Faster R-CNN loaded from %s", path)
    return RCNNDetector(model, device=device, person_label=COCO_PERSON_LABEL, batch_size=batch_size)
