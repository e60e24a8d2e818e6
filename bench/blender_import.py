"""Benchmark the Blender import: seconds to import a 10,000-frame MotionClip (1 and 4 people), and the speed-up of
the bulk F-curve writes (keyframe_points.add + foreach_set) over a plain keyframe_insert loop on 1,000 frames.

    python bench/blender_import.py [--model-dir DIR] [--frames 10000] [--loop-frames 1000]

Prints a fixed-width table and writes bench/results/blender_import.json (rows + machine and versions).
Without --model-dir the licence-free mannequin is written to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="smplx-bench-blender-"))

import numpy as np  # noqa: E402

from core.atomic import atomic_write  # noqa: E402


def random_clip(people: int, frames: int, seed: int = 0):
    """A MotionClip with `people` tracks of `frames` frames of random (smooth-ish) SMPL-X motion."""
    from core.motion import MotionClip, MotionTrack

    rng = np.random.default_rng(seed)
    t = np.arange(frames)
    tracks = []
    for pid in range(people):
        def wave(*shape):
            phase = rng.uniform(0, 2 * np.pi, shape)
            return 0.3 * np.sin(t.reshape(-1, *([1] * len(shape))) / 15.0 + phase)
        orient = wave(3)
        orient[:, 0] += np.pi
        tracks.append(MotionTrack(
            track_id=pid, frames=t, times=t / 30.0, global_orient=orient, body_pose=wave(21, 3),
            left_hand_pose=wave(15, 3), right_hand_pose=wave(15, 3), jaw_pose=wave(3),
            betas=np.tile(rng.normal(0, 1, 10), (frames, 1)), expression=wave(10),
            transl=wave(3) + [pid - people / 2, 0.3, 4.0], boxes=np.tile([0, 0, 100, 200.0], (frames, 1)),
            scores=np.ones(frames)))
    return MotionClip(fps=30.0, num_frames=frames, image_size=(1280, 720), focal=np.array([1000.0, 1000.0]),
                      princpt=np.array([639.5, 359.5]), tracks=tracks)


def time_import(model_dir: str, people: int, frames: int) -> dict:
    """Wall seconds of importer.import_clip (rigs + actions, no camera) into an empty scene."""
    import bpy

    from blender_addon import importer

    clip = random_clip(people, frames)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    t0 = time.perf_counter()
    arms = importer.import_clip(bpy.context, clip, model_dir, create_camera=False)
    seconds = time.perf_counter() - t0
    keys = sum(len(fc.keyframe_points) for a in arms for fc in _fcurves(a.animation_data.action))
    return {"case": f"import {frames} frames", "people": people, "seconds": seconds,
            "keys": keys, "frames_per_s": people * frames / seconds}


def _fcurves(action):
    if hasattr(action, "layers") and len(action.layers):
        return [fc for bag in action.layers[0].strips[0].channelbags for fc in bag.fcurves]
    return list(action.fcurves)


def time_key_writing(model_dir: str, frames: int) -> list:
    """Seconds to write the same channels (55 quaternions, locations, 10 expressions) in bulk vs keyframe_insert."""
    import bpy

    from blender_addon import animate, rig

    clip = random_clip(1, frames)
    track = clip.tracks[0]
    model = rig.load_body_model(model_dir)
    betas = track.betas[0]
    curves = animate.track_curves(track, model, model.rest_joints(betas), clip.hands_include_mean)
    rows = []
    for method in ("bulk foreach_set", "keyframe_insert loop"):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        collection = bpy.data.collections.new("bench")
        bpy.context.scene.collection.children.link(collection)
        built = rig.build_rig(bpy.context, collection, model, betas, "bench")
        t0 = time.perf_counter()
        if method.startswith("bulk"):
            animate.write_armature_action(built.armature, curves, model.joint_names, "motion")
            animate.write_shape_key_action(built.mesh, curves, "face")
        else:
            _insert_loop(built, model.joint_names, curves)
        seconds = time.perf_counter() - t0
        rows.append({"case": f"keys {frames} frames: {method}", "people": 1, "seconds": seconds,
                     "frames_per_s": frames / seconds})
    rows[1]["ratio_vs_bulk"] = rows[1]["seconds"] / rows[0]["seconds"]
    return rows


def _insert_loop(built, names, curves) -> None:
    """The naive way: set every channel and call keyframe_insert per frame (what most SMPL add-ons do)."""
    pose_bones = [built.armature.pose.bones[n] for n in names]
    keys = built.mesh.data.shape_keys.key_blocks
    for i, frame in enumerate(curves.frames):
        for j, pb in enumerate(pose_bones):
            pb.rotation_quaternion = curves.quats[i, j]
            pb.keyframe_insert("rotation_quaternion", frame=frame)
            if j in curves.locations:
                pb.location = curves.locations[j][i]
                pb.keyframe_insert("location", frame=frame)
        for k in range(curves.expression.shape[1]):
            block = keys[f"Exp{k:03d}"]
            block.value = curves.expression[i, k]
            block.keyframe_insert("value", frame=frame)


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", help="SMPL-X model directory (default: a fresh mannequin)")
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--loop-frames", type=int, default=1_000)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "blender_import.json"))
    args = parser.parse_args(argv)

    import bpy

    model_dir = args.model_dir
    if not model_dir:
        from core.body import write_mannequin

        model_dir = tempfile.mkdtemp(prefix="smplx-bench-mannequin-")
        write_mannequin(model_dir)
    rows = [time_import(model_dir, people, args.frames) for people in (1, 4)]
    rows += time_key_writing(model_dir, args.loop_frames)

    print(f"{'case':<40} {'people':>6} {'seconds':>9} {'frames/s':>10} {'ratio':>7}")
    for r in rows:
        ratio = f"{r['ratio_vs_bulk']:.0f}x" if "ratio_vs_bulk" in r else ""
        print(f"{r['case']:<40} {r['people']:>6} {r['seconds']:>9.2f} {r['frames_per_s']:>10.0f} {ratio:>7}")
    result = {"rows": rows, "device": "cpu", "machine": platform.machine(), "processor": platform.processor(),
              "cpu_count": os.cpu_count(), "python": platform.python_version(), "blender": bpy.app.version_string,
              "numpy": np.__version__}
    out = Path(args.out)
    atomic_write(out, lambda fh: fh.write(json.dumps(result, indent=2)), mode="w")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
