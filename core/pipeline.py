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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .motion import MotionClip, MotionTrack, atomic_write

__all__ = [
    "ConvertOptions",
    "convert_video",
    "resolve_device",
    "read_image",
    "save_npz_atomic",
    "add_convert_arguments",
    "run_convert_cli",
    "SMOOTHING_PRESETS",
]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int, str], None]  # (stage, done, total, message)

SMOOTHING_PRESETS: dict[str, dict[str, float]] = {
    "off": dict(root=0.0, body=0.0, hands=0.0, face=0.0, transl=0.0),
    "light": dict(root=1.5, body=1.5, hands=2.0, face=1.5, transl=2.5),
    "default": dict(root=3.0, body=3.0, hands=4.0, face=3.0, transl=5.0),
    "strong": dict(root=5.0, body=5.0, hands=6.0, face=5.0, transl=8.0),
}


@dataclass
class ConvertOptions:
    """Everything `convert_video` can be told; defaults follow the reference where it has one.

    Attributes:
        model_dir: SMPL-X + SMPLer-X + detector files (None: `core.body.default_model_dir()`).
        checkpoint: SMPLer-X checkpoint (None: `<model_dir>/smpler_x_<variant>.pth.tar`).
        variant: s32, b32, l32 or h32 (checked against the checkpoint).
        detector: torchvision, mmdet or static-camera.
        device: auto, cpu, cuda, cuda:N or mps.
        precision: float32, bfloat16 or float16 (half precisions only on CUDA).
        batch_size: crops per network call (halved automatically after a CUDA out-of-memory error); with sparse
            detection a call holds one frame's people (the next boxes need this frame's joints).
        people: "all", "largest" or a list of track ids.
        start, end, stride: frame selection (end exclusive).
        focal: focal length of the video camera in pixels (None: estimated from a typical field of view).
        smoothing: preset name (off, light, default, strong); `smoothing_overrides` set single strengths.
        det_score_thr: detections below this score are ignored (the reference keeps every box: 0.05 internal).
        detect_every: run the detector every N processed frames (1: every frame, as the reference); 0: on adaptive
            keyframes (every 8 to 16 frames, sooner when a track is in doubt or someone may have entered), boxes
            following the network's joints in between (`core.propagate`).
        detector_size: short side in pixels the network detectors (torchvision, mmdet) resize frames to (the
            reference's 800; long side capped at 1333/800 of it).
        min_box: (w, h) smallest person box, pixels (the reference's 50×150).
        max_gap, min_track: tracker settings (frames).
        with_mesh: also keep per-frame vertices (only for the overlay).
    """

    model_dir: Path | None = None
    checkpoint: Path | None = None
    variant: str = "s32"
    detector: str = "torchvision"
    device: str = "auto"
    precision: str = "float32"
    batch_size: int = 16
    people: str | list[int] = "all"
    start: int = 0
    end: int | None = None
    stride: int = 1
    focal: float | None = None
    smoothing: str = "default"
    smoothing_overrides: dict[str, float] = field(default_factory=dict)
    det_score_thr: float = 0.5
    min_box: tuple[float, float] = (50.0, 150.0)
    max_gap: int = 10
    min_track: int = 5
    detect_every: int = 0
    detector_size: int = 640

    def resolved_model_dir(self) -> Path:
        from .body.files import default_model_dir

        return Path(self.model_dir) if self.model_dir else default_model_dir()

    def resolved_checkpoint(self) -> Path:
        if self.checkpoint:
            return Path(self.checkpoint)
        from .model.config import variant_config

        return self.resolved_model_dir() / variant_config(self.variant).checkpoint_file


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
        raise ValueError(f"{source.path}: no person found (detector '{opts.detector}', {len(dets)} frames; "
                         "try another detector, a lower --det-score, or check the frame range)")
    return tracks


