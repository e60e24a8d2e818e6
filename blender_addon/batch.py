"""Headless batch conversion: videos (or already converted clips) → one .blend / FBX / GLB / BVH file per input.

    blender -b --python blender_addon/batch.py -- --input VIDEO_OR_DIR --output DIR [--format fbx] [options]
    python blender_addon/batch.py --input VIDEO_OR_DIR --output DIR ...        (bpy from PyPI)
    python blender_addon/batch.py --clip CLIP.npz [--clip ...] --output DIR    (skip the conversion)

Each input gets a fresh empty scene with one rig per person. Videos are converted in this process with
core.pipeline.convert_video when torch is importable, else by `<--python> -m core convert` in a subprocess (as the
add-on does). One failing input does not stop the others; a summary table is printed and the exit code is 1 if any
input failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
EXTENSIONS = {"blend": ".blend", "fbx": ".fbx", "glb": ".glb", "bvh": ".bvh"}


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
    p.add_argument("--model-dir", help="model directory (default: $SMPLX_VIDEO_MODELS)")
    p.add_argument("--variant", default="s32", choices=["s32", "b32", "l32", "h32"])
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--detector", default="torchvision", choices=["torchvision", "mmdet", "static-camera"])
    p.add_argument("--people", default="all", choices=["all", "largest"])
    p.add_argument("--python", help="Python with torch for the conversion subprocess (default: this one)")
    p.add_argument("--no-camera", action="store_true", help="do not create the video camera")
    p.add_argument("--pose-correctives", action="store_true", help="add pose-corrective shape keys")
    p.add_argument("--retarget-to", metavar="CHARACTER", help="also retarget the first person onto this character "
                   "(.fbx/.glb/.blend/.bvh or rigify-metarig) and write it as <stem>_character.<format>")
    return p


def _inputs(args) -> list:
    """(kind, path) for every video found and every clip given, in a stable order."""
    items = []
    for entry in args.input:
        path = Path(entry)
        if path.is_dir():
            items += [("video", p) for p in sorted(path.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES]
        else:
            items.append(("video", path))
    items += [("clip", Path(c)) for c in args.clip]
    return items


@dataclass
class Outcome:
    """One row of the summary table."""

    name: str
    ok: bool
    people: int
    frames: int
    seconds: float
    detail: str


def _convert(video: Path, args, workdir: str):
    """The video's MotionClip: in-process when torch is importable and no --python is given, else (and in Blender)
    via `<python> -m core convert` in a subprocess; returns the clip or the path of the .npz written."""
    from blender_addon import core_module, worker

    if not args.python and importlib.util.find_spec("torch") is not None:  # the pipeline can run in-process
        pipeline = core_module("pipeline")
        opts = pipeline.ConvertOptions(model_dir=Path(args.model_dir) if args.model_dir else None,
                                       variant=args.variant, device=args.device, people=args.people,
                                       detector=args.detector)
        return pipeline.convert_video(video, opts).clip
    from blender_addon import core

    job = worker.ConvertJob(video=str(video), output=os.path.join(workdir, "clip.npz"),
                            python=args.python or sys.executable,
                            core_parent=os.path.dirname(os.path.dirname(core.__file__)), model_dir=args.model_dir,
                            variant=args.variant, device=args.device, people=args.people, detector=args.detector)
    child = worker.ConvertWorker.for_job(job)
    state = child.wait(callback=lambda p: print(f"  {video.name}: {p.text()}", flush=True), interval=0.5)
    if state != "done":
        raise RuntimeError(child.error or f"conversion {state}")
    return job.output


def _save_blend(path: Path) -> None:
    import bpy

    tmp = path.with_name(path.stem + ".partial.blend")
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp), check_existing=False, copy=True)
    os.replace(tmp, path)


def process(kind: str, path: Path, args) -> Outcome:
    """Convert (videos), import and write one input; errors become a failed Outcome, never an exception."""
    import bpy

    from blender_addon import core_module, export, importer, retarget

    t0 = time.perf_counter()
    out = Path(args.output) / (path.stem + EXTENSIONS[args.format])
    try:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        model_dir = args.model_dir or os.environ.get(core_module("body").ENV_VAR, "")
        if not model_dir:
            raise FileNotFoundError("no model directory: pass --model-dir or set $SMPLX_VIDEO_MODELS")
        with tempfile.TemporaryDirectory(prefix="smplx-batch-") as workdir:
            if kind == "video":
                if not path.is_file():
                    raise FileNotFoundError(f"video {path} not found")
                clip = _convert(path, args, workdir)
            else:
                clip = path
            video = str(path) if kind == "video" else None
            arms = importer.import_clip(bpy.context, clip, model_dir, people=args.people, video=video,
                                        create_camera=not args.no_camera, pose_correctives=args.pose_correctives)
        scene = bpy.context.scene
        if args.retarget_to:  # the character replaces the SMPL-X rigs in the output
            arms = [retarget.retarget_to_character(bpy.context, arms[0], args.retarget_to)]
            out = out.with_name(f"{path.stem}_character{out.suffix}")
        if args.format == "blend":
            _save_blend(out)
        else:
            export.export_rigs(bpy.context, arms, str(out), fmt=args.format, preset=args.preset)
        frames = scene.frame_end - scene.frame_start + 1
        return Outcome(path.name, True, len(arms), frames, time.perf_counter() - t0, str(out))
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
    items = _inputs(args)
    if not items:
        print("error: nothing to do: give --input VIDEO_OR_DIR and/or --clip CLIP.npz", file=sys.stderr)
        return 2
    Path(args.output).mkdir(parents=True, exist_ok=True)
    rows = []
    for kind, path in items:
        print(f"[{len(rows) + 1}/{len(items)}] {path}", flush=True)
        rows.append(process(kind, path, args))
    print(summary(rows))
    return 0 if all(r.ok for r in rows) else 1


def _make_importable() -> None:
    """Run as a script (`python blender_addon/batch.py`, `blender --python …`): import the add-on as a package."""
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        sys.path.pop(0)  # the add-on's own folder would shadow module names (camera, export…)
    root = os.path.dirname(here)
    if root not in sys.path:
        sys.path.insert(0, root)


if __name__ == "__main__":
    _make_importable()
    sys.exit(main())
