"""Headless batch conversion: videos (or already converted clips) → one .blend / FBX / GLB / BVH file per input.

    blender -b --python blender_addon/batch.py -- --input VIDEO_OR_DIR --output DIR [--format fbx] [options]
    python blender_addon/batch.py --input VIDEO_OR_DIR --output DIR ...        (bpy from PyPI)
    python blender_addon/batch.py --clip CLIP.npz [--clip ...] --output DIR    (skip the conversion)
    ... --shard K/N                                                           (this machine's share: inputs K, K+N, …)

Every conversion setting of core.options is a flag (`--checkpoint`, `--detector`, `--det-score`, …). Videos are
converted in this process when torch is importable here (bpy from PyPI in a full environment), else by
`<python> -m core convert` in a subprocess, as the add-on does; that Python is `--python`, else the add-on's
preferences, else the environment "Install dependencies" made. The same file works from the repository and from
inside the installed extension. One failing input does not stop the others; a summary table is printed and the exit
code is 1 if any input failed (also from inside Blender, which otherwise exits 0 after a script).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
EXTENSIONS = {"blend": ".blend", "fbx": ".fbx", "glb": ".glb", "bvh": ".bvh"}

# the add-on package this file belongs to: "blender_addon" in the repository, "bl_ext.<repo>.smplx_video" when
# imported from the installed extension, the folder's name when run as a script (set by _make_importable)
_PACKAGE = __package__ or "blender_addon"


def _addon(module: str = ""):
    """A module of the add-on package this batch.py belongs to (e.g. `_addon("worker")`)."""
    return importlib.import_module(f"{_PACKAGE}.{module}" if module else _PACKAGE)


def _script_args(argv: list) -> list:
    """Arguments after `--` (Blender passes its own before it), else everything after the script name."""
    return argv[argv.index("--") + 1:] if "--" in argv else argv[1:]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="batch.py", description="Convert videos to SMPL-X animation files.")
    p.add_argument("--input", action="append", default=[], help="video file or folder of videos (repeatable)")
    p.add_argument("--clip", action="append", default=[], help="already converted MotionClip .npz (repeatable)")
    p.add_argument("--output", required=True, help="output folder")
    p.add_argument("--format", default="blend", choices=sorted(EXTENSIONS))
    p.add_argument("--preset", default="BLENDER", choices=["BLENDER", "UNITY", "UNREAL"], help="FBX target")
    p.add_argument("--python", help="Python with torch for the conversion subprocess (default: the add-on's)")
    p.add_argument("--shard", help="K/N: convert only inputs K, K+N, K+2N, … (0 <= K < N) of the sorted list; "
                                   "see slurm_batch.sh")
    p.add_argument("--no-camera", action="store_true", help="do not create the video camera")
    p.add_argument("--pose-correctives", action="store_true", help="add pose-corrective shape keys")
    p.add_argument("--timeline", default="start", choices=["start", "video"],
                   help="start: the first frame is scene frame 1; video: video frame N is scene frame N")
    _addon().core_module("options").add_arguments(p)
    return p


def parse_shard(text: str | None) -> tuple[int, int]:
    """(K, N) from "K/N"; (0, 1) when not given; ValueError naming --shard otherwise."""
    if not text:
        return 0, 1
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected K/N, e.g. 3/10") from None
    if n < 1 or not 0 <= k < n:
        raise ValueError(f"--shard {text!r}: need 0 <= K < N")
    return k, n


def _inputs(args) -> list:
    """(kind, path, output stem) for every video found and every clip given, in a stable order. Stems are made
    unique over the whole list (before sharding, so every machine names a file the same way): a second `walk` becomes
    `walk-2`, so two inputs never write the same output."""
    items = []
    for entry in args.input:
        path = Path(entry)
        if path.is_dir():
            items += [("video", p) for p in sorted(path.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES]
        else:
            items.append(("video", path))
    items += [("clip", Path(c)) for c in args.clip]
    seen: dict[str, int] = {}
    out = []
    for kind, path in items:
        n = seen[path.stem.lower()] = seen.get(path.stem.lower(), 0) + 1
        out.append((kind, path, path.stem if n == 1 else f"{path.stem}-{n}"))
    return out


@dataclass
class Outcome:
    """One row of the summary table."""

    name: str
    ok: bool
    people: int
    frames: int
    seconds: float
    detail: str


def conversion_python(args) -> str | None:
    """The Python that converts videos: --python, else None when this process can (torch importable), else the
    add-on's (preferences, or the environment Install dependencies made). ValueError with what to do if none."""
    if args.python:
        if not os.path.isfile(args.python):
            raise ValueError(f"--python {args.python}: no such file")
        return args.python
    if importlib.util.find_spec("torch") is not None:
        return None
    import bpy

    preferences = _addon("preferences")
    prefs = next((a.preferences for name, a in bpy.context.preferences.addons.items()
                  if name.split(".")[-1] in ("smplx_video", "blender_addon") and a.preferences is not None), None)
    python = preferences.conversion_python(prefs)
    if python:
        return python
    raise ValueError("no Python with torch for the conversion: in Blender open Edit > Preferences > Add-ons > "
                     "SMPL-X from Video and press 'Install dependencies', or pass --python /path/to/python "
                     "(e.g. the project's .venv/bin/python)")


