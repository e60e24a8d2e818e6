"""Importer rollback and batch naming (issue 16, items 8 and 9), with the bpy module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import blender_helpers  # noqa: F401  (sets BLENDER_USER_RESOURCES before anything imports bpy)

pytestmark = pytest.mark.blender

ROOT = Path(__file__).resolve().parents[1]


def _scene_state(bpy) -> tuple:
    data = tuple(sorted(b.name for b in getattr(bpy.data, kind)) for kind in
                 ("objects", "actions", "meshes", "armatures", "collections", "cameras", "movieclips", "shape_keys"))
    scene = bpy.context.scene
    return data + ((scene.frame_start, scene.frame_end, scene.frame_current, scene.render.fps),)


@pytest.fixture()
def bpy():
    from blender_helpers import reset_blender

    return reset_blender()


def _clip(num_frames: int = 12):
    from blender_helpers import make_clip, random_track

    return make_clip([random_track(1, np.arange(0, 6), seed=1), random_track(2, np.arange(4, 12), seed=2)],
                     num_frames=num_frames)


def test_huge_num_frames_fails_before_building(bpy, mannequin_dir):
    from blender_addon import importer

    importer.import_clip(bpy.context, _clip(), mannequin_dir, create_camera=False)  # a scene with content
    before = _scene_state(bpy)
    with pytest.raises(ValueError, match="num_frames"):
        importer.import_clip(bpy.context, _clip(num_frames=2**40), mannequin_dir, create_camera=False)
    assert _scene_state(bpy) == before


def test_failure_while_building_removes_what_was_built(bpy, mannequin_dir, monkeypatch):
    """Anything failing after the first rig exists (here the camera step) leaves the scene as it was."""
    from blender_addon import camera, importer

    importer.import_clip(bpy.context, _clip(), mannequin_dir, create_camera=False)
    bpy.context.scene.frame_set(3)
    before = _scene_state(bpy)

    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure after the rigs were built")

    monkeypatch.setattr(camera, "create_camera", broken)
    with pytest.raises(RuntimeError, match="simulated"):
        importer.import_clip(bpy.context, _clip(), mannequin_dir, create_camera=True)
    assert _scene_state(bpy) == before


def test_batch_same_stem_different_extension_gives_distinct_outputs(mannequin_dir, tmp_path):
    """take.npz in two folders (and take.mp4 / take.mov in one) must not overwrite each other."""
    from argparse import Namespace

    from blender_addon.batch import _inputs
    from blender_helpers import make_clip, random_track

    items = _inputs(Namespace(input=["a/take.mp4", "a/take.mov", "a/other.mp4"], clip=[]))
    assert [stem for _, _, stem in items] == ["take", "take-2", "other"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    make_clip([random_track(0, np.arange(5), seed=1)], num_frames=5).save(tmp_path / "a" / "take.npz")
    make_clip([random_track(0, np.arange(7), seed=2)], num_frames=7).save(tmp_path / "b" / "take.npz")
    out = tmp_path / "out"
    cmd = [sys.executable, str(ROOT / "blender_addon" / "batch.py"), "--clip", str(tmp_path / "a" / "take.npz"),
           "--clip", str(tmp_path / "b" / "take.npz"), "--output", str(out), "--format", "bvh",
           "--model-dir", str(mannequin_dir), "--no-camera"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["take-2.bvh", "take.bvh"]
    frames = [int(next(line for line in (out / n).read_text().splitlines() if line.startswith("Frames:")).split()[1])
              for n in ("take.bvh", "take-2.bvh")]
    assert frames == [5, 7]


def test_keys_at_real_timestamps_of_a_variable_rate_clip(bpy, mannequin_dir):
    """Issue 16 item 11: a sample recorded at t seconds is keyed at t × fps (not at its frame index), on Blender's
    timeline that starts at frame 1."""
    from blender_addon import importer
    from blender_helpers import make_clip, random_track

    times = np.array([0.0, 0.02, 0.1, 0.12, 0.2, 0.3, 0.31, 0.4, 0.5, 0.6])
    track = random_track(1, np.arange(10), seed=1).replace(times=times)
    (arm,) = importer.import_clip(bpy.context, make_clip([track], num_frames=10, fps=25.0), mannequin_dir,
                                  create_camera=False)
    curve = next(iter(_fcurves(arm.animation_data.action)))
    keys = np.array([k.co[0] for k in curve.keyframe_points])
    np.testing.assert_allclose(keys, times * 25.0 + 1, atol=1e-4)


def _fcurves(action):
    """F-curves of an action (Blender 5 keeps them in layered channel bags)."""
    if hasattr(action, "layers") and action.layers:
        for strip in action.layers[0].strips:
            for bag in strip.channelbags:
                yield from bag.fcurves
    else:
        yield from action.fcurves
