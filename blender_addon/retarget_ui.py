"""Sidebar section "Retarget to…" and its operators (thin glue over retarget/).

Pick the character's armature, keep the detected preset or choose/load one, preview one frame, bake (or drive it
live by constraints, then bake or remove those). The source is
the active SMPL-X armature (made by the import), else the scene's first one.
"""

from __future__ import annotations

import bpy
from bpy_extras.io_utils import ExportHelper, ImportHelper

from . import retarget
from .operators import reports_failures
from .panel import SidebarPanel


_ITEMS: list = []  # Blender keeps pointers into dynamic enum items: hold the strings here


def _preset_items(self, context):
    if _ITEMS:
        return _ITEMS
    items = [("AUTO", "Detect", "Detect the preset from the target's bone names"),
             ("FILE", "From file", "The preset .json loaded with Load preset")]
    for name in retarget.list_presets():
        preset = retarget.load_preset(name)
        items.append((name, preset["label"], preset["description"]))
    _ITEMS.extend(items)
    return _ITEMS


class SMPLXRetargetSettings(bpy.types.PropertyGroup):
    """Settings of "Retarget to…" (stored in the scene)."""

    target: bpy.props.PointerProperty(name="Target", type=bpy.types.Object,
                                      poll=lambda self, obj: obj.type == "ARMATURE" and "smplx_track_id" not in obj,
                                      description="The character's armature")
    preset: bpy.props.EnumProperty(name="Preset", items=_preset_items, description="Bone mapping")
    preset_file: bpy.props.StringProperty(name="Preset file", subtype="FILE_PATH")
    preview_frame: bpy.props.IntProperty(name="Preview frame", default=0)
    live: bpy.props.BoolProperty(name="Live constraints", default=False,
                                 description="Drive the target by constraints from helpers that follow the SMPL-X "
                                             "rig (tweak them, then Bake live or Remove live) instead of baking keys")


def _source(context):
    """The active SMPL-X armature, else the scene's first; ValueError when there is none."""
    obj = context.active_object
    if obj is not None and obj.type == "ARMATURE" and "smplx_track_id" in obj:
        return obj
    for obj in context.scene.objects:
        if obj.type == "ARMATURE" and "smplx_track_id" in obj:
            return obj
    raise ValueError("no SMPL-X armature in the scene: import a video or a motion clip first")


def _settings(context) -> tuple:
    """(source, target, preset argument) from the panel settings, or ValueError saying what is missing."""
    settings = context.scene.smplx_retarget
    if settings.target is None:
        raise ValueError("pick the target armature (your character) first")
    preset = {"AUTO": None, "FILE": bpy.path.abspath(settings.preset_file)}.get(settings.preset, settings.preset)
    return _source(context), settings.target, preset


class SMPLX_OT_retarget(bpy.types.Operator):
    """Bake the SMPL-X motion onto the target armature (one keyframe per frame)"""

    bl_idname = "smplx_video.retarget"
    bl_label = "Retarget"
    bl_options = {"REGISTER", "UNDO"}

    @reports_failures()
    def execute(self, context):
        source, target, preset = _settings(context)
        mapping = retarget.plan_mapping(source, target, preset)
        action = retarget.retarget(context, source, target, preset, live=context.scene.smplx_retarget.live)
        note = f"; not driven: {', '.join(mapping.unmatched[:12])}" if mapping.unmatched else ""
        self.report({"INFO"}, f"retargeted onto {target.name} ({mapping.preset['label']}): {action.name}{note}")
        return {"FINISHED"}


class SMPLX_OT_retarget_preview(bpy.types.Operator):
    """Pose the target like the SMPL-X rig at the preview frame, without keying"""

    bl_idname = "smplx_video.retarget_preview"
    bl_label = "Preview"
    bl_options = {"REGISTER", "UNDO"}

    @reports_failures()
    def execute(self, context):
        source, target, preset = _settings(context)
        frame = context.scene.smplx_retarget.preview_frame
        context.scene.frame_set(frame)
        retarget.pose_frame(context, source, target, preset, frame)
        return {"FINISHED"}