def _select_people(boxes: np.ndarray, opts: ConvertOptions) -> np.ndarray:
    """One frame's detections → the people to follow (the reference's rules), (k, 5) float32."""
    from .detect import select_largest, select_people

    if opts.people == "largest":
        kept = select_largest(boxes, *opts.min_box)
    else:
        kept = select_people(boxes, opts.det_score_thr, 0.5, *opts.min_box)
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

    n_total = sum(len(t.frames) for t in tracks)
    out = [{"valid": np.zeros(len(t.frames), bool)} for t in tracks]
    q: queue.Queue = queue.Queue(maxsize=4 * opts.batch_size)
    stop = threading.Event()
    worker = threading.Thread(target=_crop_jobs, args=(source, tracks, q, stop), daemon=True)
    worker.start()
    pending: list = []
    done = 0
    batch_size = opts.batch_size

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
        stop.set()
        while worker.is_alive():  # drain so the producer can finish
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(0.05)
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
    cam = VideoCamera(float(opts.focal or default_focal(w, h)), ((w - 1) / 2.0, (h - 1) / 2.0), w, h)
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
    from .smooth import smooth_clip
    from .video import open_video

    opts = options or ConvertOptions()
    report = progress or (lambda *a: None)
    preset = SMOOTHING_PRESETS.get(opts.smoothing)
    if preset is None:
        raise ValueError(f"unknown smoothing preset {opts.smoothing!r}; expected one of {sorted(SMOOTHING_PRESETS)}")
    t0 = time.perf_counter()
    source = _TimedSource(open_video(video, start=opts.start, end=opts.end, stride=opts.stride))
    model_dir = opts.resolved_model_dir()
    model_arrays = read_model_arrays(model_dir, "neutral")  # fails early, before minutes of detection
    seconds: dict[str, float] = {}
    if model is None:
        model = _build_model(opts)
    if detector is None:
        from .detect import build_detector

        # a background model samples ~50 frames spread over the whole selected range
        extra = {"every": max(1, -(-source.num_frames // 50))} if opts.detector == "static-camera" else \
            {"min_size": opts.detector_size, "max_size": round(opts.detector_size * 1333 / 800)}
        detector = build_detector(opts.detector, model_dir, device=resolve_device(opts.device), **extra)
    report("load", 1, 1, f"{opts.variant.upper()} on {model.encoder.pos_embed.device}")
    seconds["load"] = time.perf_counter() - t0

    t = time.perf_counter()
    if getattr(detector, "needs_fit", False):
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
    strengths = {**preset, **opts.smoothing_overrides}
    clip = smooth_clip(raw, **strengths)
    seconds["smooth"] = time.perf_counter() - t
    report("smooth", 1, 1, f"{len(clip.tracks)} people")
    frames.update({"regress": sum(len(tr) for tr in raw.tracks), "smooth": sum(len(tr) for tr in raw.tracks)})
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
                                   dtype=dtypes[opts.precision], variant=opts.variant)


# ---------------------------------------------------------------------------------------------- CLI glue
def add_convert_arguments(p: argparse.ArgumentParser) -> None:
    """The `convert` subcommand's arguments (kept here beside ConvertOptions)."""
    p.add_argument("video", help="video file or folder of frames")
    p.add_argument("-o", "--output", required=True, help="output MotionClip .npz")
    p.add_argument("--model-dir", help="model directory (default: $SMPLX_VIDEO_MODELS)")
    p.add_argument("--checkpoint", help="SMPLer-X checkpoint (default: <model-dir>/smpler_x_<variant>.pth.tar)")
    p.add_argument("--variant", default="s32", choices=["s32", "b32", "l32", "h32"])
    p.add_argument("--detector", default="torchvision", choices=["torchvision", "mmdet", "static-camera"])
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--people", default="all", help="all, largest, or comma-separated track ids")
    p.add_argument("--start", type=int, default=0, help="first frame (0-based)")
    p.add_argument("--end", type=int, help="frame to stop before")
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--focal", type=float, help="video camera focal length in pixels (default: estimated)")
    p.add_argument("--smoothing", default="default", choices=sorted(SMOOTHING_PRESETS))
    for part in ("root", "body", "hands", "face", "transl"):
        p.add_argument(f"--smooth-{part}", type=float, help=f"override the {part} smoothing sigma (frames)")
    p.add_argument("--det-score", type=float, default=0.5, help="detector score threshold")
    p.add_argument("--detect-every", type=int, default=0,
                   help="run the detector every N frames (1: every frame); 0: adaptive keyframes, boxes following "
                        "the network's joints in between")
    p.add_argument("--detector-size", type=int, default=640,
                   help="short side (px) frames are resized to for the torchvision/mmdet detector (reference: 800)")
    p.add_argument("--report", help="quality report JSON (default: OUTPUT with .report.json)")
    p.add_argument("--overlay", help="write the mesh drawn over the video to this .mp4")
    p.add_argument("--per-frame-dir", help="also write the original per-frame layout (smplx/*.npz, meta/*.json)")
    p.add_argument("--progress-json", action="store_true", help="one JSON object per line on stdout")


def options_from_args(args: argparse.Namespace) -> ConvertOptions:
    """argparse namespace → ConvertOptions, validating what argparse cannot."""
    if args.batch_size < 1 or args.stride < 1:
        raise ValueError("--batch-size and --stride must be at least 1")
    if args.detect_every < 0 or args.detector_size < 32:
        raise ValueError(f"--detect-every must be >= 0 (0: adaptive) and --detector-size >= 32 px; got "
                         f"{args.detect_every} and {args.detector_size}")
    people: str | list[int] = args.people
    if people not in ("all", "largest"):
        try:
            people = [int(x) for x in people.split(",")]
        except ValueError:
            raise ValueError(f"--people {args.people!r}: expected all, largest or comma-separated ids") from None
    overrides = {part: getattr(args, f"smooth_{part}") for part in ("root", "body", "hands", "face", "transl")
                 if getattr(args, f"smooth_{part}") is not None}
    return ConvertOptions(
        model_dir=Path(args.model_dir) if args.model_dir else None,
        checkpoint=Path(args.checkpoint) if args.checkpoint else None, variant=args.variant,
        detector=args.detector, device=args.device, precision=args.precision, batch_size=args.batch_size,
        people=people, start=args.start, end=args.end, stride=args.stride, focal=args.focal,
        smoothing=args.smoothing, smoothing_overrides=overrides, det_score_thr=args.det_score,
        detect_every=args.detect_every, detector_size=args.detector_size)


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
    out = Path(args.output)
    if out.suffix != ".npz":
        raise ValueError(f"--output {out}: expected a .npz file name")
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
    """Clip, quality report and the optional overlay / per-frame files of one conversion."""
    from .body import load_body_model
    from .report import build_report, write_report

    written = [result.clip.save(out)]
    body = load_body_model(opts.resolved_model_dir(), "neutral")
    t = time.perf_counter()
    rep = build_report(result.raw, result.clip, body, result.stage_seconds, stage_frames=result.stage_frames)
    written.append(write_report(rep, Path(report) if report else out.with_suffix(".report.json")))
    if per_frame_dir:
        from .motion_export import export_per_frame

        export_per_frame(result.clip, Path(per_frame_dir))
        written.append(Path(per_frame_dir))
    if overlay:
        from .overlay import write_overlay

        written.append(write_overlay(result.clip, result.clip.source, body, Path(overlay),
                                     start=opts.start, end=opts.end, stride=opts.stride, progress=progress))
    log.info("outputs written in %.1f s", time.perf_counter() - t)
    return written
