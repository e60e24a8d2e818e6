"""Checks that run before any slow work: a conversion's options and output paths, so that a mistake costs a second,
not a whole run, and never destroys a user's file.

Every failure is a ValueError with one line naming the option or file, what is wrong and what to do.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["OutputPlan", "plan_outputs", "check_options", "check_device_name", "check_writable_folder",
           "PER_FRAME_MARKER", "OVERLAY_SUFFIXES", "MAX_BATCH_SIZE", "available_memory", "memory_batch_cap"]

PER_FRAME_MARKER = ".smplx-video-per-frame"  # written into every --per-frame-dir: the folder is ours to replace
OVERLAY_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi")  # core.render.write_video's containers
MAX_BATCH_SIZE = 1024  # crops per network call; memory caps it further at run time (core.pipeline)
log = logging.getLogger(__name__)
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class OutputPlan:
    """The files one conversion will write (all checked, none written yet)."""

    clip: Path
    report: Path
    overlay: Path | None = None
    per_frame_dir: Path | None = None

    def paths(self) -> list[Path]:
        return [p for p in (self.clip, self.report, self.overlay, self.per_frame_dir) if p is not None]


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (existing: same inode; otherwise the same absolute path)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return Path(os.path.abspath(a)) == Path(os.path.abspath(b))


def _inside(child: Path, folder: Path) -> bool:
    child, folder = Path(os.path.abspath(child)), Path(os.path.abspath(folder))
    return folder in child.parents


def check_writable_folder(path: Path, option: str) -> None:
    """ValueError unless `path`'s nearest existing parent folder is writable (and `path` is not a folder)."""
    if path.is_dir():
        raise ValueError(f"{option} {path}: is a folder; give a file name")
    parent = Path(os.path.abspath(path)).parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{option} {path}: {parent} is a file, not a folder; choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: the folder {parent} is not writable; choose a folder you can write to")


def _check_per_frame_dir(path: Path) -> None:
    """A per-frame folder is replaced as a whole at the end, so it must be new, empty or one this tool wrote."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"--per-frame-dir {path}: a file is in the way; remove it or choose a folder name")
    if path.is_dir() and any(path.iterdir()) and not (path / PER_FRAME_MARKER).is_file():
        raise ValueError(f"--per-frame-dir {path}: the folder is not empty and was not written by this tool; "
                         "choose a new or empty folder (its files would be mixed with or replace yours)")
    parent = Path(os.path.abspath(path)).parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--per-frame-dir {path}: the folder {parent} is not writable; choose another folder")


def plan_outputs(video: str | os.PathLike, output: str | os.PathLike, report: str | os.PathLike | None = None,
                 overlay: str | os.PathLike | None = None,
                 per_frame_dir: str | os.PathLike | None = None) -> OutputPlan:
    """Check every output path of a conversion against the input and against each other, before any work.

    Raises:
        ValueError: a wrong suffix, an output that is the input or another output, an output inside the input
            folder of frames, a folder where a file is expected, an unwritable folder, a foreign per-frame folder.
    """
    video = Path(video)
    clip = Path(output)
    if clip.suffix != ".npz":
        raise ValueError(f"--output {clip}: expected a .npz file name")
    plan = OutputPlan(clip, Path(report) if report else clip.with_suffix(".report.json"),
                      Path(overlay) if overlay else None, Path(per_frame_dir) if per_frame_dir else None)
    if plan.overlay is not None and plan.overlay.suffix.lower() not in OVERLAY_SUFFIXES:
        raise ValueError(f"--overlay {plan.overlay}: unsupported suffix {plan.overlay.suffix!r}; use one of "
                         f"{', '.join(OVERLAY_SUFFIXES)}")
    names = {plan.clip: "--output", plan.report: "--report", plan.overlay: "--overlay",
             plan.per_frame_dir: "--per-frame-dir"}
    outputs = plan.paths()
    for i, a in enumerate(outputs):
        if _same(a, video) or (video.is_dir() and (_inside(a, video) or _same(a, video))):
            raise ValueError(f"{names[a]} {a}: is the input video (or inside its folder of frames); it would be "
                             "overwritten, choose another path")
        for b in outputs[i + 1:]:
            if _same(a, b) or _inside(a, b) or _inside(b, a):
                raise ValueError(f"{names[a]} {a} and {names[b]} {b}: the same path (or one inside the other); "
                                 "give each output its own name")
    for path in (plan.clip, plan.report, plan.overlay):
        if path is not None:
            check_writable_folder(path, names[path])
    if plan.per_frame_dir is not None:
        _check_per_frame_dir(plan.per_frame_dir)
    return plan


def check_device_name(device: str) -> None:
    """ValueError unless `device` is auto, cpu, mps, cuda or cuda:N (availability is checked when it is used)."""
    if not _DEVICE.match(str(device or "auto").lower()):
        raise ValueError(f"--device {device!r}: expected auto, cpu, cuda, cuda:N or mps")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_options(opts: Any) -> None:
    """Check a ConvertOptions before any work (file checks and frame ranges come later, with the video open).

    `focal`: None means "estimate from a typical field of view"; any given value must be a finite number of
    pixels > 0 (0 is an error, not a silent "estimate"). Smoothing strengths must be finite and >= 0.
    """
    check_device_name(opts.device)
    if opts.focal is not None and not (_finite(opts.focal) and opts.focal > 0):
        raise ValueError(f"--focal {opts.focal}: expected a focal length in pixels > 0 (omit --focal to estimate it)")
    for part, value in dict(opts.smoothing_overrides).items():
        if not (_finite(value) and value >= 0):
            raise ValueError(f"--smooth-{part} {value}: expected a number >= 0 (seconds; 0 turns it off)")
    if isinstance(opts.batch_size, bool) or not isinstance(opts.batch_size, int) \
            or not 1 <= opts.batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"--batch-size {opts.batch_size}: expected 1 to {MAX_BATCH_SIZE}")
    if opts.start < 0 or opts.stride < 1 or (opts.end is not None and opts.end <= opts.start):
        raise ValueError(f"--start {opts.start} --end {opts.end} --stride {opts.stride}: expected 0 <= start < end "
                         "and stride >= 1")
    if not isinstance(opts.people, str):
        ids = list(opts.people)
        if not ids or any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in ids):
            raise ValueError(f"--people {opts.people}: expected all, largest or track ids >= 0")
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"--people: track id(s) {dupes} given twice; list each id once")


_CROP_BYTES = 3 * 512 * 384 * 4  # one float32 network input (core.crop)


def available_memory() -> int | None:
    """Bytes this process may still use: the smaller of the system's available memory and what is left under an
    address-space limit (ulimit -v); None where neither is known."""
    limits = []
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/status", encoding="ascii") as fh:
                used = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
            limits.append(max(0, soft - used))
    except (ImportError, OSError, ValueError, StopIteration):
        pass
    return min(limits) if limits else None


def memory_batch_cap(batch_size: int, item_bytes: int = _CROP_BYTES, share: float = 0.25) -> int:
    """`batch_size`, lowered so that three batches of crops (the queue of two and the one being run) take at most
    `share` of the available memory; never below 1. Logs when it lowers it."""
    free = available_memory()
    if free is None:
        return batch_size
    cap = max(1, int(free * share) // (3 * item_bytes))
    if cap < batch_size:
        log.warning("--batch-size %d lowered to %d to fit the available memory (%.1f GB)",
                                            batch_size, cap, free / 1e9)
    return min(batch_size, cap)
