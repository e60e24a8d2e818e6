"""Live retargeting: the target follows the SMPL-X armature through constraints the user can tweak, instead of
baked keys.

Same solution as the baked path (solve.py), expressed as helpers (empties in their own collection, the source
armature untouched):

- each driven target bone gets a Copy Rotation (world → world) from a helper empty bone-parented to the source bone
  whose delta it takes; the empty's rest orientation is A · rest_target (A: the rest alignment), so its world
  rotation is Δ_source(t) · A · rest_target, the baked rotation. Rotating a helper tweaks its bone.
- a chain bone (spine/neck with a different segment count) adds the baked swing onto the posed source sub-chord:
  an "aim" empty on the same source bone, moved to the sub-chord's start by Copy Location and turned by Damped Track
  (Y) towards its end, carries the helper.
- the root bone's location (leg-length-scaled path, feet on the source's floor) is keyed from the solution, as baked.

`bake_live` turns it into keys with Blender's own visual-keying bake (tweaks included); `remove_live` takes it all
away and gives the target back its earlier action and switch properties.
"""

from __future__ import annotations

import json

import numpy as np

from .. import animate
from .kinematics import Rig, swing
from .mapping import Mapping
from .solve import _at, rest_polyline, solve

CONSTRAINT = "SMPL-X live"  # name of the Copy Rotation constraints added to the target's bones
STATE = "smplx_live_retarget"  # target custom property: JSON of what remove_live restores


def retarget_live(context, source, target, mapping: Mapping, frames: np.ndarray, name: str):
    """Make `target` follow `source` through constraints (see the module docstring); returns the Action that keys
    the root bone's location. Called by retarget(..., live=True), which checks the arguments."""
    import bpy

    if STATE in target:
        remove_live(target)
    solution = solve(source, target, mapping, frames)
    state = {"action": _action_name(target), "props": _set_properties(target, mapping.preset),
             "root": [mapping.root, list(target.pose.bones[mapping.root].location)]}
    coll = bpy.data.collections.new(f"{target.name} live retarget")
    context.scene.collection.children.link(coll)
    state["collection"] = coll.name
    src, tgt = Rig.of(source), Rig.of(target)
    for unit in mapping.units:
        helper = _helper(coll, source, src, unit, solution.align[unit.target] @ tgt.rest_rot(unit.target))
        con = target.pose.bones[unit.target].constraints.new("COPY_ROTATION")
        con.name, con.target = CONSTRAINT, helper
        con.owner_space = con.target_space = "WORLD"
    action = animate.write_pose_action(target, solution.frames, {}, solution.locations, name)
    state["live_action"] = action.name
    target[STATE] = json.dumps(state)
    return action


def _action_name(obj) -> str | None:
    anim = obj.animation_data
    return anim.action.name if anim is not None and anim.action is not None else None


def _set_properties(target, preset: dict) -> dict:
    """Set the preset's switch properties (as write() does); returns their earlier values."""
    old = {}
    for bone, props in preset.get("properties", {}).items():
        pb = target.pose.bones.get(bone)
        for prop, value in props.items():
            if pb is not None and prop in pb.keys():
                old.setdefault(bone, {})[prop] = pb[prop]
                pb[prop] = value
    return old


def _empty(coll, name: str, source, bone: str, world: np.ndarray):
    """An empty bone-parented to `source`'s `bone` whose world matrix is `world` (4,4) in the rest pose."""
    import bpy
    from mathutils import Matrix

    obj = bpy.data.objects.new(name, None)
    obj.empty_display_size = 0.05
    coll.objects.link(obj)
    obj.parent, obj.parent_type, obj.parent_bone = source, "BONE", bone
    b = source.data.bones[bone]
    parent = source.matrix_world @ b.matrix_local @ Matrix.Translation((0.0, b.length, 0.0))
    obj.matrix_parent_inverse = Matrix.Identity(4)
    obj.matrix_basis = parent.inverted() @ Matrix(world.tolist())
    return obj


def _pose(rot: np.ndarray, loc: np.ndarray) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = rot, loc
    return m


