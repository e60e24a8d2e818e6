"""Identity-stable person tracks from per-frame boxes (SORT-style; the reference has no tracking).

Each frame, live tracks predict their box with a constant-velocity model (box corners move by the track's velocity in
px per frame index), and detections are assigned to the predictions by the Hungarian method
(`scipy.optimize.linear_sum_assignment`) on 1 - IoU; pairs below `iou_thr` IoU stay unassigned. An unassigned
detection starts a new track. A track missing for more than `max_gap` consecutive processed frames ends.

Gaps of up to `max_gap` processed frames inside a track are bridged: the missing frames get boxes linearly
interpolated in time between the detections on either side, score 0 and `interpolated = True`. A person who is away
longer than `max_gap` (leaves the picture and comes back) gets a NEW track id: there is no appearance
re-identification. Tracks with fewer than `min_length` detected frames are dropped, and the survivors are numbered
0, 1, ... in order of first appearance.

Boxes are xyxy pixels of the original video; frame indices are those of `core.video.Frame.index`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

__all__ = ["Track", "track_boxes", "select_tracks", "iou_matrix", "summed_box_area", "match_boxes"]


def summed_box_area(boxes: np.ndarray) -> float:
    """Sum of the (n, >=4) xyxy boxes' areas in px^2: how prominent a person is over the video. The one "largest
    person" rule: the tracker's `select_tracks(..., "largest")` and the Blender import's People = Largest use it."""
    b = np.asarray(boxes, np.float64)
    if b.size == 0:
        return 0.0
    b = b.reshape(-1, b.shape[-1])
    return float(((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).sum())


@dataclass
class Track:
    """One person over time.

    Attributes:
        track_id: identity, 0-based in order of first appearance.
        frames: (N,) int frame indices, strictly increasing (every processed frame from first to last detection).
        boxes: (N, 4) float32 xyxy px.
        scores: (N,) float32 detector scores (0 where interpolated).
        interpolated: (N,) bool, True where the box was filled in across a gap.
    """

    track_id: int
    frames: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    interpolated: np.ndarray

    @property
    def num_detected(self) -> int:
        return int((~self.interpolated).sum())

    def total_area(self) -> float:
        """Sum of detected box areas in px^2 (how prominent the person is over the video)."""
        return summed_box_area(self.boxes[~self.interpolated])


@dataclass
class _Live:
    serial: int  # creation order: ids follow first appearance, then detection order within a frame
    steps: list = field(default_factory=list)    # processed-frame positions with a detection
    boxes: list = field(default_factory=list)
    scores: list = field(default_factory=list)
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))

    def predict(self, frame: float, last_frame: float) -> np.ndarray:
        return self.boxes[-1] + self.velocity * (frame - last_frame)


