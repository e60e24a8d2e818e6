"""Video → MotionClip: decode, detect, track, regress (SMPLer-X), one camera, smooth, report.

By default the detector runs on keyframes only and each person's box follows the network's own 2D joints in
between (`core.propagate`: one streamed pass, detection, tracking and regression in one loop). With
`detect_every=1` (the reference's way) two streamed passes keep memory bounded whatever the video's length: the
first detects people on every frame and links them into tracks (tracking needs the whole box history before
identities are final); the second decodes again and feeds the tracked boxes' crops to the network in batches,
with decoding and cropping on a background thread so that they overlap the model's work. Stages report progress
through one callback.
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import AtomicOutputs, atomic_write
from .motion import MotionClip, MotionTrack
from .options import ConvertOptions, add_arguments, options_from_args
from .preflight import PER_FRAME_MARKER, check_device_name, check_options, memory_batch_cap, plan_outputs
from .smooth import SMOOTHING_PRESETS

__all__ = [
    "ConvertOptions",
    "ConvertResult",
    "convert_video",
    "resolve_device",
    "read_image",
    "save_npz_atomic",
    "add_convert_arguments",
    "run_convert_cli",
    "options_from_args",
    "SMOOTHING_PRESETS",
]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int, str], None]  # (stage, done, total, message)


@dataclass
class ConvertResult:
    """What a conversion produced: the smoothed clip, the raw clip and stage timings (seconds)."""

    clip: MotionClip
    raw: MotionClip
    stage_seconds: dict[str, float]
    stage_frames: dict[str, int]
    detector_calls: int = 0


def resolve_device(name: str = "auto") -> str:
    """auto → cuda, then mps, then cpu; an explicit device that is absent raises ValueError."""
    import torch

    check_device_name(name)
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available (use --device cpu or auto)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' requested but Apple MPS is not available (use --device cpu or auto)")
    return name


def read_image(path: Path) -> np.ndarray:
    """An image file → (H, W, 3) uint8 RGB (EXIF orientation ignored, as the reference's load_img)."""
    import cv2

    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None:
        raise ValueError(f"{path}: not a readable image (jpg/png expected)")
    return bgr[:, :, ::-1].copy()


def save_npz_atomic(path: Path, **arrays: np.ndarray) -> Path:
    """np.savez into a temporary file beside `path`, then rename: never a half-written result."""
    return atomic_write(path, lambda fh: np.savez(fh, **arrays))


# ---------------------------------------------------------------------------------------------- the stages
def _detect_and_track(source, detector, opts: ConvertOptions, progress: Progress) -> list:
    """Pass 1: person boxes per frame → tracks with stable identities."""
    from .track import select_tracks, track_boxes

    dets, indices = [], []
    total = source.num_frames
    batch: list = []

    def flush() -> None:
        if not batch:
            return
        for frame, boxes in zip(batch, detector.detect([f.image for f in batch])):
            dets.append(_select_people(boxes, opts))
            indices.append(frame.index)
        batch.clear()
        progress("detect", len(dets), total, "")

    for frame in source:
        batch.append(frame)
        if len(batch) == 4:
            flush()
    flush()
    if not dets:
        raise ValueError(f"{source.path}: the selected frame range holds no frames")
    tracks = track_boxes(dets, indices, max_gap=opts.max_gap, min_length=min(opts.min_track, len(dets)))
    tracks = select_tracks(tracks, opts.people)
    if not tracks:
        raise ValueError(f"{source.path}: no person found (detector '{opts.detector}', score threshold "
                         f"{opts.score_threshold:g}, {len(dets)} frames; try another detector, a lower --det-score, "
                         "or check the frame range)")
    return tracks


def _select_people(boxes: np.ndarray, opts: ConvertOptions) -> np.ndarray:
    """One frame's detections → the people to follow (the reference's rules), (k, 5) float32."""
    from .detect import select_largest, select_people

    if opts.people == "largest":
        kept = select_largest(boxes, *opts.min_box)
    else:
        kept = select_people(boxes, opts.score_threshold, 0.5, *opts.min_box)
    return np.asarray(kept, dtype=np.float32).reshape(-1, 5)


def _track_and_regress(source, detector, model, opts: ConvertOptions, progress: Progress
                       ) -> tuple[list, list[dict[str, np.ndarray]], Any]:
    """Sparse detection: keyframes, boxes from the network's joints in between (`core.propagate`)."""
    from .propagate import SparseSettings, track_and_regress
    from .track import select_tracks

    tracks, regressed, stats = track_and_regress(
        source, detector, model, lambda boxes: _select_people(boxes, opts), SparseSettings(opts.detect_every),
        opts.max_gap, opts.min_track, opts.min_box, progress)
    if stats.frames == 0:
        raise ValueError(f"{source.path}: the selected frame range holds no frames")
    chosen = {t.track_id for t in select_tracks(tracks, opts.people)}
    kept = [(t, r) for t, r in zip(tracks, regressed) if t.track_id in chosen]
    if not kept:
        raise ValueError(f"{source.path}: no person found (detector '{opts.detector}', {stats.frames} frames; "
                         "try another detector, a lower --det-score, or check the frame range)")
    return [t for t, _ in kept], [r for _, r in kept], stats


def _crop_jobs(source, tracks: list, queue_out: queue.Queue, stop: threading.Event) -> None:
    """Background thread: decode pass 2 and crop every tracked box; items are (track_i, row, crop, bbox)."""
    from .crop import crop_people

    wanted: dict[int, list[tuple[int, int, np.ndarray]]] = {}
    for ti, tr in enumerate(tracks):
        for row, (f, box) in enumerate(zip(tr.frames, tr.boxes)):
            wanted.setdefault(int(f), []).append((ti, row, box))
    try:
        for frame in source:
            if stop.is_set():
                break
            jobs = wanted.get(frame.index)
            if not jobs:
                continue
            batch = crop_people(frame.image, np.stack([b for _, _, b in jobs]))
            k = 0
            for i, (ti, row, _) in enumerate(jobs):
                if batch.valid[i]:
                    queue_out.put((ti, row, batch.crops[k], batch.bboxes[i]))
                    k += 1
    except BaseException as exc:  # handed to the consumer, which re-raises it in the main thread
        queue_out.put(exc)
    queue_out.put(None)


def _regress(source, tracks: list, model, opts: ConvertOptions, progress: Progress) -> list[dict[str, np.ndarray]]:
    """Pass 2: batched SMPLer-X on every tracked box → per-track arrays (NaN rows where a crop was invalid)."""
    import torch

    from .propagate import stop_producer

    n_total = sum(len(t.frames) for t in tracks)
    out = [{"valid": np.zeros(len(t.frames), bool)} for t in tracks]
    batch_size = memory_batch_cap(opts.batch_size)  # the queue and the batch hold at most 3 batches of crops
    q: queue.Queue = queue.Queue(maxsize=2 * batch_size)
    stop = threading.Event()
    worker = threading.Thread(target=_crop_jobs, args=(source, tracks, q, stop), daemon=True)
    worker.start()
    pending: list = []
    done = 0

    def run(items: list) -> None:
        nonlocal batch_size
        i = 0
        while i < len(items):
            chunk = items[i:i + batch_size]
            try:
                res = model.forward_crops(torch.from_numpy(np.stack([c[2] for c in chunk])), with_mesh=False)
            except torch.cuda.OutOfMemoryError:
                if batch_size == 1:
                    raise
                torch.cuda.empty_cache()
                batch_size = max(1, batch_size // 2)
                log.warning("CUDA out of memory: batch size lowered to %d", batch_size)
                continue
            _store(out, chunk, {k: v.float().cpu().numpy() for k, v in res.items() if k in _KEEP})
            i += len(chunk)

    try:
        while True:
            item = q.get()
            if isinstance(item, BaseException):
                raise item
            if item is not None:
                pending.append(item)
            if len(pending) >= batch_size or (item is None and pending):
                run(pending)
                done += len(pending)
                pending = []
                progress("regress", done, n_total, "")
            if item is None:
                break
    finally:
        stop_producer(stop, worker, q)
    return out


_KEEP = ("smplx_root_pose", "smplx_body_pose", "smplx_lhand_pose", "smplx_rhand_pose", "smplx_jaw_pose",
         "smplx_shape", "smplx_expr", "cam_trans")


def _store(out: list[dict], chunk: list, res: dict[str, np.ndarray]) -> None:
    for j, (ti, row, _, bbox) in enumerate(chunk):
        rec = out[ti]
        n = len(rec["valid"])
        for k, v in res.items():
            if k not in rec:
                rec[k] = np.full((n, *v.shape[1:]), np.nan, np.float32)
            rec[k][row] = v[j]
        rec.setdefault("bbox", np.full((n, 4), np.nan, np.float32))[row] = bbox
        rec["valid"][row] = True


def _to_clip(source, tracks: list, regressed: list[dict], model_arrays: dict, opts: ConvertOptions) -> MotionClip:
    """Network outputs per track → a MotionClip in one video camera (pelvis-anchored re-projection)."""
    from .camera import VideoCamera, crop_camera, default_focal, to_video_camera
    from .motion import rest_root_joint

    w, h = source.size
    cam = VideoCamera(float(opts.focal if opts.focal is not None else default_focal(w, h)),
                      ((w - 1) / 2.0, (h - 1) / 2.0), w, h)
    times = _frame_times(source)
    out_tracks = []
    for tr, rec in zip(tracks, regressed):
        ok = rec["valid"]
        if not ok.any():
            continue
        betas, expr = rec["smplx_shape"][ok], rec["smplx_expr"][ok]
        cams = [crop_camera(b) for b in rec["bbox"][ok]]
        focal = np.array([c[0] for c in cams]); princpt = np.array([c[1] for c in cams])
        j0 = rest_root_joint(model_arrays, betas, expr)
        # the pelvis J0 + t is the point whose pixel and apparent size are kept when changing cameras
        transl = to_video_camera(rec["cam_trans"][ok] + j0, focal, princpt, cam) - j0
        frames = np.asarray(tr.frames)[ok]
        out_tracks.append(MotionTrack(
            track_id=int(tr.track_id), frames=frames, times=np.array([times.get(int(f), f / source.fps) for f in frames]),
            global_orient=rec["smplx_root_pose"][ok], body_pose=rec["smplx_body_pose"][ok].reshape(-1, 21, 3),
            left_hand_pose=rec["smplx_lhand_pose"][ok].reshape(-1, 15, 3),
            right_hand_pose=rec["smplx_rhand_pose"][ok].reshape(-1, 15, 3), jaw_pose=rec["smplx_jaw_pose"][ok],
            betas=betas, expression=expr, transl=transl, boxes=np.asarray(tr.boxes)[ok],
            scores=np.asarray(tr.scores)[ok]))
    if not out_tracks:
        raise ValueError(f"{source.path}: every person box fell outside the image; nothing to convert")
    total = getattr(source, "total_frames", 0) or 0
    num_frames = max(int(total), max(int(t.frames[-1]) + 1 for t in out_tracks))
    return MotionClip(fps=source.fps, num_frames=num_frames, image_size=(w, h), focal=np.array([cam.focal] * 2),
                      princpt=np.array(cam.princpt), tracks=out_tracks, hands_include_mean=False,
                      source=str(source.path), metadata={"variant": opts.variant, "detector": opts.detector})


def _frame_times(source) -> dict[int, float]:
    """Timestamps are recorded during pass 1 by `_TimedSource`; plain sources fall back to index / fps."""
    return getattr(source, "times", {})


class _TimedSource:
    """Wraps a VideoSource and remembers each yielded frame's timestamp (variable frame rate)."""

    def __init__(self, source) -> None:
        self._source = source
        self.times: dict[int, float] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)

    def __iter__(self) -> Iterator:
        for frame in self._source:
            self.times[frame.index] = frame.time
            yield frame


# ---------------------------------------------------------------------------------------------- entry point
def convert_video(video: str | Path, options: ConvertOptions | None = None, progress: Progress | None = None,
                  model=None, detector=None) -> ConvertResult:
    """Convert one video (or image folder) into a smoothed MotionClip.

    Args:
        video: video file or folder of frames.
        options: settings (defaults: `ConvertOptions()`).
        progress: called as progress(stage, done, total, message).
        model, detector: already built ones to reuse across videos (batch mode); built from options if None.

    Raises:
        FileNotFoundError: video, model or weights files missing (the message says which and where to get them).
        ValueError: unreadable video, no person found, bad options.
    """
    from .body import read_model_arrays
    from .height import apply_person_height
    from .smooth import smooth_clip
    from .video import open_video

    opts = options or ConvertOptions()
    opts.validate()
    report = progress or (lambda *a: None)
    check_options(opts)
    if opts.ground:
        from .ground import ground_options, ground_stage

        ground_opts = ground_options(opts)  # bad settings fail before minutes of detection
    t0 = time.perf_counter()
    source = _TimedSource(open_video(video, start=opts.start, end=opts.end, stride=opts.stride))
    if source.num_frames <= 0:
        raise ValueError(f"{video}: --start {opts.start} is at or beyond the end of the video "
                         f"({source.total_frames} frames); choose a start below {source.total_frames}")
    model_dir = opts.resolved_model_dir()
    model_arrays = read_model_arrays(model_dir, "neutral")  # fails early, before minutes of detection
    seconds: dict[str, float] = {}
    report("load", 0, 1, f"loading {opts.resolved_checkpoint().name if model is None else 'the network'}")
    if model is None:
        model = _build_model(opts)
    if detector is None:
        from .detect import build_detector

        # a background model samples ~50 frames spread over the whole selected range
        extra = {"every": max(1, -(-source.num_frames // 50))} if opts.detector == "static-camera" else \
            {"min_size": opts.detector_size, "max_size": round(opts.detector_size * 1333 / 800)}
        detector = build_detector(opts.detector, model_dir, device=resolve_device(opts.device), **extra)
    report("load", 1, 1, f"{model.cfg.name.upper()} on {model.encoder.pos_embed.device}")
    seconds["load"] = time.perf_counter() - t0

    t = time.perf_counter()
    if getattr(detector, "needs_fit", False):
        report("detect", 0, source.num_frames, "learning the background")
        detector.fit(source)
    if opts.detect_every == 1:
        tracks = _detect_and_track(source, detector, opts, report)
        seconds["detect+track"] = time.perf_counter() - t
        t = time.perf_counter()
        regressed = _regress(source, tracks, model, opts, report)
        seconds["regress"] = time.perf_counter() - t
        frames = {"detect+track": source.num_frames}
        calls = source.num_frames
    else:
        seconds["fit"] = time.perf_counter() - t
        tracks, regressed, stats = _track_and_regress(source, detector, model, opts, report)
        seconds.update(stats.seconds)
        frames = {"detect": stats.detector_calls, "decode wait": stats.frames, "entry watch": stats.frames}
        calls = stats.detector_calls
    t = time.perf_counter()
    raw = _to_clip(source, tracks, regressed, model_arrays, opts)
    raw = raw.replace(metadata={**raw.metadata, "variant": model.cfg.name, "start": int(opts.start)})
    raw = apply_person_height(raw, model_arrays, opts.person_height)
    clip = smooth_clip(raw, **opts.smoothing_strengths)
    seconds["smooth"] = time.perf_counter() - t
    report("smooth", 1, 1, f"{len(clip.tracks)} people")
    if opts.ground:
        t = time.perf_counter()
        clip = ground_stage(clip, raw, model_arrays, ground_opts, open_video(video, opts.start, opts.end, opts.stride))
        seconds["ground"] = time.perf_counter() - t
        report("ground", 1, 1, clip.metadata["ground"]["summary"])
    frames.update({"regress": sum(len(tr) for tr in raw.tracks), "smooth": sum(len(tr) for tr in raw.tracks),
                   "ground": sum(len(tr) for tr in raw.tracks) if opts.ground else 0})
    return ConvertResult(clip, raw, seconds, frames, calls)


def _build_model(opts: ConvertOptions):
    import torch

    from .model import SMPLerX

    device = resolve_device(opts.device)
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if opts.precision not in dtypes:
        raise ValueError(f"unknown precision {opts.precision!r}; expected one of {sorted(dtypes)}")
    if opts.precision != "float32" and not device.startswith("cuda"):
        raise ValueError(f"precision {opts.precision} needs a CUDA device; use --precision float32 on {device}")
    # no body layer inside the network: regression never asks for meshes, and the report loads its own
    return SMPLerX.from_checkpoint(opts.resolved_checkpoint(), None, device=device,
                                   dtype=dtypes[opts.precision], variant=opts.requested_variant)


# ---------------------------------------------------------------------------------------------- CLI glue
def add_convert_arguments(p: argparse.ArgumentParser) -> None:
    """The `convert` subcommand's arguments: its inputs and outputs, then every setting of core.options."""
    p.add_argument("video", help="video file or folder of frames")
    p.add_argument("-o", "--output", required=True, help="output MotionClip .npz")
    p.add_argument("--report", help="quality report JSON (default: OUTPUT with .report.json)")
    p.add_argument("--overlay", help="write the mesh drawn over the video to this .mp4")
    p.add_argument("--per-frame-dir", help="also write the original per-frame layout (smplx/*.npz, meta/*.json)")
    p.add_argument("--progress-json", action="store_true", help="one JSON object per line on stdout")
    add_arguments(p)


def _progress_printer(as_json: bool) -> tuple[Progress, Callable[[], None]]:
    """A progress callback: JSON lines for the Blender worker, tqdm bars for a person at a terminal, else none
    (so that a failing run's stderr holds its one error line)."""
    if as_json:
        def emit(stage: str, done: int, total: int, message: str) -> None:
            print(json.dumps({"stage": stage, "done": done, "total": total, "message": message}), flush=True)
        return emit, lambda: None
    if not sys.stderr.isatty():
        return (lambda *a: None), lambda: None
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def bar(stage: str, done: int, total: int, message: str) -> None:
        if stage not in bars:
            bars[stage] = tqdm(total=total, desc=stage, unit="frame", file=sys.stderr, leave=True)
        b = bars[stage]
        b.total = max(total, done)
        b.update(done - b.n)

    return bar, lambda: [b.close() for b in bars.values()]


def run_convert_cli(args: argparse.Namespace) -> int:
    """`python -m core convert`: convert, then write clip, report, overlay and per-frame files."""
    opts = options_from_args(args)
    check_options(opts)
    out = plan_outputs(args.video, args.output, args.report, args.overlay, args.per_frame_dir).clip
    progress, close = _progress_printer(args.progress_json)
    try:
        result = convert_video(args.video, opts, progress)
        written = write_outputs(result, out, opts, args.report, args.overlay, args.per_frame_dir, progress)
    finally:
        close()
    if not args.progress_json:
        for path in written:
            print(path)
    return 0


def write_outputs(result: ConvertResult, out: Path, opts: ConvertOptions, report: str | None,
                  overlay: str | None, per_frame_dir: str | None, progress: Progress) -> list[Path]:
    """Clip, quality report and the optional overlay / per-frame files of one conversion, committed together at
    the end (core.atomic): a failure or interruption on the way leaves every earlier output as it was."""
    from .body import load_body_model
    from .report import build_report, write_report

    plan = plan_outputs(result.clip.source, out, report, overlay, per_frame_dir)
    body = load_body_model(opts.resolved_model_dir(), "neutral")
    t = time.perf_counter()
    rep = build_report(result.raw, result.clip, body, result.stage_seconds, stage_frames=result.stage_frames)
    with AtomicOutputs() as staged:
        result.clip.save(staged.path(plan.clip))
        write_report(rep, staged.path(plan.report))
        if plan.per_frame_dir:
            from .motion_export import export_per_frame

            folder = staged.directory(plan.per_frame_dir)
            export_per_frame(result.clip, folder)
            (folder / PER_FRAME_MARKER).write_text("written by python -m core convert; replaced on the next run\n")
        if plan.overlay:
            from .overlay import write_overlay

            write_overlay(result.clip, result.clip.source, body, staged.path(plan.overlay),
                          start=opts.start, end=opts.end, stride=opts.stride, progress=progress)
    log.info("outputs written in %.1f s", time.perf_counter() - t)
    return plan.paths()
