"""Export round trip: FBX, glTF (GLB) and BVH written by export.py and imported back into an empty scene reproduce
the bones' world deform matrices at sampled frames (orientation-independent, blender_notes §4.3)."""

from __future__ import annotations

import numpy as np
import pytest

import blender_helpers  # noqa: F401  (sets BLENDER_USER_RESOURCES before anything imports bpy)

pytestmark = pytest.mark.blender

TOL = 1e-4


def _reimport(bpy, fmt: str, path: str, fps: int):
    """Import `path` into a fresh empty scene at `fps` (glTF has no fps; FBX frames are absolute times).

    BVH stores no start time and Blender's importer starts at frame ≥ 1: file frame 0 (scene frame 0) lands on 1.
    """
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps = fps
    if fmt == "FBX":
        bpy.ops.import_scene.fbx(filepath=path, anim_offset=0.0)
    elif fmt == "GLB":
        bpy.ops.import_scene.gltf(filepath=path)
    else:
        bpy.ops.import_anim.bvh(filepath=path, axis_forward="Y", axis_up="Z", rotate_mode="NATIVE",
                                update_scene_fps=False, update_scene_duration=False, frame_start=1)
    arms = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]
    assert len(arms) == 1, [o.name for o in bpy.context.scene.objects]
    return arms[0]


@pytest.mark.parametrize("fmt", ["FBX", "GLB", "BVH"])
def test_round_trip_reproduces_bone_matrices(mannequin_dir, tmp_path, fmt):
    from blender_helpers import deform_matrices, make_clip, random_track, reset_blender

    from blender_addon import export, importer
    from core.body.joint_names import JOINT_NAMES

    bpy = reset_blender()
    track = random_track(0, np.arange(6), seed=11)
    clip = make_clip([track], num_frames=6, fps=30.0)
    arms = importer.import_clip(bpy.context, clip, mannequin_dir, create_camera=False)
    names = JOINT_NAMES[:55]
    frames = [0, 2, 5]
    reference = {}
    for f in frames:
        bpy.context.scene.frame_set(f)
        reference[f] = deform_matrices(arms[0], names)
    path = str(tmp_path / f"rig.{fmt.lower()}")
    written = export.export_rigs(bpy.context, arms, path, fmt=fmt)
    assert written == [path]
    assert not list(tmp_path.glob("*.partial*"))

    arm = _reimport(bpy, fmt, path, fps=30)
    assert {b.name for b in arm.data.bones} >= set(names)
    offset = 1 if fmt == "BVH" else 0
    worst = 0.0
    for f in frames:
        bpy.context.scene.frame_set(f + offset)
        worst = max(worst, np.abs(deform_matrices(arm, names) - reference[f]).max())
    print(f"{fmt} round trip: max deform-matrix error {worst:.2e}")
    assert worst < TOL


def test_fbx_presets_and_bad_arguments(mannequin_dir, tmp_path):
    from blender_helpers import make_clip, random_track, reset_blender

    from blender_addon import export, importer

    bpy = reset_blender()
    clip = make_clip([random_track(0, [0, 1], seed=2)], num_frames=2)
    arms = importer.import_clip(bpy.context, clip, mannequin_dir, create_camera=False)
    for preset in export.FBX_PRESETS:
        out = tmp_path / f"{preset}.fbx"
        export.export_rigs(bpy.context, arms, str(out), fmt="FBX", preset=preset)
        assert out.stat().st_size > 10_000
    with pytest.raises(ValueError, match="format"):
        export.export_rigs(bpy.context, arms, str(tmp_path / "x.obj"), fmt="OBJ")
    with pytest.raises(ValueError, match="preset"):
        export.export_rigs(bpy.context, arms, str(tmp_path / "x.fbx"), preset="MAYA")
    with pytest.raises(ValueError, match="nothing to export"):
        export.export_rigs(bpy.context, [], str(tmp_path / "x.fbx"))
