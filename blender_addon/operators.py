"""Operators (thin glue): each turns its properties into plain options and calls importer / worker / export.

Expected failures (FileNotFoundError, ValueError, a failed conversion) become `self.report({'ERROR'}, msg)` and
`{'CANCELLED'}`. The video import runs the conversion as a subprocess polled by a modal timer (invoke) or, where
there is no event loop (background mode, tests), synchronously (execute); both then call importer.import_clip.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import bpy
from bpy_extras.io_utils import ExportHelper, ImportHelper

from . import core, core_module, export, importer, worker
from .preferences import DEVICE_ITEMS, addon_preferences, default_env_dir, install_commands, venv_python

EXPECTED_ERRORS = (FileNotFoundError, ValueError, NotADirectoryError, PermissionError)

_SMOOTH = core_module("smooth").SMOOTHING_PRESETS["default"]
_RUNNING: dict = {}  # operator kind → live ConvertWorker / CommandSequence, so unregister can stop it


class SMPLXVideoSettings(bpy.types.PropertyGroup):
    """Settings of "Import video as SMPL-X animation" (stored in the scene)."""

    video: bpy.props.StringProperty(name="Video", subtype="FILE_PATH", description="Video file to convert")
    model_size: bpy.props.EnumProperty(name="Model size", default="s32", items=[
        ("s32", "S", "SMPLer-X S32 (fastest)"), ("b32", "B", "SMPLer-X B32"),
        ("l32", "L", "SMPLer-X L32"), ("h32", "H", "SMPLer-X H32 (most accurate, needs a GPU)")])
    device: bpy.props.EnumProperty(name="Device", default="PREFS", items=[
        ("PREFS", "Default", "The default device of the add-on preferences"), *DEVICE_ITEMS])
    detector: bpy.props.EnumProperty(name="Detector", default="torchvision", items=[
        ("torchvision", "Faster R-CNN", "torchvision's COCO person detector (weights in the model directory)"),
        ("mmdet", "mmdet", "The SMPLer-X demo's mmdet detector (needs mmdet installed)"),
        ("static-camera", "Static camera", "Background subtraction, no weights (tripod shots only)")])
    people: bpy.props.EnumProperty(name="People", default="all", items=[
        ("all", "All", "One rig per tracked person"), ("largest", "Largest", "Only the most prominent person")])
    # sigmas in seconds; defaults are core.smooth's "default" preset (the one definition)
    smooth_root: bpy.props.FloatProperty(name="Root", default=_SMOOTH["root"], min=0.0, max=2.0, unit="TIME_ABSOLUTE",
                                         description="Smoothing of the body orientation (Gaussian sigma, seconds)")
    smooth_body: bpy.props.FloatProperty(name="Body", default=_SMOOTH["body"], min=0.0, max=2.0, unit="TIME_ABSOLUTE",
                                         description="Smoothing of the body joints (sigma, seconds)")
    smooth_hands: bpy.props.FloatProperty(name="Hands", default=_SMOOTH["hands"], min=0.0, max=2.0,
                                          unit="TIME_ABSOLUTE", description="Smoothing of the fingers (sigma, seconds)")
    smooth_face: bpy.props.FloatProperty(name="Face", default=_SMOOTH["face"], min=0.0, max=2.0, unit="TIME_ABSOLUTE",
                                         description="Smoothing of jaw and expression (sigma, seconds)")
    smooth_transl: bpy.props.FloatProperty(name="Translation", default=_SMOOTH["transl"], min=0.0, max=2.0,
                                           unit="TIME_ABSOLUTE",
                                           description="Smoothing of the root translation (sigma, seconds)")
    use_frame_range: bpy.props.BoolProperty(name="Frame range", default=False,
                                            description="Convert only part of the video")
    frame_first: bpy.props.IntProperty(name="First", default=0, min=0)
    frame_last: bpy.props.IntProperty(name="Last", default=100, min=0)
    create_camera: bpy.props.BoolProperty(name="Create camera", default=True,
                                          description="Add the video camera with the video as background")
    pose_correctives: bpy.props.BoolProperty(
        name="Pose correctives", default=False,
        description="Add SMPL-X's pose-corrective shape keys, keyed per frame (exact, but slow to play and export)")


class SMPLXVideoState(bpy.types.PropertyGroup):
    """Progress of the running conversion (on the window manager: not saved in .blend files)."""

    running: bpy.props.BoolProperty(default=False)
    cancel_requested: bpy.props.BoolProperty(default=False)
    progress: bpy.props.FloatProperty(min=0.0, max=1.0, subtype="FACTOR")
    status: bpy.props.StringProperty(default="")


def register_properties() -> None:
    bpy.types.Scene.smplx_video = bpy.props.PointerProperty(type=SMPLXVideoSettings)
    bpy.types.WindowManager.smplx_video_state = bpy.props.PointerProperty(type=SMPLXVideoState)


def unregister_properties() -> None:
    del bpy.types.WindowManager.smplx_video_state
    del bpy.types.Scene.smplx_video


def cancel_running_jobs() -> None:
    """Kill every running child process (add-on disabled or Blender quitting)."""
    for job in list(_RUNNING.values()):
        job.cancel()
    _RUNNING.clear()


# ---------------------------------------------------------------------------------------------- plain options
def _model_dir(context) -> str:
    """The model directory from the preferences, else $SMPLX_VIDEO_MODELS; FileNotFoundError if neither is set."""
    prefs = addon_preferences(context)
    if prefs is not None and prefs.model_dir:
        return bpy.path.abspath(prefs.model_dir)
    env = os.environ.get(core_module("body").ENV_VAR, "")
    if env:
        return env
    raise FileNotFoundError("no model directory: set it in the add-on preferences (folder holding "
                            "smplx/SMPLX_NEUTRAL.npz)")


def _import_options(settings, video: str | None) -> dict:
    """ImportOptions keywords from the panel settings."""
    return {"people": settings.people, "create_camera": settings.create_camera, "video": video,
            "pose_correctives": settings.pose_correctives, "name": "SMPLX"}


def _convert_job(context, settings, output: str) -> worker.ConvertJob:
    """A ConvertJob from the panel settings and the preferences."""
    prefs = addon_preferences(context)
    device = settings.device
    if device == "PREFS":
        device = prefs.default_device if prefs is not None else "AUTO"
    return worker.ConvertJob(
        video=bpy.path.abspath(settings.video), output=output,
        python=bpy.path.abspath(prefs.python_path) if prefs is not None and prefs.python_path else "",
        core_parent=os.path.dirname(os.path.dirname(core.__file__)), model_dir=_model_dir(context),
        variant=settings.model_size, device=device.lower(), people=settings.people, detector=settings.detector,
        start=settings.frame_first if settings.use_frame_range else 0,
        end=settings.frame_last if settings.use_frame_range else None,
        smoothing={part: getattr(settings, f"smooth_{part}") for part in worker.SMOOTH_PARTS})


def _set_state(context, progress: float | None = None, status: str | None = None) -> None:
    """Update the panel's progress bar and the status bar text."""
    state = context.window_manager.smplx_video_state
    if progress is not None:
        state.progress = progress
        context.window_manager.progress_update(int(progress * 100))
    if status is not None:
        state.status = status
        if context.workspace is not None:
            context.workspace.status_text_set(f"SMPL-X: {status}" if status else None)
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


