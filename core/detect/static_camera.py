"""People as moving foreground on a fixed camera: a background-subtraction detector that needs no weights.

For tripod shots this is a weight-free alternative to Faster R-CNN. `fit` builds the background as the per-pixel
temporal median of a sample of frames (every `every`-th frame, at most `max_samples`, consumed lazily so a long video
is never held in memory). `detect` thresholds the largest per-channel |frame - background| difference, cleans the
mask with a morphological opening (removes speckle) and closing (joins a body split by clothes that match the
background), and returns one box per connected component that is large enough.

Limits: a person who stands still in most sampled frames becomes background; camera motion, lighting changes and
shadows give false boxes. The score is the fraction of the box covered by foreground pixels, in (0, 1].
"""

from __future__ import annotations

import itertools
import logging
from typing import Iterable

import numpy as np

from .base import Detector, check_images

__all__ = ["StaticCameraDetector", "median_background"]

log = logging.getLogger(__name__)


def median_background(samples: list[np.ndarray], rows_per_chunk: int = 32) -> np.ndarray:
    """Per-pixel temporal median of (H, W, 3) uint8 frames, computed in row chunks to bound memory.

    Returns:
        (H, W, 3) uint8 background.
    """
    stack_shape = samples[0].shape
    background = np.empty(stack_shape, np.uint8)
    for r in range(0, stack_shape[0], rows_per_chunk):
        chunk = np.stack([s[r:r + rows_per_chunk] for s in samples])
        background[r:r + rows_per_chunk] = np.median(chunk, axis=0).round().astype(np.uint8)
    return background


class StaticCameraDetector(Detector):
    """Background-subtraction person detector for a static camera.

    Args:
        every: sample every every-th frame given to `fit`.
        max_samples: at most this many samples for the median.
        threshold: a pixel is foreground when its largest channel difference exceeds this (0..255).
        open_frac, close_frac: opening / closing kernel sizes as fractions of the image height (at least 1 px).
        min_area_frac: components smaller than this fraction of the image area are dropped.
        min_w, min_h: components narrower / lower than this (px) are dropped.
    """

    needs_fit = True

    def __init__(self, every: int = 10, max_samples: int = 50, threshold: float = 30.0, open_frac: float = 0.01,
                 close_frac: float = 0.03, min_area_frac: float = 0.002, min_w: float = 4, min_h: float = 4):
        if every < 1 or max_samples < 3:
            raise ValueError(f"need every >= 1 and max_samples >= 3, got every={every}, max_samples={max_samples}")
        self.every, self.max_samples, self.threshold = every, max_samples, threshold
        self.open_frac, self.close_frac = open_frac, close_frac
        self.min_area_frac, self.min_w, self.min_h = min_area_frac, min_w, min_h
        self.background: np.ndarray | None = None

    def fit(self, frames: Iterable) -> "StaticCameraDetector":
        """Learn the background from every `every`-th of `frames` (arrays or `Frame`s), reading no more than needed.

        Only the first every x max_samples frames are read. To spread the samples over a whole long video, pass a
        strided source with every=1, e.g. `open_video(path, stride=max(1, total_frames // max_samples))`.
        """
        picked = itertools.islice(frames, 0, self.every * self.max_samples, self.every)
        samples = [getattr(f, "image", f) for f in picked]
        if not samples:
            raise ValueError("static-camera detector: fit() got no frames")
        check_images(samples)
        if len(samples) < 3:
            log.warning("static-camera background from only %d frames; moving people may stay in it", len(samples))
        if len({s.shape for s in samples}) != 1:
            raise ValueError("static-camera detector: fit() frames differ in size")
        self.background = median_background(samples)
        return self

    def foreground_mask(self, image: np.ndarray) -> np.ndarray:
        """(H, W) bool foreground of one (H, W, 3) uint8 RGB image after morphology."""
        import cv2

        diff = cv2.absdiff(image, self.background).max(axis=2)
        mask = (diff > self.threshold).astype(np.uint8)
        h = image.shape[0]
        for op, frac in ((cv2.MORPH_OPEN, self.open_frac), (cv2.MORPH_CLOSE, self.close_frac)):
            k = max(1, int(round(frac * h)))
            mask = cv2.morphologyEx(mask, op, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        return mask.astype(bool)

    def detect(self, images: list[np.ndarray]) -> list[np.ndarray]:
        import cv2

        if self.background is None:
            raise RuntimeError("static-camera detector: call fit(frames) before detect()")
        check_images(images)
        results = []
        for img in images:
            if img.shape != self.background.shape:
                raise ValueError(f"image of shape {img.shape} does not match the fitted background "
                                 f"{self.background.shape}")
            n, _, stats, _ = cv2.connectedComponentsWithStats(self.foreground_mask(img).astype(np.uint8), 8)
            x, y, w, h, area = (stats[1:, i].astype(np.float32) for i in range(5))
            keep = (area >= self.min_area_frac * img.shape[0] * img.shape[1]) & (w >= self.min_w) & (h >= self.min_h)
            boxes = np.stack([x, y, x + w, y + h, area / (w * h)], axis=1)[keep]
            results.append(boxes[np.argsort(-boxes[:, 4], kind="stable")].astype(np.float32))
        return results
