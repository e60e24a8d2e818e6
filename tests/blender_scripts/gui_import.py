"""Drive the add-on's modal video import in a real Blender window (under Xvfb), as a user would, from timers.

    blender --python gui_import.py -- CONFIG.json

CONFIG: {"module", "prefs": {prop: value}, "settings": {prop: value}, "out": folder, "cancel_after": fraction,
"timeout": seconds}. Steps: enable the add-on, fill its preferences and the panel's settings, open the sidebar on
the "SMPL-X" tab, invoke the import (INVOKE_DEFAULT, so the operator runs modal on the window's event loop),
screenshot it while it runs, press Cancel, check that nothing was imported and no conversion process or temp folder
is left, run it again to the end, screenshot the panel with the result, then the view through the scene camera. Everything seen goes to OUT/result.json
(progress samples, states, errors); the test judges it. Blender quits at the end, also after an error.
"""

import glob
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import traceback

import bpy

CONFIG = json.load(open(sys.argv[sys.argv.index("--") + 1], encoding="utf-8"))
OUT = CONFIG["out"]
RESULT = {"steps": [], "runs": [], "screenshots": [], "errors": []}
TAB = "SMPL-X"


def _save() -> None:
    with open(os.path.join(OUT, "result.json"), "w", encoding="utf-8") as f:
        json.dump(RESULT, f, indent=1)


def _view3d():
    """(window, area, region WINDOW, region UI) of the first 3D View."""
    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type == "VIEW_3D")
    main = next(r for r in area.regions if r.type == "WINDOW")
    ui = next(r for r in area.regions if r.type == "UI")
    return window, area, main, ui


def _state():
    return bpy.context.window_manager.smplx_video_state


def _descendants(pid: int) -> set:
    """Process ids started, directly or not, by `pid` (from /proc/*/stat)."""
    parents = {}
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(path.split("/")[2])] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _conversion_processes() -> list:
    """Command lines of this Blender's running `-m core convert` descendants (the worker's children)."""
    found = []
    for pid in sorted(_descendants(os.getpid())):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"core" in argv and b"convert" in argv and b"-m" in argv:
            found.append(" ".join(a.decode(errors="replace") for a in argv))
    return found


