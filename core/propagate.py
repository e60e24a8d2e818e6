"""Sparse detection: the person detector runs on keyframes only; between them each person's box comes from the
network's own 2D body joints on the previous frame (the way MediaPipe's pose tracking and the video demos of
ViTPose-style top-down methods crop the next frame). The reference detects every frame; on a CPU its Faster R-CNN
costs about 15 times the S32 regression of one person, so detection, not SMPLer-X, set the end-to-end rate.

One loop over the frames, decoded once on a background thread (the box of frame t+1 needs the output of frame t):
1. Each live track predicts its box: the bounding box of its 65 joints of the previous frame (`joint_img`: 25 body
   joints and 2 × 20 hand joints, mapped from heat-map units through the crop's inverse affine to image pixels),
   grown by the offsets that the last detection had around the joints the network found in it (per track: where
   this detector puts its box around this person), and moved by the body's smoothed velocity (constant-velocity
   model; the body is the mean of the joints other than elbows and wrists). `core.crop.process_bbox` then makes the
   crop from it as from a detection (aspect 3:4, ×1.25). Measured on the demo video, these boxes give crops within
   2% (rms) of the per-frame detections' in place and size; a box anchored on the body alone, without the arms,
   moved the crop centre by up to 10% of the person's height when the arms moved, and the pose error grew by 4 mm.
2. The frame is a keyframe, and the detector runs, when: it is the first; `interval` video frames have passed
   (the interval doubles, up to `max_interval`, after each keyframe that found every track where its joints said and
   nobody new; it falls back to `min_interval` otherwise; it counts video frames, so that with a frame stride the
   people move as far between keyframes; `detect_every` fixes it in processed frames); a track looked doubtful on the
   previous frame (the box its joints now call for overlaps the box it was cropped from under `drift_iou`, a body
   joint lies outside that box, the body's size jumped, or the box left the image or fell under the smallest
   person size); two tracks' boxes overlap; a track missed a detection (then every frame is detected until it is
   found again or it ends); or the entry watch saw something new.
3. On a keyframe the detections are assigned to the predicted boxes by the tracker's rule (`core.track.match_boxes`,
   Hungarian on IoU): a matched track is cropped from its detection, an unmatched detection starts a track, an
   unmatched track keeps its predicted box and is in doubt. A track in doubt for more than `max_gap` processed
   frames ends; its frames after the last one that was detected or confidently followed are dropped. A person away
   longer than that comes back with a new id, as with per-frame detection.
4. All tracks of a frame are cropped and regressed in one batch.

The entry watch is the cheap check for a person entering between keyframes: the frame at about 180 px height
against a background (the static-camera detector's when that is the detector, else a running average learned
outside the tracked boxes); a foreground blob outside every tracked box that is as large as the smallest person
the selection keeps triggers a detection. After a false alarm (no new person found) only a blob a tenth larger
raises it again within the next interval, so a moving camera costs few extra detections.

Propagated frames carry the track's last detection score (the smoother weighs frames by score).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from .track import Track, iou_matrix, match_boxes

__all__ = ["SparseSettings", "SparseStats", "SparseTracker", "track_and_regress", "joints_to_image", "body_anchor",
           "extent_offsets", "box_from_extent", "EntryWatch", "BODY_JOINTS"]

log = logging.getLogger(__name__)

BODY_JOINTS = 25  # the body position joints at the front of `joint_img` (pelvis ... nose); hands follow
# the joints whose place and spread follow the whole body: all but elbows and wrists (arms move on their own)
_ANCHOR_JOINTS = np.array([j for j in range(BODY_JOINTS) if j not in (10, 11, 12, 13)])
_OUTSIDE = 0.1  # a joint further outside its crop's box than this × the body's size: the box has drifted
_KEEP = ("smplx_root_pose", "smplx_body_pose", "smplx_lhand_pose", "smplx_rhand_pose", "smplx_jaw_pose",
         "smplx_shape", "smplx_expr", "cam_trans")


@dataclass(frozen=True)
class SparseSettings:
    """When to run the detector.

    Attributes:
        detect_every: fixed keyframe interval in processed frames (1: every frame); 0: adaptive.
        min_interval, max_interval: bounds of the adaptive interval, video frames.
        drift_iou: a track is re-detected when the box its joints now call for overlaps the box it was cropped
            from less than this ...
        size_change: ... or when its body's size changes by more than this factor from the previous frame.
        steady_iou: a keyframe counts as steady when every predicted box overlaps its detection at least this much.
        crowd_iou: two tracks' boxes overlapping more than this are re-detected every frame (a crop holding two
            people may follow the wrong one).
        match_iou: least IoU between a predicted box and a detection to match them (as `core.track`).
    """

    detect_every: int = 0
    min_interval: int = 8
    max_interval: int = 16
    drift_iou: float = 0.6
    size_change: float = 1.5
    steady_iou: float = 0.6
    crowd_iou: float = 0.1
    match_iou: float = 0.3

    def __post_init__(self) -> None:
        if self.detect_every < 0 or not 1 <= self.min_interval <= self.max_interval:
            raise ValueError(f"detect_every must be >= 0 (0: adaptive) and 1 <= min_interval <= max_interval; got "
                             f"{self.detect_every}, {self.min_interval}, {self.max_interval}")


@dataclass
class SparseStats:
    """What the loop did: frames, detector calls and why, seconds per stage."""

    frames: int = 0
    detector_calls: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def add_time(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds


# ---------------------------------------------------------------------------------------------- box geometry
def joints_to_image(joint_img: np.ndarray, bb2img: np.ndarray) -> np.ndarray:
    """Body joints from heat-map units to original image pixels (the reference's joint_img → crop → image).

    Args:
        joint_img: (B, J, >=2) x in [0, 12), y in [0, 16): body heat-map units of the 512×384 crop.
        bb2img: (B, 2, 3) crop → image affine matrices (`core.crop.CropBatch.bb2img`).

    Returns:
        (B, J, 2) image pixels.
    """
    from .model.config import INPUT_IMG_SHAPE
    from .model.heads import BODY_HM

    scale = np.array([INPUT_IMG_SHAPE[1] / BODY_HM[2], INPUT_IMG_SHAPE[0] / BODY_HM[1]])
    crop = np.asarray(joint_img, np.float64)[..., :2] * scale
    m = np.asarray(bb2img, np.float64)
    return np.einsum("bjk,bik->bji", crop, m[:, :, :2]) + m[:, None, :, 2]


def body_anchor(points: np.ndarray) -> np.ndarray:
    """Where the body is and how big: (25, 2) body joints px → (3,) centre x, y and size (the larger side of the
    joints' bounding box), from the joints other than elbows and wrists."""
    p = np.asarray(points, np.float64)[_ANCHOR_JOINTS]
    return np.array([*p.mean(0), max(float((p.max(0) - p.min(0)).max()), 1.0)])


def extent_offsets(box: np.ndarray, points: np.ndarray) -> np.ndarray:
    """`box` (4,) xyxy relative to the bounding box of all `points` (J, 2), × that box's height: where the detector
    puts a person's box around all of their joints (arms included)."""
    ext = np.concatenate([points.min(0), points.max(0)])
    return (np.asarray(box, np.float64) - ext) / max(ext[3] - ext[1], 1.0)


def box_from_extent(points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The inverse of `extent_offsets`: (J, 2) points and (4,) offsets → (4,) xyxy."""
    ext = np.concatenate([points.min(0), points.max(0)])
    return ext + offsets * max(ext[3] - ext[1], 1.0)


def _inside(box: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(4,) xyxy clipped to the image (w, h)."""
    return np.clip(box, 0, [size[0], size[1], size[0], size[1]])


# ---------------------------------------------------------------------------------------------- entry watch
class EntryWatch:
    """Flags a person who may have entered between keyframes: a large foreground blob outside every tracked box.

    Args:
        size: (width, height) of the video.
        background: (H, W, 3) uint8 fixed background (the static-camera detector's), or None to learn a running
            average outside the tracked boxes.
        min_box: (w, h) smallest person box in video pixels (the selection rule's): a blob's box must be at least
            0.9 of it both ways (smaller people would not be kept anyway) and the blob cover a quarter of its area.
        height: working height in pixels.
        threshold: per-channel difference (0..255) for a foreground pixel.
        rate: running-average update rate per frame.
    """

    def __init__(self, size: tuple[int, int], background: np.ndarray | None, min_box: tuple[float, float],
                 height: int = 180, threshold: float = 30.0, rate: float = 0.05) -> None:
        self.scale = min(1.0, height / size[1])
        self.small = (max(1, round(size[0] * self.scale)), max(1, round(size[1] * self.scale)))
        self.threshold, self.rate = threshold, rate
        self.min_area = 0.25 * min_box[0] * min_box[1] * self.scale ** 2
        self.min_w, self.min_h = 0.9 * min_box[0] * self.scale, 0.9 * min_box[1] * self.scale
        self.learn = background is None
        self.background = None if background is None else self._shrink(background).astype(np.float32)
        self.known = None if background is None else np.ones(self.small[::-1], bool)

    def _shrink(self, image: np.ndarray) -> np.ndarray:
        import cv2

        return cv2.resize(image, self.small, interpolation=cv2.INTER_AREA) if self.scale < 1 else image

    def _outside(self, boxes: np.ndarray) -> np.ndarray:
        """(h, w) bool: pixels outside every box, boxes grown by a fifth of their height."""
        mask = np.ones(self.small[::-1], bool)
        for x1, y1, x2, y2 in np.asarray(boxes, np.float64).reshape(-1, 4) * self.scale:
            pad = 0.2 * (y2 - y1)
            mask[max(0, int(y1 - pad)):max(0, int(np.ceil(y2 + pad))),
                 max(0, int(x1 - pad)):max(0, int(np.ceil(x2 + pad)))] = False
        return mask

    def check(self, image: np.ndarray, boxes: np.ndarray) -> float:
        """The largest person-sized foreground blob of `image` (H, W, 3) uint8 outside `boxes` (n, 4) xyxy, in
        working pixels (0: none); then learns."""
        import cv2

        small = self._shrink(image).astype(np.float32)
        outside = self._outside(boxes)
        if self.background is None:
            self.background, self.known = small.copy(), outside.copy()
            return 0.0
        fg = (np.abs(small - self.background).max(axis=2) > self.threshold) & outside & self.known
        fg = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
        big = ((stats[1:, cv2.CC_STAT_AREA] >= self.min_area) & (stats[1:, cv2.CC_STAT_WIDTH] >= self.min_w)
               & (stats[1:, cv2.CC_STAT_HEIGHT] >= self.min_h))
        largest = float(stats[1:, cv2.CC_STAT_AREA][big].max()) if big.any() else 0.0
        if self.learn:
            self.background[outside] += self.rate * (small[outside] - self.background[outside])
            self.known |= outside
        return largest


# ---------------------------------------------------------------------------------------------- tracks
@dataclass
class _Live:
    """One followed person: the per-frame rows and the state that predicts the next box."""

    serial: int
    score: float
    frames: list = field(default_factory=list)
    boxes: list = field(default_factory=list)
    scores: list = field(default_factory=list)
    outputs: list = field(default_factory=list)  # per row: dict of network outputs, or None (crop outside)
    crop_boxes: list = field(default_factory=list)
    anchor: np.ndarray | None = None  # last body anchor: centre x, y, size px
    anchor_frame: int = 0
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))  # of the anchor, per frame index
    extent: np.ndarray | None = None  # the last detected box around all its joints (`extent_offsets`)
    points: np.ndarray | None = None  # the last frame's joints (body and hands), px
    last_match: int = 0  # processed-frame step of the last detection
    last_seen: int = 0  # ... of the last frame that was detected or confidently followed
    last_good: int = 0  # number of rows up to the last detected or confidently followed frame
    doubt: bool = False
    doubtful: bool = False  # the last frame's own check failed

    def predict(self, frame: int) -> np.ndarray:
        """Detector-like box for `frame` from the last joints (constant velocity) or the last box."""
        if self.points is None or self.extent is None:
            return np.asarray(self.boxes[-1], np.float64)
        return box_from_extent(self.points, self.extent) + np.tile(self.velocity[:2], 2) * (frame - self.anchor_frame)

    def add(self, frame: int, box: np.ndarray, score: float | None) -> None:
        if score is not None:
            self.score = float(score)
        self.frames.append(frame)
        self.boxes.append(np.asarray(box, np.float64))
        self.scores.append(self.score)
        self.outputs.append(None)
        self.crop_boxes.append(np.full(4, np.nan))


class SparseTracker:
    """The keyframe schedule, the assignment and each track's box prediction (no video, no network inside).

    Args:
        size: (width, height) of the video.
        settings: when to detect.
        max_gap: processed frames a track may go without a detection once one was missed.
        min_box: (w, h) smallest person box (the reference's 50×150): a followed box under it is doubtful.
        stride: video frames per processed frame.
    """

    def __init__(self, size: tuple[int, int], settings: SparseSettings, max_gap: int,
                 min_box: tuple[float, float], stride: int = 1) -> None:
        self.size, self.settings, self.max_gap, self.min_box = size, settings, max_gap, min_box
        self.stride = stride
        self.interval = settings.min_interval  # adaptive, video frames
        self.gap = settings.detect_every or 1  # processed frames to the next scheduled keyframe
        self.live: list[_Live] = []
        self.ended: list[_Live] = []
        self.serial = 0
        self.next_key = 0  # step of the next scheduled keyframe
        self.step = -1

    # -- before the network
    def begin(self, frame: int) -> str | None:
        """Start a processed frame; returns why the detector must run on it (None: it need not)."""
        self.step += 1
        for tr in list(self.live):
            if tr.doubt and self.step - tr.last_seen > self.max_gap:
                self._end(tr)
        if self.step >= self.next_key:
            return "schedule"
        if any(tr.doubt for tr in self.live):
            return "missed"
        if any(tr.doubtful for tr in self.live):
            return "doubtful"
        if len(self.live) > 1:
            boxes = np.stack([tr.predict(frame) for tr in self.live])
            iou = iou_matrix(boxes, boxes)
            np.fill_diagonal(iou, 0)
            if iou.max() > self.settings.crowd_iou:
                return "crowded"
        return None

    def predicted_boxes(self, frame: int) -> np.ndarray:
        """(n, 4) predicted boxes of the live tracks."""
        return np.stack([tr.predict(frame) for tr in self.live]) if self.live else np.zeros((0, 4))

    def assign(self, frame: int, dets: np.ndarray) -> int:
        """Keyframe: detections (n, 5) → tracks. Returns the number of new tracks."""
        preds = self.predicted_boxes(frame)
        pairs = match_boxes(preds, dets, self.settings.match_iou)
        matched = {r: c for r, c in pairs}
        iou = iou_matrix(preds, dets) if len(preds) and len(dets) else None
        steady = len(pairs) == len(self.live) == len(dets) and all(iou[r, c] >= self.settings.steady_iou
                                                                    for r, c in pairs)
        for r, tr in enumerate(self.live):
            if r in matched:
                c = matched[r]
                tr.add(frame, dets[c, :4], dets[c, 4])
                tr.last_match, tr.doubt = self.step, False
            else:
                tr.add(frame, tr.predict(frame), None)
                tr.doubt = True
        new = [c for c in range(len(dets)) if c not in set(matched.values())]
        for c in new:
            tr = _Live(self.serial, float(dets[c, 4]), last_match=self.step, last_seen=self.step)
            self.serial += 1
            tr.add(frame, dets[c, :4], dets[c, 4])
            self.live.append(tr)
        if steady:
            self.interval = min(2 * self.interval, self.settings.max_interval)
        else:
            self.interval = self.settings.min_interval
        self.gap = self.settings.detect_every or max(1, round(self.interval / self.stride))
        self.next_key = self.step + self.gap
        return len(new)

    def follow(self, frame: int) -> None:
        """Not a keyframe: every live track takes its predicted box."""
        for tr in self.live:
            tr.add(frame, tr.predict(frame), None)

    def jobs(self, frame: int) -> list[_Live]:
        """The live tracks that have a box on `frame` (all of them after `assign` / `follow`)."""
        return [tr for tr in self.live if tr.frames and tr.frames[-1] == frame]

    # -- after the network
    def update(self, frame: int, tr: _Live, output: dict | None, crop_box: np.ndarray | None,
               joints_px: np.ndarray | None) -> None:
        """Store a track's network output on `frame` and check it (sets `doubtful`)."""
        used = tr.boxes[-1]
        detected = tr.last_match == self.step and not tr.doubt
        if output is None or joints_px is None:  # the box left the image: coast on the last joints' velocity
            tr.doubtful = True
            return
        tr.outputs[-1], tr.crop_boxes[-1] = output, crop_box
        if tr.doubt:  # missed by the detector: its crop may show someone else; coast as the per-frame tracker does
            tr.doubtful = True
            return
        anchor = body_anchor(joints_px[:BODY_JOINTS])
        if detected or tr.extent is None:
            tr.extent = extent_offsets(used, joints_px)
        own = box_from_extent(joints_px, tr.extent)  # where a detector would now put the box
        inside = _inside(own, self.size)
        ratio = 1.0 if tr.anchor is None else anchor[2] / tr.anchor[2]
        reach = _OUTSIDE * anchor[2]
        body = joints_px[:BODY_JOINTS]
        off_box = bool(np.any(body < used[:2] - reach) or np.any(body > used[2:] + reach))
        doubtful = (float(iou_matrix(own[None], np.asarray(used)[None])[0, 0]) < self.settings.drift_iou or off_box
                    or not 1 / self.settings.size_change <= ratio <= self.settings.size_change
                    or inside[2] - inside[0] < self.min_box[0] or inside[3] - inside[1] < self.min_box[1])
        if tr.anchor is not None and frame > tr.anchor_frame:
            v = (anchor - tr.anchor) / (frame - tr.anchor_frame)
            tr.velocity = v if not tr.velocity.any() else 0.5 * tr.velocity + 0.5 * v
        tr.anchor, tr.anchor_frame, tr.points = anchor, frame, joints_px
        tr.doubtful = doubtful and not detected
        if detected or not doubtful:
            tr.last_good, tr.last_seen = len(tr.frames), self.step

    # -- the end
    def _end(self, tr: _Live) -> None:
        self.live.remove(tr)
        self.ended.append(tr)

    def finish(self) -> list[_Live]:
        """End every track; tracks in doubt lose the rows after their last good one. Ordered by first appearance."""
        for tr in list(self.live):
            if not tr.doubt:
                tr.last_good = len(tr.frames)
            self._end(tr)
        return sorted(self.ended, key=lambda t: t.serial)


# ---------------------------------------------------------------------------------------------- the loop
def _decoded(source, stats: SparseStats) -> Iterator:
    """The source's frames, decoded on a background thread a few frames ahead (decoding overlaps the model)."""
    q: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()

    def work() -> None:
        try:
            for frame in source:
                if stop.is_set():
                    break
                q.put(frame)
        except BaseException as exc:  # handed to the consumer, which re-raises it in the main thread
            q.put(exc)
        q.put(None)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        while True:
            t = time.perf_counter()
            item = q.get()
            stats.add_time("decode wait", time.perf_counter() - t)
            if isinstance(item, BaseException):
                raise item
            if item is None:
                return
            yield item
    finally:
        stop_producer(stop, worker, q)


def stop_producer(stop: threading.Event, worker: threading.Thread, q: queue.Queue) -> None:
    """Tell a decoding thread to stop and drain its queue until it has: a producer blocked on a full queue would
    otherwise never see the event (pipeline's per-frame path and the sparse loop both use it)."""
    stop.set()
    while worker.is_alive():
        try:
            q.get_nowait()
        except queue.Empty:
            worker.join(0.05)


def track_and_regress(source, detector, model, select: Callable[[np.ndarray], np.ndarray], settings: SparseSettings,
                      max_gap: int, min_track: int, min_box: tuple[float, float],
                      progress: Callable[[str, int, int, str], None]) -> tuple[list[Track], list[dict], SparseStats]:
    """Detect on keyframes, follow people by their joints in between, regress every followed box.

    Args:
        source: a `core.video.VideoSource` (iterated once).
        detector: a `core.detect.Detector` (fitted if it needs it).
        model: SMPLer-X (`forward_crops`).
        select: the pipeline's box selection rule, (n, 5) detections → (k, 5) people.
        settings: keyframe rules.
        max_gap, min_track: tracker settings (processed frames).
        min_box: (w, h) smallest person box, pixels.
        progress: called as progress(stage, done, total, message).

    Returns:
        tracks (ids 0.. by first appearance), per-track arrays as `core.pipeline._regress` makes them (NaN rows
        where a crop was outside the image) and the loop's statistics.
    """
    import torch

    from .crop import crop_people

    stats = SparseStats()
    tracker = SparseTracker(source.size, settings, max_gap, min_box, getattr(source, "stride", 1))
    watch = EntryWatch(source.size, getattr(detector, "background", None), min_box)
    muted_area, mute_until = 0.0, -1  # a false alarm's blob; it must grow by a tenth to alarm again
    total = source.num_frames
    for frame in _decoded(source, stats):
        t = time.perf_counter()
        reason = tracker.begin(frame.index)
        blob = watch.check(frame.image, tracker.predicted_boxes(frame.index))
        if tracker.step >= mute_until:
            muted_area = 0.0
        if reason is None and blob > 1.1 * muted_area:
            reason = "entry"
        stats.add_time("entry watch", time.perf_counter() - t)
        if reason is not None:
            t = time.perf_counter()
            dets = select(np.asarray(detector.detect([frame.image])[0], np.float32).reshape(-1, 5))
            stats.add_time("detect", time.perf_counter() - t)
            stats.detector_calls += 1
            stats.reasons[reason] = stats.reasons.get(reason, 0) + 1
            if tracker.assign(frame.index, dets) == 0 and reason == "entry":
                muted_area, mute_until = blob, tracker.step + tracker.gap
        else:
            tracker.follow(frame.index)
        jobs = tracker.jobs(frame.index)
        if jobs:
            t = time.perf_counter()
            batch = crop_people(frame.image, np.stack([tr.boxes[-1] for tr in jobs]))
            stats.add_time("crop", time.perf_counter() - t)
            outputs: dict[str, np.ndarray] = {}
            if batch.valid.any():
                t = time.perf_counter()
                res = model.forward_crops(torch.from_numpy(batch.crops), with_mesh=False)
                outputs = {k: v.float().cpu().numpy() for k, v in res.items() if k in _KEEP or k == "joint_img"}
                stats.add_time("regress", time.perf_counter() - t)
            t = time.perf_counter()
            rows = np.cumsum(batch.valid) - 1
            valid_idx = np.flatnonzero(batch.valid)
            joints = joints_to_image(outputs["joint_img"], batch.bb2img[valid_idx]) \
                if len(valid_idx) else None
            for i, tr in enumerate(jobs):
                if batch.valid[i]:
                    row = int(rows[i])
                    tracker.update(frame.index, tr, {k: v[row] for k, v in outputs.items() if k in _KEEP},
                                   batch.bboxes[i], joints[row])
                else:
                    tracker.update(frame.index, tr, None, None, None)
            stats.add_time("follow", time.perf_counter() - t)
        stats.frames += 1
        progress("track", stats.frames, total, f"{stats.detector_calls} detector calls")  # one pass: one stage
    log.info("detector on %d of %d frames (%s)", stats.detector_calls, stats.frames,
             ", ".join(f"{k} {v}" for k, v in sorted(stats.reasons.items())))
    kept = [tr for tr in tracker.finish() if tr.last_good >= min(min_track, max(stats.frames, 1))]
    return _tracks(kept) + (stats,)


def _tracks(kept: list[_Live]) -> tuple[list[Track], list[dict[str, np.ndarray]]]:
    """Live-track rows → `Track`s and per-track output arrays (the first `last_good` rows of each)."""
    tracks, regressed = [], []
    for i, tr in enumerate(kept):
        n = tr.last_good
        tracks.append(Track(i, np.asarray(tr.frames[:n], np.int64), np.asarray(tr.boxes[:n], np.float32),
                            np.asarray(tr.scores[:n], np.float32), np.zeros(n, bool)))
        valid = np.array([o is not None for o in tr.outputs[:n]])
        rec: dict[str, Any] = {"valid": valid, "bbox": np.asarray(tr.crop_boxes[:n], np.float32)}
        template = next(o for o in tr.outputs[:n] if o is not None) if valid.any() else {}
        for k, v in template.items():
            rec[k] = np.stack([o[k] if o is not None else np.full_like(v, np.nan) for o in tr.outputs[:n]])
        regressed.append(rec)
    return tracks, regressed
