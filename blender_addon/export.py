"""Export SMPL-X rigs (armature + mesh + animation) to FBX (engine presets), glTF binary or BVH.

Settings follow the round-trip measurements in reference/blender_notes.md §4.3: no leaf bones, no key
simplification (the default 1.0 is lossy), one baked scene action (no NLA / all-actions takes), and files are written
to a temporary name first and renamed when complete.

Time: scene frame 1 (where the import puts the first frame) is time 0 in FBX files, the time their importers (Blender's
anim_offset=1, game engines) put on frame 1, so exports re-import onto the same frames; glTF keeps absolute times
(its importer maps them back exactly) and BVH has no start time (Blender's importer starts it at frame 1).
"""

from __future__ import annotations

import glob
import os
from contextlib import contextmanager

FORMATS = ("FBX", "GLB", "BVH")
EXTENSIONS = {"FBX": ".fbx", "GLB": ".glb", "BVH": ".bvh"}


class ExportError(RuntimeError):
    """An exporter failed; the message says which file and why (operators report it, batch lists it)."""

_FBX_COMMON = {
    "use_selection": True,
    "object_types": {"ARMATURE", "MESH"},
    "add_leaf_bones": False,
    "bake_anim": True,
    "bake_anim_use_all_bones": True,
    "bake_anim_use_nla_strips": False,
    "bake_anim_use_all_actions": False,
    "bake_anim_force_startend_keying": True,
    "bake_anim_simplify_factor": 0.0,
    "bake_anim_step": 1.0,
    "armature_nodetype": "NULL",
    "mesh_smooth_type": "FACE",
    "use_armature_deform_only": False,
    "apply_unit_scale": True,
}

FBX_PRESETS = {
    # Blender ↔ Blender (and most DCCs): metres, FBX's default Y-up axes; lossless round trip
    "BLENDER": {"axis_forward": "-Z", "axis_up": "Y", "apply_scale_options": "FBX_SCALE_NONE", "global_scale": 1.0},
    # Unity: 1 unit = 1 m, Y up; "FBX All" bakes the unit scale so objects import at scale 1 instead of 100
    "UNITY": {"axis_forward": "-Z", "axis_up": "Y", "apply_scale_options": "FBX_SCALE_ALL", "global_scale": 1.0},
    # Unreal: X forward, Z up, centimetres (the unit scale is written into the file; Unreal converts on import)
    "UNREAL": {"axis_forward": "X", "axis_up": "Z", "apply_scale_options": "FBX_SCALE_UNITS", "global_scale": 1.0},
}


def export_rigs(context, armatures, filepath: str, fmt: str = "FBX", preset: str = "BLENDER") -> list:
    """Write `armatures` (with their child meshes and animation) to `filepath`.

    Args:
        context: bpy.context; the scene's frame range and fps define the exported animation.
        armatures: armature objects (e.g. importer.import_clip's result).
        filepath: output path. BVH holds one skeleton per file: with several armatures, `name_<armature>.bvh`.
        fmt: "FBX", "GLB" or "BVH".
        preset: FBX preset, one of FBX_PRESETS ("BLENDER", "UNITY", "UNREAL").

    Returns:
        The files written. The extension always follows the format (`clip.fbx` asked as GLB is written `clip.glb`).

    Raises:
        ValueError: unknown format or preset, or no armature to export.
        ExportError: the exporter failed (nothing is left behind, not even a partial file).
    """
    fmt = fmt.upper()
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {FORMATS}")
    if fmt == "FBX" and preset.upper() not in FBX_PRESETS:
        raise ValueError(f"unknown FBX preset {preset!r}; expected one of {sorted(FBX_PRESETS)}")
    armatures = [a for a in armatures if a is not None and a.type == "ARMATURE"]
    if not armatures:
        raise ValueError("nothing to export: select an SMPL-X armature (or pass the armatures of an import)")
    filepath = with_extension(os.path.abspath(os.fspath(filepath)), fmt)
    os.makedirs(os.path.dirname(filepath), exist_ok=True)
    if fmt == "BVH":
        return _export_bvh(context, armatures, filepath)
    objects = armatures + [c for a in armatures for c in a.children if c.type == "MESH"]
    with _selected(context, objects, active=armatures[0]), _atomic(filepath) as tmp:
        import bpy

        if fmt == "FBX":
            with _fbx_time(context, objects):
                bpy.ops.export_scene.fbx(filepath=tmp, **_FBX_COMMON, **FBX_PRESETS[preset.upper()])
        else:
            bpy.ops.export_scene.gltf(
                filepath=tmp, export_format="GLB", use_selection=True, export_animations=True,
                export_animation_mode="ACTIVE_ACTIONS", export_skins=True, export_morph=True,
                export_morph_animation=True, export_force_sampling=True, export_optimize_animation_size=False,
                export_anim_slide_to_zero=False, export_frame_range=True, export_yup=True,
            )
    return [filepath]