# ---------------------------------------------------------------------------------------------- operators
class SMPLX_OT_import_video(bpy.types.Operator):
    """Convert a video with SMPLer-X (in the configured Python) and import one animated SMPL-X rig per person"""

    bl_idname = "smplx_video.import_video"
    bl_label = "Import video as SMPL-X animation"
    bl_options = {"REGISTER", "UNDO"}

    _timer = None
    _worker = None
    _tmpdir = ""
    _model_dir = ""

    @classmethod
    def poll(cls, context):
        return not context.window_manager.smplx_video_state.running

    def _start(self, context) -> worker.ConvertWorker:
        settings = context.scene.smplx_video
        self._tmpdir = tempfile.mkdtemp(prefix="smplx-video-")
        try:
            job = _convert_job(context, settings, os.path.join(self._tmpdir, "clip.npz"))
            self._worker = worker.ConvertWorker.for_job(job)
        except BaseException:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            raise
        self._model_dir = job.model_dir
        _RUNNING["import_video"] = self._worker
        state = context.window_manager.smplx_video_state
        state.running, state.cancel_requested = True, False
        context.window_manager.progress_begin(0, 100)
        _set_state(context, 0.0, "starting")
        return self._worker

    def _finish(self, context) -> set:
        """Import the converted clip (worker done) or report why not; always clean up."""
        state = self._worker.state
        try:
            if state == "done":
                settings = context.scene.smplx_video
                video = bpy.path.abspath(settings.video)
                arms = importer.import_clip(context, os.path.join(self._tmpdir, "clip.npz"), self._model_dir,
                                            **_import_options(settings, video))
                self.report({"INFO"}, f"imported {len(arms)} SMPL-X rig(s)")
                return {"FINISHED"}
            if state == "cancelled":
                self.report({"WARNING"}, "conversion cancelled")
                return {"CANCELLED"}
            self.report({"ERROR"}, f"conversion failed: {self._worker.error}")
            return {"CANCELLED"}
        except EXPECTED_ERRORS as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        finally:
            self._cleanup(context)

    def _cleanup(self, context) -> None:
        _RUNNING.pop("import_video", None)
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        context.window_manager.progress_end()
        context.window_manager.smplx_video_state.running = False
        _set_state(context, 0.0, "")
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    def invoke(self, context, event):
        try:
            self._start(context)
        except EXPECTED_ERRORS as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.2, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        state = context.window_manager.smplx_video_state
        if event.type == "ESC" or state.cancel_requested:
            self._worker.cancel()
            return self._finish(context)
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        for report in self._worker.poll():
            _set_state(context, report.fraction, report.text())
        if self._worker.state != "running":
            return self._finish(context)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        """Synchronous path (background mode / scripts): wait for the conversion, then import."""
        try:
            child = self._start(context)
        except EXPECTED_ERRORS as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        child.wait(callback=lambda p: _set_state(context, p.fraction, p.text()),
                 should_cancel=lambda: context.window_manager.smplx_video_state.cancel_requested)
        return self._finish(context)


