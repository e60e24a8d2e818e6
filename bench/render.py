"""Benchmark the overlay renderers on the sample video: core's numpy rasteriser against Blender's Workbench engine
(bpy from PyPI), the measurement behind core/render.py's choice (pyrender needs EGL or OSMesa; not a dependency).

    python bench/render.py [--frames 10]

The mannequin performs the sample's true motion (assets/sample_motion.npz) over the video's frames; each renderer
draws it in the video's camera at 640×360. Columns: seconds to set up, milliseconds per frame (median after a warm-up
frame, including reading the image back), and the silhouette IoU against the numpy rasteriser's coverage — a check
that both drew the same thing. Prints a table and writes bench/results/render-cpu.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="smplx-bench-blender-"))

import numpy as np  # noqa: E402

from bench._common import print_table, write_results  # noqa: E402


def sample_meshes(frames: int, model_dir: str):
    """The sample clip, `frames` evenly spaced frame indices, their (F,V,3) camera vertices and the faces."""
    import torch

    from core.body import load_body_model, read_model_arrays
    from core.motion import MotionClip

    clip = MotionClip.load(ROOT / "assets" / "sample_motion.npz")
    track = clip.tracks[0]
    idx = np.linspace(0, clip.num_frames - 1, frames).round().astype(int)
    params = {k: torch.from_numpy(np.asarray(v[idx], np.float32).reshape(len(idx), -1))
              for k, v in track.smplx_params().items()}
    body = load_body_model(model_dir, "neutral", batch_size=len(idx))
    with torch.no_grad():
        verts = body(**params).vertices.numpy()
    return clip, idx, verts, read_model_arrays(model_dir)["f"].astype(np.int64)


def video_frames(idx: np.ndarray) -> list[np.ndarray]:
    from core.video import open_video

    wanted = set(idx.tolist())
    return [f.image for f in open_video(ROOT / "assets" / "sample.mp4") if f.index in wanted]


def bench_numpy(clip, frames, verts, faces) -> tuple[dict, list[np.ndarray]]:
    from core.render import rasterize, render_mesh

    t0 = time.perf_counter()
    render_mesh(frames[0], verts[0], faces, clip.focal, clip.princpt)  # warm-up
    setup = time.perf_counter() - t0
    times = []
    for bg, v in zip(frames, verts):
        t = time.perf_counter()
        render_mesh(bg, v, faces, clip.focal, clip.princpt)
        times.append(time.perf_counter() - t)
    masks = [rasterize(v, faces, clip.focal, clip.princpt, clip.image_size)[0] >= 0 for v in verts]
    return {"renderer": "numpy rasteriser (core.render)", "setup_s": round(setup, 2),
            "ms_per_frame": round(1e3 * float(np.median(times)), 1), "iou_vs_numpy": 1.0}, masks


def bench_workbench(clip, verts, faces, masks) -> dict:
    """Workbench through bpy: one mesh object whose vertices are replaced per frame, a PNG with alpha per frame."""
    import bpy
    import cv2

    from blender_addon.camera import create_camera
    from blender_addon.rig import blender_from

    t0 = time.perf_counter()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.film_transparent = True
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    create_camera(bpy.context, scene.collection, clip)
    to_world = blender_from("opencv")
    mesh = bpy.data.meshes.new("mannequin")
    mesh.from_pydata((verts[0] @ to_world.T).tolist(), [], faces.tolist())
    scene.collection.objects.link(bpy.data.objects.new("mannequin", mesh))
    out = Path(tempfile.mkdtemp(prefix="smplx-bench-render-")) / "frame.png"
    scene.render.filepath = str(out)

    def render(v: np.ndarray) -> np.ndarray:
        mesh.vertices.foreach_set("co", (v @ to_world.T).astype(np.float32).ravel())
        mesh.update()
        bpy.ops.render.render(write_still=True)
        return cv2.imread(str(out), cv2.IMREAD_UNCHANGED)

    render(verts[0])  # warm-up (shader compilation)
    setup = time.perf_counter() - t0
    times, ious = [], []
    for v, mask in zip(verts, masks):
        t = time.perf_counter()
        img = render(v)
        times.append(time.perf_counter() - t)
        drawn = img[..., 3] > 127
        ious.append((drawn & mask).sum() / (drawn | mask).sum())
    return {"renderer": f"Blender {bpy.app.version_string} Workbench (bpy)", "setup_s": setup,
            "ms_per_frame": round(1e3 * float(np.median(times)), 1), "iou_vs_numpy": round(float(np.mean(ious)), 4)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=10)
    args = p.parse_args(argv)
    from core.body import write_mannequin

    with tempfile.TemporaryDirectory() as model_dir:
        write_mannequin(model_dir)
        clip, idx, verts, faces = sample_meshes(args.frames, model_dir)
    frames = video_frames(idx)
    row, masks = bench_numpy(clip, frames, verts, faces)
    rows = [row]
    try:
        rows.append(bench_workbench(clip, verts, faces, masks))
    except ImportError as exc:
        rows.append({"renderer": "Blender Workbench (bpy)", "note": f"not installed: {exc}"})
    print_table(rows, [("renderer", "renderer", 34), ("setup_s", "setup s", 8), ("ms_per_frame", "ms/frame", 9),
                       ("iou_vs_numpy", "IoU", 6), ("note", "note", 10)])
    print(write_results("render-cpu", rows, "cpu", {"frames": int(len(idx)), "image_size": list(clip.image_size)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
