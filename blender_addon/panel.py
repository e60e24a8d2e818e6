"""The "SMPL-X" sidebar tab of the 3D View: only drawing (one small function per section), no logic."""

from __future__ import annotations

import bpy


class SMPLX_PT_import_video(bpy.types.Panel):
    """Import video as SMPL-X animation"""

    bl_label = "Import video as SMPL-X animation"
    bl_idname = "SMPLX_PT_import_video"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "SMPL-X"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.smplx_video
        state = context.window_manager.smplx_video_state
        _draw_input(layout, settings)
        _draw_smoothing(layout, settings)
        _draw_output(layout, settings)
        _draw_run(layout, state)


class SMPLX_PT_export(bpy.types.Panel):
    """Export SMPL-X animation"""

    bl_label = "Export SMPL-X animation"
    bl_idname = "SMPLX_PT_export"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "SMPL-X"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        layout.operator("smplx_video.import_clip", icon="IMPORT")
        layout.operator("smplx_video.export", icon="EXPORT")


def _draw_input(layout, settings) -> None:
    layout.prop(settings, "video")
    row = layout.row(align=True)
    row.prop(settings, "model_size", expand=True)
    layout.prop(settings, "device")
    layout.prop(settings, "detector")
    row = layout.row(align=True)
    row.prop(settings, "people", expand=True)
    layout.prop(settings, "use_frame_range")
    if settings.use_frame_range:
        row = layout.row(align=True)
        row.prop(settings, "frame_first")
        row.prop(settings, "frame_last")


def _draw_smoothing(layout, settings) -> None:
    box = layout.box()
    box.label(text="Smoothing (frames)")
    col = box.column(align=True)
    for part in ("root", "body", "hands", "face", "transl"):
        col.prop(settings, f"smooth_{part}")


def _draw_output(layout, settings) -> None:
    layout.prop(settings, "create_camera")
    layout.prop(settings, "pose_correctives")


def _draw_run(layout, state) -> None:
    if state.running:
        layout.progress(factor=state.progress, type="BAR", text=state.status or "converting")
        layout.operator("smplx_video.cancel", icon="CANCEL")
    else:
        layout.operator("smplx_video.import_video", icon="FILE_MOVIE")


classes = (SMPLX_PT_import_video, SMPLX_PT_export)

