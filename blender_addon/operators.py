"""Operators (thin glue): each turns its properties into plain options and calls importer / worker / export.

Expected failures (FileNotFoundError, ValueError, a failed conversion) become `self.report({'ERROR'}, msg)` and
`{'CANCELLED'}`. The video import runs the conversion as a subprocess polled by a modal timer (invoke) or, where
there is no event loop (background mode, tests), synchronously (execute); both then call importer.import_clip.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
import time

import bpy
from bpy.app.handlers import persistent
from bpy_extras.io_utils import ExportHelper, ImportHelper

from . import core, core_module, deps, export, importer, properties, worker
from .preferences import addon_preferences, conversion_python, env_dir

EXPECTED_ERRORS = (FileNotFoundError, ValueError, NotADirectoryError, PermissionError)


def reports_failures(*errors: type[Exception]):
    """Decorator for an operator's `execute`: an expected failure (EXPECTED_ERRORS and `errors`) becomes one error
    report in Blender's status bar and {'CANCELLED'}, not a traceback."""
    caught = (*EXPECTED_ERRORS, *errors)

    def wrap(execute):
        @functools.wraps(execute)
        def run(self, context):
            try:
                return execute(self, context)
            except caught as exc:
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
        return run
    return wrap

# kind ("import_video", "install") → (live ConvertWorker / CommandSequence, its temporary folder or ""), so that
# disabling the add-on, loading another file or quitting Blender stops the child and removes its files
_RUNNING: dict = {}


def cancel_running_jobs(reason: str = "") -> list:
    """Kill every running child process and delete its temporary files; returns the kinds that were running."""
    stopped = []
    for kind, (job, tmpdir) in list(_RUNNING.items()):
        job.cancel()
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
        stopped.append(kind)
        if reason:
            print(f"SMPL-X: {kind.replace('_', ' ')} cancelled: {reason}", flush=True)
    _RUNNING.clear()
    return stopped


_CANCELLED_BY_LOAD: list = []


@persistent
def _on_load_pre(*_args) -> None:
    """File › New / Open during a conversion: the scene it was for goes away, so stop it (no orphan process)."""
    _CANCELLED_BY_LOAD[:] = cancel_running_jobs("another file is being loaded")


@persistent
def _on_load_post(*_args) -> None:
    """Say in the new file's window that the conversion was cancelled (the old window's report is gone)."""
    if not _CANCELLED_BY_LOAD:
        return
    kinds = ", ".join(k.replace("_", " ") for k in _CANCELLED_BY_LOAD)
    _CANCELLED_BY_LOAD.clear()
    state = getattr(bpy.context.window_manager, "smplx_video_state", None)
    if state is not None:
        state.running, state.progress, state.status = False, 0.0, ""
    if not bpy.app.background:
        bpy.app.timers.register(lambda: _notify(f"SMPL-X: {kinds} cancelled because another file was loaded"),
                                first_interval=0.1)


def _notify(message: str) -> None:
    try:
        bpy.ops.smplx_video.notify(message=message)
    except RuntimeError:  # no window to report in
        print(message)


def register_handlers() -> None:
    """load_pre / load_post for File › New and Open, atexit for quitting Blender."""
    bpy.app.handlers.load_pre.append(_on_load_pre)
    bpy.app.handlers.load_post.append(_on_load_post)
    atexit.register(cancel_running_jobs)