def _area(x: np.ndarray) -> np.ndarray:
    return np.clip(x[..., 2] - x[..., 0], 0, None) * np.clip(x[..., 3] - x[..., 1], 0, None)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between (n, >=4) and (m, >=4) xyxy boxes (continuous coordinates) -> (n, m)."""
    a, b = np.asarray(a, np.float64)[:, None, :4], np.asarray(b, np.float64)[None, :, :4]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    union = _area(a) + _area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_boxes(predicted: np.ndarray, detected: np.ndarray, iou_thr: float = 0.3) -> list[tuple[int, int]]:
    """The tracker's assignment: Hungarian method on 1 - IoU, pairs under `iou_thr` IoU left unassigned.

    Args:
        predicted: (n, >=4) xyxy boxes where the tracks expect their person.
        detected: (m, >=4) xyxy detections.

    Returns:
        (track row, detection row) pairs.
    """
    from scipy.optimize import linear_sum_assignment

    if len(predicted) == 0 or len(detected) == 0:
        return []
    iou = iou_matrix(predicted, detected)
    rows, cols = linear_sum_assignment(1.0 - iou)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if iou[r, c] >= iou_thr]


def _finish(live: _Live, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    steps = np.asarray(live.steps)
    span = np.arange(steps[0], steps[-1] + 1)
    t = frames[span].astype(np.float64)
    known_t = frames[steps].astype(np.float64)
    boxes = np.asarray(live.boxes)
    interp = np.stack([np.interp(t, known_t, boxes[:, k]) for k in range(4)], axis=1)
    scores = np.zeros(len(span), np.float32)
    scores[steps - steps[0]] = live.scores
    mask = np.ones(len(span), bool)
    mask[steps - steps[0]] = False
    return frames[span].astype(np.int64), interp.astype(np.float32), scores, mask


def track_boxes(detections: Sequence[np.ndarray], frame_indices: Sequence[int] | None = None, iou_thr: float = 0.3,
                max_gap: int = 10, min_length: int = 5, score_thr: float = 0.0) -> list[Track]:
    """Link per-frame person boxes into tracks.

    Args:
        detections: one (n_t, 5) array per processed frame: x1, y1, x2, y2 px, score.
        frame_indices: (T,) strictly increasing frame index of each processed frame (default 0..T-1); with a stride
            the velocity stays in px per frame index.
        iou_thr: least IoU between a track's predicted box and a detection for them to match.
        max_gap: most consecutive processed frames a track may miss and still continue (bridged by interpolation).
        min_length: least number of detected frames a track needs to be kept.
        score_thr: detections scoring below this are ignored.

    Returns:
        Tracks numbered 0.. in order of first appearance.

    Raises:
        ValueError: mismatched lengths, non-increasing frame indices or malformed boxes.
    """
    frames = np.arange(len(detections)) if frame_indices is None else np.asarray(frame_indices, dtype=np.int64)
    if len(frames) != len(detections):
        raise ValueError(f"{len(detections)} detection arrays but {len(frames)} frame indices")
    if len(frames) > 1 and np.any(np.diff(frames) <= 0):
        raise ValueError("frame_indices must be strictly increasing")
    live: list[_Live] = []
    done: list[_Live] = []
    serial = 0
    for step, dets in enumerate(detections):
        dets = np.asarray(dets, np.float64).reshape(-1, 5) if np.size(dets) else np.zeros((0, 5))
        dets = dets[dets[:, 4] >= score_thr]
        still = []
        for tr in live:  # end tracks that have been missing too long
            (still if step - tr.steps[-1] - 1 <= max_gap else done).append(tr)
        live = still
        matched_dets: set[int] = set()
        if live and len(dets):
            preds = np.stack([tr.predict(frames[step], frames[tr.steps[-1]]) for tr in live])
            for r, c in match_boxes(preds, dets, iou_thr):
                tr = live[r]
                new_v = (dets[c, :4] - tr.boxes[-1]) / (frames[step] - frames[tr.steps[-1]])
                tr.velocity = new_v if len(tr.steps) == 1 else 0.5 * tr.velocity + 0.5 * new_v
                tr.steps.append(step)
                tr.boxes.append(dets[c, :4])
                tr.scores.append(dets[c, 4])
                matched_dets.add(c)
        for c in range(len(dets)):
            if c not in matched_dets:
                live.append(_Live(serial, steps=[step], boxes=[dets[c, :4]], scores=[dets[c, 4]]))
                serial += 1
    done.extend(live)
    kept = sorted((tr for tr in done if len(tr.steps) >= min_length), key=lambda tr: tr.serial)
    return [Track(i, *_finish(tr, frames)) for i, tr in enumerate(kept)]


def select_tracks(tracks: list[Track], people: str | Sequence[int] = "all") -> list[Track]:
    """Choose whom to reconstruct.

    Args:
        tracks: from `track_boxes`.
        people: "all"; "largest" (the one track with the largest summed detected box area, i.e. the most prominent
            person over the video; an empty list when there are no tracks); or a list of track ids.

    Raises:
        ValueError: an unknown option or track id.
    """
    if isinstance(people, str):
        if people == "all":
            return list(tracks)
        if people == "largest":
            return [max(tracks, key=Track.total_area)] if tracks else []
        raise ValueError(f"people must be 'all', 'largest' or a list of track ids, got {people!r}")
    by_id = {t.track_id: t for t in tracks}
    unknown = [i for i in people if i not in by_id]
    if unknown:
        raise ValueError(f"track ids {unknown} not found; the tracks are {sorted(by_id)}")
    return [by_id[i] for i in people]
