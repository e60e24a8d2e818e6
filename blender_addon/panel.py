"""The "SMPL-X" sidebar tab of the 3D View: only drawing (one small function per section), no logic. The rows come
from core.options through properties.py; every row is labelled (property split)."""

from __future__ import annotations

import bpy

from . import properties
from .preferences import addon_preferences, conversion_python


class SidebarPanel:
    """Where every panel of the add-on lives: the 3D View's sidebar, tab "SMPL-X" (mixed into each Panel class)."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "SMPL-X"


class SMPLX_PT_import_video(SidebarPanel, bpy.types.Panel):
    """Import video as SMPL-X animation"""

    bl_label = "Import video as SMPL-X animation"
    bl_idname = "SMPLX_PT_import_video"

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        settings = context.scene.smplx_video
        state = context.window_manager.smplx_video_state
        ready = _draw_setup(layout, context)
        if state.running:
            _draw_progress(layout, state)  # at the top, so it stays in view above the settings
        _draw_camera_note(layout, context)
        col = layout.column()
        col.enabled = not state.running  # settings are locked while a conversion runs
        col.prop(settings, "video")
        for group, title in properties.GROUPS:
            _draw_group(col, settings, group, title)
        _draw_output(col, settings)
        if not state.running:
            _draw_run(layout, ready)


class SMPLX_PT_import_advanced(SidebarPanel, bpy.types.Panel):
    """Advanced conversion settings (folded)"""

    bl_label = "Advanced"
    bl_idname = "SMPLX_PT_import_advanced"
    bl_parent_id = "SMPLX_PT_import_video"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        layout.enabled = not context.window_manager.smplx_video_state.running
        settings = context.scene.smplx_video
        for opt in properties.OPTIONS:
            if opt.advanced:
                properties.draw_option(layout, settings, opt)


class SMPLX_PT_export(SidebarPanel, bpy.types.Panel):
    """Export SMPL-X animation"""

    bl_label = "Export SMPL-X animation"
    bl_idname = "SMPLX_PT_export"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        layout.operator("smplx_video.import_clip", icon="IMPORT")
        layout.operator("smplx_video.export", icon="EXPORT")


def _draw_setup(layout, context) -> bool:
    """What is missing before a conversion can run, each with the button that fixes it; True when nothing is."""
    prefs = addon_preferences(context)
    missing_python = not conversion_python(prefs)
    missing_models = prefs is None or not prefs.model_dir
    if not (missing_python or missing_models):
        return True
    box = layout.box()
    if missing_python:
        box.label(text="No Python with torch for the conversion yet", icon="ERROR")
        row = box.row(align=True)
        row.operator("smplx_video.install_dependencies", icon="IMPORT")
        row.operator("preferences.addon_show", text="", icon="PREFERENCES").module = __package__
    if missing_models:
        box.label(text="The model folder is not set", icon="ERROR")
        box.operator("preferences.addon_show", text="Set model folder", icon="PREFERENCES").module = __package__
    return False


def _draw_group(layout, settings, group: str, title: str) -> None:
    col = layout.column()
    col.separator()
    col.label(text=title)
    for opt in properties.OPTIONS:
        if opt.group == group and not opt.advanced:
            properties.draw_option(col, settings, opt)


def _draw_output(layout, settings) -> None:
    col = layout.column()
    col.separator()
    col.label(text="Scene")
    col.prop(settings, "timeline")
    col.prop(settings, "create_camera")
    col.prop(settings, "pose_correctives")


def _draw_progress(layout, state) -> None:
    """The running conversion: overall bar with the stage's name ("Estimating poses — 63 %") and Cancel."""
    row = layout.box().row(align=True)
    row.progress(factor=state.progress, type="BAR", text=state.status or "Converting")
    row.operator("smplx_video.cancel", text="", icon="CANCEL")


def _draw_camera_note(layout, context) -> None:
    """After importing a video whose camera moves (no floor to stand on), say where the motion is."""
    collection = _imported_collection(context)
    if collection is None or not collection.get("smplx_moving_camera"):
        return
    text = "The camera moves: the motion stays in the camera frame"
    summary = collection.get("smplx_ground")
    layout.label(text=f"{text} — {summary}" if summary else text, icon="INFO")


def _imported_collection(context):
    """The import the note is about: the active object's, else the scene's latest (the importer marks its
    collection with `smplx_moving_camera`); None before any import."""
    obj = getattr(context, "active_object", None)
    mine = [c for c in (obj.users_collection if obj is not None else ()) if "smplx_moving_camera" in c]
    imports = mine or [c for c in context.scene.collection.children if "smplx_moving_camera" in c]
    return imports[-1] if imports else None


def _draw_run(layout, ready: bool) -> None:
    row = layout.row()
    row.enabled = ready
    row.operator("smplx_video.import_video", icon="FILE_MOVIE")


classes = (SMPLX_PT_import_video, SMPLX_PT_import_advanced, SMPLX_PT_export)
