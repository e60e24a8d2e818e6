"""The detector interface and the factory that picks a backend by name."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np

if TYPE_CHECKING:
    from ..video import Frame

__all__ = ["Detector", "build_detector", "detect_stream", "DETECTOR_NAMES", "check_images"]

DETECTOR_NAMES = ("torchvision", "mmdet", "static-camera")


class Detector:
    """Finds people in RGB images.

    Attributes:
        needs_fit: True when `fit` must see frames of the video before `detect` (the static-camera backend).
    """

    needs_fit: bool = False

    def fit(self, frames: Iterable) -> "Detector":
        """Learn per-video state from a sample of frames (HxWx3 uint8 RGB arrays or `core.video.Frame`s).

        The default does nothing; backends that need it override it.
        """
        return self

    def detect(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Detect people in a batch of images.

        Args:
            images: list of (H, W, 3) uint8 RGB arrays (sizes may differ).

        Returns:
            One float32 (n, 5) array per image: x1, y1, x2, y2 in pixels of that image, then a score in [0, 1];
            rows in descending score order.
        """
        raise NotImplementedError


def check_images(images: list[np.ndarray]) -> None:
    """Raise ValueError unless `images` is a list of (H, W, 3) uint8 arrays."""
    if isinstance(images, np.ndarray):
        raise ValueError("detect() takes a list of images, got one array; wrap it: detect([image])")
    for i, img in enumerate(images):
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            desc = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
            raise ValueError(f"image {i}: expected an (H, W, 3) uint8 RGB array, got {desc}")


def build_detector(name: str, model_dir: str | Path | None = None, device: str = "cpu", **opts) -> Detector:
    """Build a person detector by name.

    Args:
        name: "torchvision", "mmdet" or "static-camera".
        model_dir: folder holding the weights file (torchvision and mmdet backends).
        device: torch device for the network backends.
        **opts: backend options (see each backend's builder: score_thr, min_size, max_size, ... ; for
            static-camera: every, max_samples, threshold, ...).

    Raises:
        ValueError: unknown name.
        FileNotFoundError: the weights file is missing (the message says where to get it and where to put it).
    """
    if name == "torchvision":
        from .torchvision_rcnn import build_torchvision_detector

        return build_torchvision_detector(model_dir, device=device, **opts)
    if name == "mmdet":
        from .mmdet_convert import build_mmdet_detector

        return build_mmdet_detector(model_dir, device=device, **opts)
    if name == "static-camera":
        from .static_camera import StaticCameraDetector

        return StaticCameraDetector(**opts)
    raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(DETECTOR_NAMES)}")


def detect_stream(detector: Detector, frames: Iterable[Frame], batch_size: int = 4
                  ) -> Iterator[tuple[Frame, np.ndarray]]:
    """Run a detector over a stream of `core.video.Frame`s in batches, holding at most one batch in memory.

    Yields:
        (frame, boxes) pairs in input order; boxes (n, 5) float32 as `Detector.detect` returns them.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    it = iter(frames)
    while batch := list(itertools.islice(it, batch_size)):
        yield from zip(batch, detector.detect([f.image for f in batch]))