def unregister_handlers() -> None:
    for handlers, func in ((bpy.app.handlers.load_pre, _on_load_pre), (bpy.app.handlers.load_post, _on_load_post)):
        if func in handlers:
            handlers.remove(func)
    atexit.unregister(cancel_running_jobs)


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
    return {"people": settings.people if settings.people in ("all", "largest") else "all",
            "create_camera": settings.create_camera, "video": video, "pose_correctives": settings.pose_correctives,
            "name": "SMPLX", "timeline": settings.timeline}


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
        self._model_dir = _model_dir(context)
        options = properties.convert_options(settings, self._model_dir)
        options.validate()
        python = conversion_python(addon_preferences(context))
        self._tmpdir = tempfile.mkdtemp(prefix="smplx-video-")
        try:
            self._worker = worker.ConvertWorker.for_conversion(
                python, os.path.dirname(os.path.dirname(core.__file__)), bpy.path.abspath(settings.video),
                os.path.join(self._tmpdir, "clip.npz"), options)
        except BaseException:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            raise
        _RUNNING["import_video"] = (self._worker, self._tmpdir)
        state = context.window_manager.smplx_video_state
        state.running, state.cancel_requested = True, False
        context.window_manager.progress_begin(0, 100)
        _set_state(context, 0.0, "Starting the conversion — 0 %")
        return self._worker

    def _finish(self, context) -> set:
        """Import the converted clip (worker done) or report why not; always clean up."""
        state = self._worker.state
        try:
            if state == "done":
                _set_state(context, worker.STAGE_SPANS["import"][0],
                           f"{worker.STAGE_NAMES['import']} — {round(100 * worker.STAGE_SPANS['import'][0])} %")
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
            try:
                context.window_manager.event_timer_remove(self._timer)
            except (ReferenceError, ValueError):  # the window went away with the old file
                pass
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
            _set_state(context, report.overall, report.overall_text())
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
        child.wait(callback=lambda p: _set_state(context, p.overall, p.overall_text()),
                   should_cancel=lambda: context.window_manager.smplx_video_state.cancel_requested)
        return self._finish(context)

    def cancel(self, context):
        """Blender ends the modal operator (File › New / Open, window closed): stop the child, remove its files."""
        if self._worker is not None and self._worker.state == "running":
            self._worker.cancel()
        self._cleanup(context)


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

    @reports_failures()
    def execute(self, context):
        settings = context.scene.smplx_video
        arms = importer.import_clip(context, self.filepath, _model_dir(context), **_import_options(settings, None))
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
        self.filename_ext = export.EXTENSIONS[self.file_format]
        return super().check(context)

    @reports_failures(export.ExportError)
    def execute(self, context):
        rigs = [o for o in context.selected_objects if o.type == "ARMATURE" and "smplx_track_id" in o]
        if not rigs:
            rigs = [o for o in context.scene.objects if o.type == "ARMATURE" and "smplx_track_id" in o]
        written = export.export_rigs(context, rigs, self.filepath, fmt=self.file_format, preset=self.preset)
        self.report({"INFO"}, "wrote " + ", ".join(written))
        return {"FINISHED"}


