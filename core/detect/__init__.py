"""Person detection: a small batched `Detector` interface, three backends and the reference's box selection rules.

Backends (`build_detector(name, ...)`):
- "torchvision": torchvision's Faster R-CNN R50-FPN with its COCO weights file from the model directory.
- "mmdet": the SMPLer-X seed's mmdet checkpoint, through mmdet when installed, else converted into torchvision's model.
- "static-camera": background subtraction for a fixed camera; needs no weights.

Importing this package needs numpy only: torch, torchvision and cv2 load inside the backends.
"""

from .base import DETECTOR_NAMES, Detector, build_detector, detect_stream
from .select import nms, select_largest, select_people
from .static_camera import StaticCameraDetector

__all__ = ["DETECTOR_NAMES", "Detector", "StaticCameraDetector", "build_detector", "detect_stream", "nms",
           "select_largest", "select_people"]