def _convert(video: Path, args, options, python: str | None, workdir: str):
    """The video's MotionClip: in-process (python None), else via `<python> -m core convert` in a subprocess;
    returns the clip or the path of the .npz written."""
    addon = _addon()
    if python is None:
        pipeline = addon.core_module("pipeline")
        return pipeline.convert_video(video, options).clip
    output = os.path.join(workdir, "clip.npz")
    core_parent = os.path.dirname(os.path.dirname(addon.core.__file__))
    child = _addon("worker").ConvertWorker.for_conversion(python, core_parent, str(video), output, options)
    state = child.wait(callback=lambda p: print(f"  {video.name}: {p.text()}", flush=True), interval=0.5)
    if state != "done":
        raise RuntimeError(child.error or f"conversion {state}")
    return output


def _save_blend(path: Path) -> None:
    import bpy

    tmp = path.with_name(path.stem + ".partial.blend")
    try:
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp), check_existing=False, copy=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def process(kind: str, path: Path, stem: str, args, options, python: str | None) -> Outcome:
    """Convert (videos), import and write one input; errors become a failed Outcome, never an exception."""
    import bpy

    t0 = time.perf_counter()
    out = Path(args.output) / (stem + EXTENSIONS[args.format])
    try:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        model_dir = str(options.resolved_model_dir())
        with tempfile.TemporaryDirectory(prefix="smplx-batch-") as workdir:
            if kind == "video":
                if not path.is_file():
                    raise FileNotFoundError(f"video {path} not found")
                clip = _convert(path, args, options, python, workdir)
            else:
                clip = path
            video = str(path) if kind == "video" else None
            people = options.people if options.people in ("all", "largest") else "all"
            arms = _addon("importer").import_clip(
                bpy.context, clip, model_dir, people=people, video=video, create_camera=not args.no_camera,
                pose_correctives=args.pose_correctives, timeline=args.timeline)
        scene = bpy.context.scene
        if args.format == "blend":
            _save_blend(out)
            written = str(out)
        else:
            written = ", ".join(_addon("export").export_rigs(bpy.context, arms, str(out), fmt=args.format,
                                                             preset=args.preset))
        frames = scene.frame_end - scene.frame_start + 1
        return Outcome(path.name, True, len(arms), frames, time.perf_counter() - t0, written)
    except Exception as exc:  # one bad input must not stop the batch; the row says what went wrong
        return Outcome(path.name, False, 0, 0, time.perf_counter() - t0, f"{type(exc).__name__}: {exc}")


def summary(rows: list) -> str:
    """Fixed-width table of the outcomes."""
    lines = [f"{'input':<32} {'status':<6} {'people':>6} {'frames':>7} {'seconds':>8}  output / error",
             "-" * 100]
    for r in rows:
        lines.append(f"{r.name[:32]:<32} {'ok' if r.ok else 'FAIL':<6} {r.people:>6} {r.frames:>7} "
                     f"{r.seconds:>8.1f}  {r.detail}")
    return "\n".join(lines)


def main(argv: list | None = None) -> int:
    args = _parser().parse_args(_script_args(sys.argv if argv is None else ["batch.py", *argv]))
    options_module = _addon().core_module("options")
    try:
        options = options_module.options_from_args(args)
        k, n = parse_shard(args.shard)
        items = _inputs(args)
        if not items:
            raise ValueError("nothing to do: give --input VIDEO_OR_DIR and/or --clip CLIP.npz")
        items = items[k::n]
        python = conversion_python(args) if any(kind == "video" for kind, _, _ in items) else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    Path(args.output).mkdir(parents=True, exist_ok=True)
    rows = []
    for kind, path, stem in items:
        print(f"[{len(rows) + 1}/{len(items)}] {path}", flush=True)
        rows.append(process(kind, path, stem, args, options, python))
    print(summary(rows))
    return 0 if all(r.ok for r in rows) else 1


def _make_importable() -> None:
    """Run as a script (`python …/batch.py`, `blender --python …`): import the folder holding this file as a package
    (`blender_addon` in the repository, `smplx_video` inside the installed extension)."""
    global _PACKAGE
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        sys.path.pop(0)  # the add-on's own folder would shadow module names (camera, export…)
    parent = os.path.dirname(here)
    if parent not in sys.path:
        sys.path.insert(0, parent)
    _PACKAGE = os.path.basename(here)


def _exit(code: int) -> None:
    """Leave with `code`. Inside the Blender program (not bpy from PyPI) a script's exit status is not Blender's, so
    a failure ends the process directly, after removing Blender's session temporary folder (its own exit would)."""
    sys.stdout.flush()
    sys.stderr.flush()
    if code:
        try:
            import bpy
        except ImportError:
            bpy = None
        if bpy is not None and bpy.app.binary_path:
            tempdir = bpy.app.tempdir.rstrip("/\\")
            if os.path.basename(tempdir).startswith("blender_"):
                shutil.rmtree(tempdir, ignore_errors=True)
            os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    _make_importable()
    try:
        exit_code = main()
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        exit_code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # noqa: BLE001 — a traceback inside Blender would still exit 0
        import traceback

        traceback.print_exc()
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        exit_code = 1
    _exit(exit_code)