class SMPLX_OT_cancel(bpy.types.Operator):
    """Stop the running conversion; nothing is added to the scene"""

    bl_idname = "smplx_video.cancel"
    bl_label = "Cancel"

    def execute(self, context):
        context.window_manager.smplx_video_state.cancel_requested = True
        return {"FINISHED"}


class SMPLX_OT_import_clip(bpy.types.Operator, ImportHelper):
    """Import an already converted MotionClip (.npz from `python -m core convert`)"""

    bl_idname = "smplx_video.import_clip"
    bl_label = "Import SMPL-X motion clip"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".npz"
    filter_glob: bpy.props.StringProperty(default="*.npz", options={"HIDDEN"})

    def execute(self, context):
        settings = context.scene.smplx_video
        try:
            arms = importer.import_clip(context, self.filepath, _model_dir(context),
                                        **_import_options(settings, None))
        except EXPECTED_ERRORS as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"imported {len(arms)} SMPL-X rig(s)")
        return {"FINISHED"}


class SMPLX_OT_export(bpy.types.Operator, ExportHelper):
    """Export the selected SMPL-X rigs (all of them if none is selected) with their animation"""

    bl_idname = "smplx_video.export"
    bl_label = "Export SMPL-X animation"

    filename_ext = ".fbx"
    file_format: bpy.props.EnumProperty(name="Format", default="FBX", items=[
        ("FBX", "FBX", "Autodesk FBX"), ("GLB", "glTF binary", "glTF 2.0 (.glb)"),
        ("BVH", "BVH", "Skeleton animation only")])
    preset: bpy.props.EnumProperty(name="Target", default="BLENDER", items=[
        ("BLENDER", "Blender", "Metres, Y-up FBX axes"), ("UNITY", "Unity", "Metres, scale applied"),
        ("UNREAL", "Unreal", "X forward, Z up, centimetre units")])

    def check(self, context):
        ext = {"FBX": ".fbx", "GLB": ".glb", "BVH": ".bvh"}[self.file_format]
        self.filename_ext = ext
        return super().check(context)

    def execute(self, context):
        rigs = [o for o in context.selected_objects if o.type == "ARMATURE" and "smplx_track_id" in o]
        if not rigs:
            rigs = [o for o in context.scene.objects if o.type == "ARMATURE" and "smplx_track_id" in o]
        try:
            written = export.export_rigs(context, rigs, self.filepath, fmt=self.file_format, preset=self.preset)
        except EXPECTED_ERRORS as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, "wrote " + ", ".join(written))
        return {"FINISHED"}


class SMPLX_OT_install_dependencies(bpy.types.Operator):
    """Create a Python environment with torch and the conversion's dependencies (downloads about 1-3 GB)"""

    bl_idname = "smplx_video.install_dependencies"
    bl_label = "Install dependencies"

    _timer = None
    _steps = None
    _env_dir = ""

    def invoke(self, context, event):
        if not bpy.app.online_access:
            self.report({"ERROR"}, "Blender is in offline mode: allow online access (Preferences > System) to "
                                   "download the dependencies, or set a Python with torch by hand")
            return {"CANCELLED"}
        prefs = addon_preferences(context)
        self._env_dir = bpy.path.abspath(prefs.env_dir) if prefs.env_dir else default_env_dir()
        os.makedirs(os.path.dirname(self._env_dir), exist_ok=True)
        self._steps = worker.CommandSequence(install_commands(self._env_dir))
        _RUNNING["install"] = self._steps
        prefs.installing, prefs.install_progress, prefs.install_status = True, 0.0, self._steps.status
        self._timer = context.window_manager.event_timer_add(0.5, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        prefs = addon_preferences(context)
        state = self._steps.poll()
        prefs.install_progress, prefs.install_status = self._steps.fraction, self._steps.status
        if state == "running":
            return {"RUNNING_MODAL"}
        context.window_manager.event_timer_remove(self._timer)
        _RUNNING.pop("install", None)
        prefs.installing = False
        if state == "done":
            prefs.python_path = venv_python(self._env_dir)
            prefs.install_status = f"installed into {self._env_dir}"
            return {"FINISHED"}
        prefs.install_status = f"failed: {self._steps.error}"
        self.report({"ERROR"}, f"installing dependencies failed: {self._steps.error}")
        return {"CANCELLED"}


classes = (
    SMPLXVideoSettings,
    SMPLXVideoState,
    SMPLX_OT_import_video,
    SMPLX_OT_cancel,
    SMPLX_OT_import_clip,
    SMPLX_OT_export,
    SMPLX_OT_install_dependencies,
)
