"""The reference's person-box selection rules (SMPLer-X `main/inference.py`, `common/utils/inference_utils.py`).

- Single person (the reference default): the largest-area box whatever its score; a frame whose largest box is
  smaller than min_w x min_h (50 x 150 px for `--bbox_thr 50`) gets no box; there is no fall back to the next one.
- Multi person: greedy NMS in score order with the reference's +1-pixel IoU, then the same size filter. The
  reference applies no score threshold here (score_thr=0 reproduces it).

Boxes are float (n, 5) arrays: x1, y1, x2, y2 in pixels, score.
"""

from __future__ import annotations

import numpy as np

__all__ = ["select_largest", "select_people", "nms", "box_area"]


def _as_boxes(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float32)
    if boxes.size == 0:
        return np.zeros((0, 5), np.float32)
    if boxes.ndim != 2 or boxes.shape[1] != 5:
        raise ValueError(f"boxes must be (n, 5) x1, y1, x2, y2, score; got shape {boxes.shape}")
    return boxes


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Areas |x2 - x1| * |y2 - y1| of (n, >=4) boxes, as the reference sorts them (no +1)."""
    return np.abs(boxes[:, 2] - boxes[:, 0]) * np.abs(boxes[:, 3] - boxes[:, 1])


def _big_enough(boxes: np.ndarray, min_w: float, min_h: float) -> np.ndarray:
    return (np.abs(boxes[:, 2] - boxes[:, 0]) >= min_w) & (np.abs(boxes[:, 3] - boxes[:, 1]) >= min_h)


def select_largest(boxes: np.ndarray, min_w: float = 50, min_h: float = 150) -> np.ndarray:
    """The reference's single-person rule.

    Args:
        boxes: (n, 5) detections of one frame.
        min_w, min_h: minimum width and height in pixels of the chosen box.

    Returns:
        (1, 5) the largest-area box, or (0, 5) when there is none or it is too small.
    """
    boxes = _as_boxes(boxes)
    if len(boxes) == 0:
        return boxes
    best = boxes[int(np.argmax(box_area(boxes)))][None]
    return best if _big_enough(best, min_w, min_h)[0] else np.zeros((0, 5), np.float32)


def nms(boxes: np.ndarray, iou_thr: float) -> np.ndarray:
    """Greedy non-maximum suppression with the +1-pixel IoU of the reference (py_cpu_nms style).

    Args:
        boxes: (n, 5) boxes with scores.
        iou_thr: a box is dropped when its IoU with a kept, higher-scoring box is above this.

    Returns:
        (k,) int indices of the kept boxes, in descending score order.
    """
    boxes = _as_boxes(boxes).astype(np.float64)
    x1, y1, x2, y2, score = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-score, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[iou <= iou_thr]
    return np.asarray(keep, dtype=np.int64)


def select_people(boxes: np.ndarray, score_thr: float = 0.0, iou_thr: float = 0.5, min_w: float = 50,
                  min_h: float = 150) -> np.ndarray:
    """The reference's multi-person rule, with an optional score threshold first.

    Args:
        boxes: (n, 5) detections of one frame.
        score_thr: boxes scoring below this are dropped before NMS (the reference uses none: 0).
        iou_thr: NMS IoU threshold (reference default 0.5).
        min_w, min_h: minimum box size in pixels kept after NMS.

    Returns:
        (k, 5) kept boxes in descending score order.
    """
    boxes = _as_boxes(boxes)
    boxes = boxes[boxes[:, 4] >= score_thr]
    kept = boxes[nms(boxes, iou_thr)] if len(boxes) else boxes
    return kept[_big_enough(kept, min_w, min_h)]