class SMPLX_OT_install_dependencies(bpy.types.Operator):
    """Create a Python environment with torch and the conversion's other dependencies (the preferences say the
    download size). Runs in the background with progress; Esc or the cancel button stops it"""

    bl_idname = "smplx_video.install_dependencies"
    bl_label = "Install dependencies"

    _timer = None
    _steps = None
    _env_dir = ""

    def _start(self, context) -> worker.CommandSequence:
        if not getattr(bpy.app, "online_access", True):
            raise ValueError("Blender is in offline mode: allow online access (Preferences > System; in background "
                             "mode start Blender with --online-mode) to download the dependencies, or tick 'Use an "
                             "existing Python'")
        prefs = addon_preferences(context)
        python = deps.base_python()
        problem = deps.venv_problem(python)
        if problem:
            raise ValueError(problem)
        self._env_dir = env_dir(prefs)
        os.makedirs(os.path.dirname(self._env_dir), exist_ok=True)
        flavour = {"CPU": "cpu", "PYPI": deps.torch_flavour(cuda=True)}.get(prefs.torch_build if prefs else "AUTO")
        commands = deps.install_commands(self._env_dir, python, flavour)
        self._steps = worker.CommandSequence(commands, deps.STEP_WEIGHTS[:len(commands)])
        _RUNNING["install"] = (self._steps, "")
        if prefs is not None:
            prefs.installing, prefs.install_progress, prefs.install_status = True, 0.0, self._steps.status
        return self._steps

    def _finish(self, context) -> set:
        _RUNNING.pop("install", None)
        prefs = addon_preferences(context)
        state = self._steps.state
        if prefs is not None:
            prefs.installing = False
        if state == "done":
            if prefs is not None:
                prefs.use_existing_python = False  # conversion_python() now finds the new environment
                prefs.install_status = f"installed into {self._env_dir}"
            self.report({"INFO"}, f"dependencies installed into {self._env_dir}")
            return {"FINISHED"}
        message = "cancelled" if state == "cancelled" else f"failed: {self._steps.error}"
        if prefs is not None:
            prefs.install_status = message
        self.report({"WARNING" if state == "cancelled" else "ERROR"}, f"Install dependencies {message}")
        return {"CANCELLED"}

    def _update(self, context) -> None:
        prefs = addon_preferences(context)
        if prefs is not None:
            prefs.install_progress, prefs.install_status = self._steps.fraction, self._steps.status
            for window in context.window_manager.windows:
                for area in window.screen.areas:
                    area.tag_redraw()

    def execute(self, context):
        """Synchronous (scripts, background mode): progress goes to stdout."""
        try:
            steps = self._start(context)
        except EXPECTED_ERRORS as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        last = ""
        while steps.poll() == "running":
            if steps.status != last:
                last = steps.status
                print(f"  [{round(100 * steps.fraction):3d} %] {last}", flush=True)
            time.sleep(0.2)
        return self._finish(context)

    def invoke(self, context, event):
        try:
            self._start(context)
        except EXPECTED_ERRORS as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self._timer = context.window_manager.event_timer_add(0.5, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC":
            self._steps.cancel()
        elif event.type != "TIMER":
            return {"PASS_THROUGH"}
        state = self._steps.poll()
        self._update(context)
        if state == "running":
            return {"RUNNING_MODAL"}
        context.window_manager.event_timer_remove(self._timer)
        return self._finish(context)

    def cancel(self, context):
        """Blender ends the operator (another file loaded, Blender quitting): stop pip."""
        if self._steps is not None:
            self._steps.cancel()
        _RUNNING.pop("install", None)


class SMPLX_OT_cancel_install(bpy.types.Operator):
    """Stop installing the dependencies"""

    bl_idname = "smplx_video.cancel_install"
    bl_label = "Cancel install"

    def execute(self, context):
        running = _RUNNING.get("install")
        if running is not None:
            running[0].cancel()
        return {"FINISHED"}


class SMPLX_OT_check_python(bpy.types.Operator):
    """Check that the chosen Python has torch and the other conversion dependencies"""

    bl_idname = "smplx_video.check_python"
    bl_label = "Check Python"

    def execute(self, context):
        prefs = addon_preferences(context)
        if prefs is None:
            self.report({"ERROR"}, "the add-on is not enabled")
            return {"CANCELLED"}
        prefs.python_ok, prefs.python_status = deps.check_python(bpy.path.abspath(prefs.python_path))
        self.report({"INFO"} if prefs.python_ok else {"ERROR"}, prefs.python_status)
        return {"FINISHED"} if prefs.python_ok else {"CANCELLED"}


class SMPLX_OT_notify(bpy.types.Operator):
    """Show a message in the status bar and the Info editor"""

    bl_idname = "smplx_video.notify"
    bl_label = "SMPL-X message"
    bl_options = {"INTERNAL"}

    message: bpy.props.StringProperty()

    def execute(self, context):
        self.report({"WARNING"}, self.message)
        return {"FINISHED"}


classes = (
    SMPLX_OT_import_video,
    SMPLX_OT_cancel,
    SMPLX_OT_import_clip,
    SMPLX_OT_export,
    SMPLX_OT_install_dependencies,
    SMPLX_OT_cancel_install,
    SMPLX_OT_check_python,
    SMPLX_OT_notify,
)
