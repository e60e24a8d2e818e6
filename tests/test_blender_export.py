"""Export round trip: FBX, glTF (GLB) and BVH written by export.py and imported back into an empty scene reproduce
the bones' world deform matrices at sampled frames (orientation-independent, blender_notes §4.3)."""

from __future__ import annotations

import numpy as np
import pytest

import blender_helpers  # noqa: F401  (sets BLENDER_USER_RESOURCES before anything imports bpy)

pytestmark = pytest.mark.blender

TOL = 1e-4


def _reimport(bpy, fmt: str, path: str, fps: int):
    """Import `path` into a fresh empty scene at `fps` with each importer's default frame settings (what a user gets:
    FBX's anim_offset=1, BVH's frame_start=1; glTF has no fps of its own)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps = fps
    if fmt == "FBX":
        bpy.ops.import_scene.fbx(filepath=path)
    elif fmt == "GLB":
        bpy.ops.import_scene.gltf(filepath=path)
    else:
        bpy.ops.import_anim.bvh(filepath=path, axis_forward="Y", axis_up="Z", rotate_mode="NATIVE")
    arms = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]
    assert len(arms) == 1, [o.name for o in bpy.context.scene.objects]
    return arms[0]


@pytest.mark.parametrize("fmt", ["FBX", "GLB", "BVH"])
def test_round_trip_reproduces_bone_matrices(mannequin_dir, tmp_path, fmt):
    """Exported and re-imported with the importers' defaults, the animation sits on the same scene frames (the
    timeline starts at 1, as importers assume) with the same bone matrices, and the mesh keeps its 10,475 vertices
    (smooth shading: glTF splits the vertices of flat faces)."""
    from blender_helpers import deform_matrices, make_clip, random_track, reset_blender

    from blender_addon import export, importer
    from core.body.joint_names import JOINT_NAMES

    bpy = reset_blender()
    track = random_track(0, np.arange(6), seed=11)
    clip = make_clip([track], num_frames=6, fps=30.0)
    arms = importer.import_clip(bpy.context, clip, mannequin_dir, create_camera=False)
    (mesh,) = [c for c in arms[0].children if c.type == "MESH"]
    assert all(p.use_smooth for p in mesh.data.polygons)
    names = JOINT_NAMES[:55]
    frames = [1, 3, 6]
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
    assert tuple(round(v) for v in arm.animation_data.action.frame_range) == (1, 6)
    if fmt != "BVH":
        # the skinned body (glTF's importer adds an "Icosphere" it uses to draw bones)
        meshes = [o for o in bpy.context.scene.objects if o.type == "MESH" and o.vertex_groups]
        assert [len(m.data.vertices) for m in meshes] == [10475], [m.name for m in meshes]
    worst = 0.0
    for f in frames:
        bpy.context.scene.frame_set(f)
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


def test_extension_follows_format_and_failures_leave_nothing(mannequin_dir, tmp_path, monkeypatch):
    """GLB asked with a `.fbx` name writes `.glb` (it wrote an 11 MB `….partial.fbx.glb` and raised); an exporter
    failure is an ExportError (the operator reports it) and leaves no file behind."""
    from blender_helpers import make_clip, random_track, reset_blender

    from blender_addon import export, importer

    bpy = reset_blender()
    arms = importer.import_clip(bpy.context, make_clip([random_track(0, [0, 1], seed=3)], num_frames=2),
                                mannequin_dir, create_camera=False)
    assert export.export_rigs(bpy.context, arms, str(tmp_path / "take.fbx"), fmt="GLB") == [str(tmp_path / "take.glb")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.glb"]

    broken = {**export.FBX_PRESETS["BLENDER"], "axis_forward": "sideways"}  # the exporter rejects it
    monkeypatch.setitem(export.FBX_PRESETS, "BLENDER", broken)
    with pytest.raises(export.ExportError, match="take2.fbx"):
        export.export_rigs(bpy.context, arms, str(tmp_path / "take2.fbx"), fmt="FBX")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.glb"]