class SMPLX_OT_retarget_bake_live(bpy.types.Operator):
    """Bake the live retarget (with your tweaks) into keys and remove its constraints and helpers"""

    bl_idname = "smplx_video.retarget_bake_live"
    bl_label = "Bake live"
    bl_options = {"REGISTER", "UNDO"}

    @reports_failures()
    def execute(self, context):
        _, target, _ = _settings(context)
        action = retarget.bake_live(context, target)
        self.report({"INFO"}, f"baked onto {target.name}: {action.name}")
        return {"FINISHED"}


class SMPLX_OT_retarget_remove_live(bpy.types.Operator):
    """Remove the live retarget's constraints and helpers; the target gets its earlier action back"""

    bl_idname = "smplx_video.retarget_remove_live"
    bl_label = "Remove live"
    bl_options = {"REGISTER", "UNDO"}

    @reports_failures()
    def execute(self, context):
        _, target, _ = _settings(context)
        retarget.remove_live(target)
        return {"FINISHED"}


class SMPLX_OT_retarget_save_preset(bpy.types.Operator, ExportHelper):
    """Save the chosen (or detected) preset as .json, to edit its bone names and load it back"""

    bl_idname = "smplx_video.retarget_save_preset"
    bl_label = "Save preset"
    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})

    @reports_failures()
    def execute(self, context):
        _, target, preset = _settings(context)
        data = retarget.load_preset(preset if preset is not None else retarget.detect_preset(target))
        retarget.save_preset(data, self.filepath)
        self.report({"INFO"}, f"wrote {self.filepath}")
        return {"FINISHED"}


class SMPLX_OT_retarget_load_preset(bpy.types.Operator, ImportHelper):
    """Use a preset .json (bone names per SMPL-X joint) for the retargeting"""

    bl_idname = "smplx_video.retarget_load_preset"
    bl_label = "Load preset"
    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})

    @reports_failures()
    def execute(self, context):
        retarget.load_preset(self.filepath)
        settings = context.scene.smplx_retarget
        settings.preset_file, settings.preset = self.filepath, "FILE"
        return {"FINISHED"}


class SMPLX_PT_retarget(SidebarPanel, bpy.types.Panel):
    """Retarget to…"""

    bl_label = "Retarget to…"
    bl_idname = "SMPLX_PT_retarget"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        settings = context.scene.smplx_retarget
        layout.prop(settings, "target")
        layout.prop(settings, "preset")
        if settings.preset == "AUTO" and settings.target is not None and retarget.EMBEDDED_PRESET in settings.target:
            layout.label(text="Using the bone table stored with the character")
        elif settings.preset == "AUTO" and settings.target is not None:
            try:
                layout.label(text=f"Detected: {retarget.detect_preset(settings.target)}")
            except ValueError:
                layout.label(text="No preset matches: load one", icon="ERROR")
        if settings.preset == "FILE":
            layout.prop(settings, "preset_file")
        row = layout.row(align=True)
        row.operator("smplx_video.retarget_save_preset", icon="EXPORT")
        row.operator("smplx_video.retarget_load_preset", icon="IMPORT")
        row = layout.row(align=True)
        row.prop(settings, "preview_frame")
        row.operator("smplx_video.retarget_preview", icon="HIDE_OFF")
        layout.prop(settings, "live")
        layout.operator("smplx_video.retarget", icon="ARMATURE_DATA")
        if settings.target is not None and retarget.LIVE_STATE in settings.target:
            row = layout.row(align=True)
            row.operator("smplx_video.retarget_bake_live", icon="REC")
            row.operator("smplx_video.retarget_remove_live", icon="X")


classes = (SMPLXRetargetSettings, SMPLX_OT_retarget, SMPLX_OT_retarget_preview, SMPLX_OT_retarget_bake_live,
           SMPLX_OT_retarget_remove_live, SMPLX_OT_retarget_save_preset, SMPLX_OT_retarget_load_preset,
           SMPLX_PT_retarget)


def register_properties() -> None:
    bpy.types.Scene.smplx_retarget = bpy.props.PointerProperty(type=SMPLXRetargetSettings)


def unregister_properties() -> None:
    del bpy.types.Scene.smplx_retarget