def _read_xwd(path: str):
    """(H, W, 3) uint8 RGB of an X window dump (xwd's ZPixmap, 32 bits per pixel, as Xvfb at depth 24 writes)."""
    import numpy as np

    data = open(path, "rb").read()
    header = struct.unpack(">25I", data[:100])
    size, width, height, bpp, line, ncolors = header[0], header[4], header[5], header[11], header[12], header[19]
    if bpp != 32:
        raise ValueError(f"{path}: {bpp} bits per pixel, expected 32 (Xvfb -screen WxHx24)")
    start = size + 12 * ncolors
    pixels = np.frombuffer(data[start:start + line * height], np.uint8).reshape(height, line // 4, 4)[:, :width]
    return pixels[..., [2, 1, 0]] if header[7] == 0 else pixels[..., [1, 2, 3]]  # LSB first: B, G, R, x


def _screenshot(name: str) -> None:
    """The whole X screen (xwd) as OUT/name, a PNG written through Blender's image API.

    bpy.ops.screen.screenshot reads back an all-black window from Mesa's llvmpipe under Xvfb, so the X server's
    own framebuffer is dumped instead, after a forced redraw.
    """
    import numpy as np

    window, area, main, _ = _view3d()
    with bpy.context.temp_override(window=window, area=area, region=main):
        bpy.ops.wm.redraw_timer(type="DRAW_WIN_SWAP", iterations=1)
    dump = os.path.join(OUT, name + ".xwd")
    subprocess.run(["xwd", "-root", "-silent", "-out", dump], check=True, timeout=30)
    rgb = _read_xwd(dump)
    os.remove(dump)
    height, width = rgb.shape[:2]
    rgba = np.concatenate([rgb[::-1].astype(np.float32) / 255.0, np.ones((height, width, 1), np.float32)], -1)
    image = bpy.data.images.new(name, width, height)
    image.pixels.foreach_set(rgba.ravel())
    image.filepath_raw = os.path.join(OUT, name)
    image.file_format = "PNG"
    image.save()
    bpy.data.images.remove(image)
    RESULT["screenshots"].append(os.path.join(OUT, name))


def _armatures() -> list:
    return [o.name for o in bpy.context.scene.objects if o.type == "ARMATURE"]


def _assign(target, values: dict, what: str) -> None:
    """Set RNA properties by name; a name the add-on does not define is an error (bpy would accept it silently as
    a plain Python attribute)."""
    for key, value in values.items():
        if key not in target.bl_rna.properties:
            raise AttributeError(f"{what} has no property {key!r}; it has {sorted(target.bl_rna.properties.keys())}")
        setattr(target, key, value)


def _reports() -> list:
    """The last lines of the reports the operators gave the user (Blender 4.3 has no Python access to them: the
    timeline area becomes an Info editor for a moment, and its reports are selected and copied to the clipboard)."""
    window = bpy.context.window_manager.windows[0]
    area = next((a for a in window.screen.areas if a.ui_type == "TIMELINE"), None)
    if area is None:
        return ["(no timeline area to show the reports in)"]
    before = area.ui_type
    try:
        area.ui_type = "INFO"
        region = next(r for r in area.regions if r.type == "WINDOW")
        with bpy.context.temp_override(window=window, area=area, region=region):
            bpy.ops.info.select_all(action="SELECT")
            bpy.ops.info.report_copy()
        lines = [line for line in bpy.context.window_manager.clipboard.splitlines() if line.strip()]
    except Exception as exc:  # diagnostics only: never let them hide the run's own result
        lines = [f"(reports unavailable: {type(exc).__name__}: {exc})"]
    finally:
        area.ui_type = before
    return lines[-8:]


def _temp_folders() -> list:
    """The add-on's temp folders (the test gives this Blender a private TMPDIR)."""
    return sorted(glob.glob(os.path.join(tempfile.gettempdir(), "smplx-video-*")))


def _first_view() -> dict:
    """What the scene camera sees at the first frame: where the rig's pelvis lands in the camera's frame
    ((0..1, 0..1) is inside, z > 0 in front) and whether the camera sits inside the default cube."""
    from bpy_extras.object_utils import world_to_camera_view

    scene = bpy.context.scene
    scene.frame_set(scene.frame_start)
    camera = scene.camera
    arms = [o for o in scene.objects if o.type == "ARMATURE"]
    if camera is None or not arms:
        return {}
    pelvis = arms[0].matrix_world @ arms[0].pose.bones["pelvis"].head
    view = world_to_camera_view(scene, camera, pelvis)
    cube = scene.objects.get("Cube")
    inside_cube = False
    if cube is not None:
        local = cube.matrix_world.inverted() @ camera.matrix_world.translation
        inside_cube = all(abs(c) <= 1.0 for c in local)
    return {"camera": camera.name, "camera_location": list(camera.matrix_world.translation),
            "pelvis": list(pelvis), "pelvis_in_view": list(view), "camera_inside_cube": inside_cube}


def _scroll_sidebar(direction: str) -> None:
    window, area, _, ui = _view3d()
    with bpy.context.temp_override(window=window, area=area, region=ui):
        getattr(bpy.ops.view2d, f"scroll_{direction}")(deltay=5000)


def _look_through_camera() -> None:
    _, area, _, _ = _view3d()
    area.spaces.active.region_3d.view_perspective = "CAMERA"


class Driver:
    """A small state machine stepped by a 0.25 s timer: setup → run 1 (cancel) → run 2 (complete) → quit."""

    def __init__(self):
        self.phase = "setup"
        self.run = None
        self.t_phase = time.monotonic()
        self.temp_before = []
        self.shot_taken = False

    # ------------------------------------------------------------------ steps
    def setup(self) -> None:
        import addon_utils

        module = CONFIG["module"]
        addon_utils.enable(module, default_set=True)
        _assign(bpy.context.preferences.addons[module].preferences, CONFIG["prefs"], "the add-on preferences")
        _assign(bpy.context.scene.smplx_video, CONFIG["settings"], "the panel settings")
        window, area, _, ui = _view3d()
        area.spaces.active.show_region_ui = True
        RESULT["steps"].append("setup")

    def open_tab(self) -> None:
        _, area, _, ui = _view3d()
        ui.active_panel_category = TAB
        area.tag_redraw()
        RESULT["steps"].append(f"tab {ui.active_panel_category}")

    def start(self, label: str) -> None:
        window, area, main, _ = _view3d()
        self.temp_before = _temp_folders()
        with bpy.context.temp_override(window=window, area=area, region=main):
            ret = bpy.ops.smplx_video.import_video("INVOKE_DEFAULT")
        self.run = {"label": label, "invoke": sorted(ret), "samples": [], "t0": time.monotonic()}
        RESULT["runs"].append(self.run)

    def sample(self) -> None:
        state = _state()
        self.run["samples"].append({"t": round(time.monotonic() - self.run["t0"], 2), "running": state.running,
                                    "progress": round(state.progress, 4), "status": state.status})

    def cancel(self) -> None:
        window, area, main, _ = _view3d()
        with bpy.context.temp_override(window=window, area=area, region=main):
            self.run["cancel"] = sorted(bpy.ops.smplx_video.cancel())
        self.run["cancel_at"] = self.run["samples"][-1]

    def finished(self) -> None:
        """What is left once a run ended: rigs, frame range, processes, temp folders."""
        scene = bpy.context.scene
        self.run.update({
            "armatures": _armatures(), "frame_range": [scene.frame_start, scene.frame_end],
            "fps": scene.render.fps / scene.render.fps_base, "seconds": round(time.monotonic() - self.run["t0"], 1),
            "processes_after": _conversion_processes(),
            "new_temp_folders": sorted(set(_temp_folders()) - set(self.temp_before)),
            "camera": scene.camera.name if scene.camera else None, "reports": _reports(),
        })

    # ------------------------------------------------------------------ timer
    def tick(self):
        try:
            return self._tick()
        except Exception:
            RESULT["errors"].append(f"{self.phase}: {traceback.format_exc()}")
            return self.quit()

    def _elapsed(self) -> float:
        return time.monotonic() - self.t_phase

    def _go(self, phase: str) -> None:
        self.phase, self.t_phase = phase, time.monotonic()
        RESULT["steps"].append(phase)
        _save()

    def _tick(self):
        timeout = CONFIG["timeout"]
        if self.phase == "setup":
            self.setup()
            self._go("tab")
        elif self.phase == "tab":
            self.open_tab()
            self._go("panel_idle")
        elif self.phase == "panel_idle" and self._elapsed() > 1.0:
            _screenshot("panel_idle.png")
            self.start("cancelled")
            self._go("run1")
        elif self.phase == "run1":
            self.sample()
            if self.run["samples"][-1]["progress"] >= CONFIG["cancel_after"]:
                _screenshot("progress_run1.png")
                self.cancel()
                self._go("run1_cancelling")
            elif not _state().running or self._elapsed() > timeout:
                self.finished()
                RESULT["errors"].append("run 1 ended (or timed out) before it could be cancelled; reports: "
                                        + " | ".join(self.run["reports"]))
                return self.quit()
        elif self.phase == "run1_cancelling":
            self.sample()
            if not _state().running and self._elapsed() > 1.0:
                self.finished()
                self.start("completed")
                self._go("run2")
            elif self._elapsed() > 30:
                RESULT["errors"].append("cancel did not stop the run within 30 s")
                return self.quit()
        elif self.phase == "run2":
            self.sample()
            last = self.run["samples"][-1]
            if not self.shot_taken and last["running"] and last["progress"] >= 0.5:
                _screenshot("progress_run2.png")
                _scroll_sidebar("down")  # the progress bar and Cancel sit at the panel's foot
                _screenshot("progress_run2_scrolled.png")
                _scroll_sidebar("up")
                self.shot_taken = True
            if not last["running"]:
                self._go("run2_done")
            elif self._elapsed() > timeout:
                RESULT["errors"].append(f"run 2 did not finish within {timeout} s")
                return self.quit()
        elif self.phase == "run2_done" and self._elapsed() > 1.0:
            self.finished()
            self.run["first_view"] = _first_view()
            _screenshot("panel_done.png")
            _look_through_camera()
            self._go("camera_view")
        elif self.phase == "camera_view" and self._elapsed() > 1.0:
            _screenshot("camera_view.png")
            return self.quit()
        return 0.25

    def quit(self):
        _save()
        window = bpy.context.window_manager.windows[0]
        with bpy.context.temp_override(window=window):
            bpy.ops.wm.quit_blender()
        return None


bpy.app.timers.register(Driver().tick, first_interval=1.0)