def with_extension(path: str, fmt: str) -> str:
    """`path` with the format's extension (a known export extension of another format is replaced, else added)."""
    stem, ext = os.path.splitext(path)
    want = EXTENSIONS[fmt.upper()]
    if ext.lower() == want:
        return path
    return (stem if ext.lower() in EXTENSIONS.values() else path) + want


def _export_bvh(context, armatures, filepath: str) -> list:
    """One BVH per armature (the format holds one skeleton), Blender axes; every bone gets location channels
    (the expression moves some joints, see animate.py)."""
    import bpy

    written = []
    stem, ext = os.path.splitext(filepath)
    for armature in armatures:
        path = filepath if len(armatures) == 1 else f"{stem}_{armature.name}{ext or '.bvh'}"
        with _selected(context, [armature], active=armature), _atomic(path) as tmp:
            bpy.ops.export_anim.bvh(filepath=tmp, frame_start=context.scene.frame_start,
                                    frame_end=context.scene.frame_end, rotate_mode="NATIVE",
                                    root_transform_only=False, global_scale=1.0)
        written.append(path)
    return written


@contextmanager
def _fbx_time(context, objects):
    """Shift the keys and the scene's range one frame earlier while the FBX exporter (which writes frame f at time
    f / fps) runs, so scene frame 1 is written at time 0; everything is put back afterwards."""
    from .animate import shift_keys

    owners = [*objects, *(o.data.shape_keys for o in objects if o.type == "MESH" and o.data.shape_keys)]
    actions = {a.animation_data.action for a in owners
               if a.animation_data is not None and a.animation_data.action is not None}
    scene = context.scene
    shift_keys(actions, -1.0)
    scene.frame_start, scene.frame_end = scene.frame_start - 1, scene.frame_end - 1
    try:
        yield
    finally:
        scene.frame_start, scene.frame_end = scene.frame_start + 1, scene.frame_end + 1
        shift_keys(actions, 1.0)


@contextmanager
def _selected(context, objects, active):
    """Select exactly `objects` (active: `active`) for an exporter, then restore the previous selection."""
    view_layer = context.view_layer
    before = [o for o in view_layer.objects if o.select_get()]
    previous_active = view_layer.objects.active
    for o in before:
        o.select_set(False)
    for o in objects:
        o.select_set(True)
    view_layer.objects.active = active
    try:
        yield
    finally:
        for o in objects:
            o.select_set(False)
        for o in before:
            o.select_set(True)
        view_layer.objects.active = previous_active


@contextmanager
def _atomic(path: str):
    """Yield a temporary path beside `path` (same extension); rename it to `path` only if the block succeeds.

    Whatever the exporter left under the temporary name (exporters add their own suffixes) is removed on failure, and
    its exception becomes an ExportError naming the file.
    """
    stem, ext = os.path.splitext(path)
    tmp = f"{stem}.partial{ext}"
    try:
        try:
            yield tmp
        except Exception as exc:  # exporters raise RuntimeError, TypeError, OSError…: all are a failed export
            detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise ExportError(f"exporting {os.path.basename(path)} failed: {detail}") from exc
        if not os.path.isfile(tmp):
            raise ExportError(f"exporting {os.path.basename(path)} failed: the exporter wrote nothing")
        os.replace(tmp, path)
    finally:
        for leftover in glob.glob(glob.escape(tmp) + "*"):
            os.remove(leftover)
