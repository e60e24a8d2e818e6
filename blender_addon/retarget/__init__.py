"""Retarget the motion of an SMPL-X armature (importer.import_clip's rig) onto the user's own character.

Method: world-space rest alignment (align the two rest poses bone by bone, then copy each bone's world-space rotation
change), done in numpy for every frame at once:

1. A *preset* (JSON; the built-in ones in `builtin/`) names the target bone of each SMPL-X joint ("role"), plus two
   chains, "spine" and "neck", whose bone counts may differ from SMPL-X's (3 spine, 1 neck segment).
2. Each mapped target bone gets a rest alignment A (world rotation) that turns its rest direction (head → the head of
   the bone mapped to the next joint down the limb) onto the source's rest direction: this absorbs T- vs A-pose,
   bone rolls and axis conventions, bent rest fingers. Hands also align the knuckle line (index → pinky), so the palm
   faces the same way. A leaf bone (head, toes, last finger segment, a hand without fingers) reuses its parent's A.
3. Per frame, target world rotation = Δ_source(t) · A · rest_target, where Δ_source is the source bone's world
   rotation relative to its rest. A chain bone covers a fraction of its chain's length; it takes the Δ of the source
   segment at the middle of that fraction and is then swung onto the posed source sub-chord over the same fraction
   (so 5 spine bones follow 3 SMPL-X segments, or 1 follows all 3).
4. The pelvis bone's world position follows the source pelvis: horizontal motion scaled by leg length ratio, and the
   height set per frame so that the target's lowest foot point keeps the source's lowest foot clearance (scaled)
   above the source's floor: feet stay on the floor where the source's are.
5. Local pose-bone rotations come from the target hierarchy (unmapped bones keep their rest pose and follow their
   parents) and are written through animate.write_pose_action (bulk F-curves, no keyframe_insert).

The source motion is read from its F-curves and evaluated with a numpy forward kinematics (`sample_pose`), so
retargeting 10,000 frames takes seconds (bench/retarget.py). Bones driven by constraints or drivers on the source are
not seen: the source must be key-framed FK, as the importer's rig is.

Modules: presets.py (roles, preset JSON, detection), mapping.py (preset → driven bones), kinematics.py (rotation
helpers, pose sampling, rest data), solve.py (the per-frame solution), live.py (the same solution as constraints
from helper empties, for tweaking: retarget(..., live=True), then bake_live or remove_live); this file holds the
public entry points.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from .. import animate
from .kinematics import euler_to_matrix, sample_pose, swing
from .live import STATE as LIVE_STATE
from .live import bake_live, remove_live, retarget_live
from .mapping import Mapping, plan_mapping
from .presets import (EMBEDDED_PRESET, check_preset, detect_preset, list_presets, load_preset, save_preset,
                      vrm_preset)
from .solve import Solution, solve

__all__ = ["retarget", "detect_preset", "plan_mapping", "solve", "write", "pose_frame", "load_character",
           "retarget_to_character", "retarget_clip", "bake_live", "remove_live", "LIVE_STATE", "list_presets",
           "load_preset", "check_preset", "save_preset", "vrm_preset", "sample_pose", "swing", "euler_to_matrix",
           "Mapping", "Solution", "EMBEDDED_PRESET", "CHARACTER_SUFFIXES", "BUILTIN_CHARACTERS"]

log = logging.getLogger(__name__)

CHARACTER_SUFFIXES = (".fbx", ".blend", ".glb", ".gltf", ".vrm", ".bvh")
BUILTIN_CHARACTERS = ("rigify-metarig",)  # characters made in the scene instead of loaded from a file


def retarget(context, source_armature, target_armature, preset=None, *, frame_range=None, name=None, live=False):
    """Bake `source_armature`'s motion onto `target_armature` and return the Action (assigned to the target).

    Args:
        context: bpy.context (the scene's frame range is the default).
        source_armature: an SMPL-X armature made by importer.import_clip (key-framed).
        target_armature: the character's armature object.
        preset: built-in preset name, path of a preset .json, or a preset dict; None = detect_preset(target).
        frame_range: (first, last) frames, inclusive; None = the source action's frame range.
        name: the Action's name (default "<target>-retarget").
        live: instead of baking rotations, drive the target's bones by constraints from helpers that follow the
            source (live.py: tweak them, then bake_live or remove_live); the Action keys only the root location.

    Raises:
        ValueError: not armatures, no preset matches, the source is not SMPL-X, a bad frame range.
        FileNotFoundError: a preset file is missing.
    """
    for label, obj in (("source", source_armature), ("target", target_armature)):
        if obj is None or getattr(obj, "type", None) != "ARMATURE":
            raise ValueError(f"{label} {getattr(obj, 'name', obj)!r} is not an armature object")
    if source_armature == target_armature:
        raise ValueError("source and target are the same armature")
    mapping = plan_mapping(source_armature, target_armature, preset)
    frames = _frames(context, source_armature, frame_range)
    if LIVE_STATE in target_armature and not live:  # its constraints would override the baked keys
        remove_live(target_armature)
    if live:
        return retarget_live(context, source_armature, target_armature, mapping, frames,
                             name or f"{target_armature.name}-live")
    solution = solve(source_armature, target_armature, mapping, frames)
    action = write(target_armature, solution, mapping, name or f"{target_armature.name}-retarget")
    log.info("retargeted %d frames onto %s (%s): translation scale %.3f, floor at %.3f m", len(frames),
             target_armature.name, mapping.preset["name"], solution.scale, solution.floor)
    if mapping.missing:
        log.info("target %s lacks preset bones %s", target_armature.name, mapping.missing)
    if mapping.unmatched:
        log.info("target %s: %d deform bones not driven: %s", target_armature.name, len(mapping.unmatched),
                 mapping.unmatched)
    return action


def _frames(context, source, frame_range) -> np.ndarray:
    if frame_range is None:
        anim = source.animation_data
        if anim is not None and anim.action is not None:
            first, last = (int(round(v)) for v in anim.action.frame_range)
        else:
            first, last = context.scene.frame_start, context.scene.frame_end
    else:
        first, last = (int(v) for v in frame_range)
    if last < first:
        raise ValueError(f"frame range ({first}, {last}): last frame before first")
    return np.arange(first, last + 1, dtype=np.float64)


def write(target, solution: Solution, mapping: Mapping, name: str):
    """Set the Rigify-style switches of the preset, make the driven bones quaternion-rotated and key them in bulk."""
    for bone, props in mapping.preset.get("properties", {}).items():
        pb = target.pose.bones.get(bone)
        for prop, value in props.items():
            if pb is not None and prop in pb.keys():
                pb[prop] = value
    for bone in solution.quats:
        target.pose.bones[bone].rotation_mode = "QUATERNION"
    return animate.write_pose_action(target, solution.frames, solution.quats, solution.locations, name)


def pose_frame(context, source, target, preset=None, frame=None) -> None:
    """Preview: pose `target` like `source` at one frame (default: the current one) without keying anything."""
    mapping = plan_mapping(source, target, preset)
    frame = context.scene.frame_current if frame is None else int(frame)
    solution = solve(source, target, mapping, [frame])
    for bone, q in solution.quats.items():
        pb = target.pose.bones[bone]
        pb.rotation_mode = "QUATERNION"
        pb.rotation_quaternion = q[0].tolist()
    for bone, loc in solution.locations.items():
        target.pose.bones[bone].location = loc[0].tolist()


def load_character(context, path: str):
    """Bring a character into the scene and return its armature (the one with the most bones).

    `path` is a .fbx, .glb/.gltf, .vrm, .bvh or .blend file, or "rigify-metarig" (Rigify's human metarig,
    licence-free). A .vrm's humanoid table is kept on the armature and used instead of name detection.

    Raises:
        FileNotFoundError: the file is missing. ValueError: unsupported type or no armature in it.
    """
    import bpy

    before = set(bpy.data.objects)
    if path == "rigify-metarig":
        import addon_utils

        addon_utils.enable("rigify", default_set=True)
        if context.mode != "OBJECT" and context.view_layer.objects.active is not None:
            bpy.ops.object.mode_set(mode="OBJECT")
        bpy.ops.object.armature_human_metarig_add()
    else:
        suffix = Path(path).suffix.lower()
        if suffix not in CHARACTER_SUFFIXES:
            raise ValueError(f"character {path}: unsupported file type {suffix!r}; expected one of "
                             f"{CHARACTER_SUFFIXES} or {BUILTIN_CHARACTERS}")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"character file {path} not found")
        if suffix == ".fbx":
            bpy.ops.import_scene.fbx(filepath=path, anim_offset=0)
        elif suffix in (".glb", ".gltf", ".vrm"):
            bpy.ops.import_scene.gltf(filepath=path)  # a .vrm is a binary glTF with a humanoid table
        elif suffix == ".bvh":
            bpy.ops.import_anim.bvh(filepath=path, axis_forward="-Z", axis_up="Y")
        else:
            with bpy.data.libraries.load(path) as (src, dst):
                dst.objects = list(src.objects)
            for obj in dst.objects:
                if obj is not None:
                    context.scene.collection.objects.link(obj)
    new = [o for o in bpy.data.objects if o not in before and o.type == "ARMATURE"]
    if not new:
        raise ValueError(f"character {path}: no armature found in it")
    arm = max(new, key=lambda o: len(o.data.bones))
    if path.lower().endswith(".vrm"):
        table = vrm_preset(path)
        if table is not None:
            arm[EMBEDDED_PRESET] = json.dumps(table)
    if arm.animation_data is not None:
        arm.animation_data.action = None  # the file's own animation must not mix with the retargeted one
    return arm


def retarget_to_character(context, source_armature, character: str, preset=None):
    """Load `character` (see load_character), retarget `source_armature` onto it; returns the character armature
    (the plain function behind `batch.py --retarget-to`)."""
    target = load_character(context, character)
    retarget(context, source_armature, target, preset)
    return target


def retarget_clip(context, clip_or_path, model_dir, target_armature, preset=None, **import_options):
    """Retarget a MotionClip (object or .npz path) straight onto `target_armature`: its first imported person's
    SMPL-X rig (importer.import_clip with `import_options`) drives the target; returns (Action, SMPL-X armature)."""
    from .. import importer

    import_options.setdefault("create_camera", False)
    armatures = importer.import_clip(context, clip_or_path, model_dir, **import_options)
    return retarget(context, armatures[0], target_armature, preset), armatures[0]