def _helper(coll, source, src: Rig, unit, want: np.ndarray):
    """The empty whose world rotation the target bone copies: Δ_source · `want` (+ the chain swing)."""
    import bpy
    from mathutils import Matrix

    name = f"{unit.target} live"
    if unit.source_end is None or (len(unit.source_bones) == 1 and unit.u0 == 0.0 and unit.u1 == 1.0):
        bone = unit.source_bones[0]
        return _empty(coll, name, source, bone, _pose(want, src.rest_head(bone)))
    rest, cum = rest_polyline(src, unit.source_bones, unit.source_end)
    seg = [int(np.clip(np.searchsorted(cum, u, side="right") - 1, 0, len(unit.source_bones) - 1))
           for u in (unit.u0, 0.5 * (unit.u0 + unit.u1), unit.u1)]
    p0, p1 = _at(rest, cum, unit.u0), _at(rest, cum, unit.u1)
    ends = [_empty(coll, f"{name} {tag}", source, unit.source_bones[k], _pose(np.eye(3), p))
            for tag, k, p in (("start", seg[0], p0), ("end", seg[2], p1))]
    # the aim's Y axis is A·d̂_t0 (the target segment after the rest alignment), which solve() swings onto the posed
    # sub-chord; A maps d_t0 onto the rest sub-chord p1 − p0
    aim_rot = swing(np.array([0.0, 1.0, 0.0]), p1 - p0)
    aim = _empty(coll, f"{name} aim", source, unit.source_bones[seg[1]], _pose(aim_rot, p0))
    loc = aim.constraints.new("COPY_LOCATION")
    loc.target = ends[0]
    track = aim.constraints.new("DAMPED_TRACK")
    track.target, track.track_axis = ends[1], "TRACK_Y"
    obj = bpy.data.objects.new(name, None)
    obj.empty_display_size = 0.05
    coll.objects.link(obj)
    obj.parent = aim
    obj.matrix_parent_inverse = Matrix.Identity(4)
    obj.matrix_basis = Matrix(_pose(aim_rot.T @ want, np.zeros(3)).tolist())
    return obj


def remove_live(target, restore_properties: bool = True) -> None:
    """Remove the live constraints and helpers and give the target back its earlier action and (unless told not
    to: bake_live keeps the preset's FK switches its keys need) its earlier switch properties."""
    import bpy

    state = json.loads(target.get(STATE, "{}"))
    for pb in target.pose.bones:
        for con in [c for c in pb.constraints if c.name.startswith(CONSTRAINT)]:
            pb.constraints.remove(con)
    coll = bpy.data.collections.get(state.get("collection", ""))
    if coll is not None:
        for obj in list(coll.objects):
            bpy.data.objects.remove(obj)
        bpy.data.collections.remove(coll)
    for bone, props in state.get("props", {}).items() if restore_properties else ():
        for prop, value in props.items():
            target.pose.bones[bone][prop] = value
    if state.get("root"):  # the keyed location stays on the channel once its action is gone
        root, location = state["root"]
        target.pose.bones[root].location = location
    if STATE in target:
        before = state.get("action")
        if target.animation_data is not None:
            target.animation_data.action = bpy.data.actions.get(before) if before else None
        live_action = bpy.data.actions.get(state.get("live_action", ""))
        if live_action is not None and live_action.users == 0:
            bpy.data.actions.remove(live_action)
        del target[STATE]


def bake_live(context, target, frame_range=None, name=None):
    """Bake the live result (with the user's tweaks) into keys of the driven bones and the root with Blender's
    visual-keying bake, then remove the constraints and helpers; returns the Action (assigned to the target). The
    rig's own constraints (a Rigify rig's) stay and its other bones are not keyed."""
    import bpy
    from bpy_extras import anim_utils

    if STATE not in target:
        raise ValueError(f"{target.name!r} has no live retarget to bake")
    anim = target.animation_data
    if frame_range is None:
        first, last = (round(v) for v in anim.action.frame_range)
    else:
        first, last = (int(v) for v in frame_range)
    options = anim_utils.BakeOptions(
        only_selected=True, do_pose=True, do_object=False, do_visual_keying=True, do_constraint_clear=False,
        do_parents_clear=False, do_clean=False, do_location=True, do_rotation=True, do_scale=False, do_bbone=False,
        do_custom_props=False)
    root = json.loads(target[STATE])["root"][0]
    selected = {pb.name: pb.select for pb in target.pose.bones}
    for pb in target.pose.bones:
        pb.select = pb.name == root or any(c.name.startswith(CONSTRAINT) for c in pb.constraints)
    try:
        action = bpy.data.actions.new(name or f"{target.name}-retarget")
        action = anim_utils.bake_action(target, action=action, frames=range(first, last + 1), bake_options=options)
    finally:
        for pb in target.pose.bones:
            pb.select = selected[pb.name]
    action.use_fake_user = True  # survives remove_live; the target gets it back below
    remove_live(target, restore_properties=False)
    target.animation_data_create().action = action
    action.use_fake_user = False
    return action
