"""Add-on preferences: the Python that runs the conversion ("Install dependencies" makes one, or "Use an existing
Python" with a status line), the model directory (a one-line summary, the per-file checklist folded) and where the
environment goes. Install dependencies comes first, so it is never below the fold."""

import os

import bpy

from . import core_module, deps

TORCH_BUILDS = [
    ("AUTO", "Automatic", "CPU build when no NVIDIA GPU is found (much smaller download), else the CUDA build"),
    ("CPU", "CPU", "PyTorch's CPU build (from its CPU package index)"),
    ("PYPI", "PyPI default", "torch as PyPI ships it for this system (CUDA on Linux/Windows)"),
]


def addon_preferences(context):
    """This add-on's preferences, or None when it was imported without being enabled (batch mode, tests)."""
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon is not None else None


def default_env_dir() -> str:
    """Where "Install dependencies" creates the virtual environment when no folder is set."""
    return os.path.join(bpy.utils.user_resource("DATAFILES"), "smplx_video", "venv")


def env_dir(prefs) -> str:
    """The environment folder of `prefs` (absolute), or the default one."""
    return bpy.path.abspath(prefs.env_dir) if prefs is not None and prefs.env_dir else default_env_dir()


def conversion_python(prefs) -> str:
    """The interpreter that runs conversions: the existing one chosen, else the environment Install dependencies
    made ("" when there is neither)."""
    if prefs is not None and prefs.use_existing_python:
        return bpy.path.abspath(prefs.python_path) if prefs.python_path else ""
    made = deps.venv_python(env_dir(prefs))
    return made if os.path.isfile(made) else ""


def model_summary(model_dir: str) -> tuple[bool, str]:
    """(usable, one line): whether a body model and some checkpoint are present, e.g.
    "SMPL-X body ✓ · checkpoints: S32 · detectors: none (use Static camera)"."""
    rows = core_module("body").model_dir_status(model_dir)
    present = {rel for rel, ok, _ in rows if ok}
    body = "smplx/SMPLX_NEUTRAL.npz" in present
    sizes = [rel.split("_")[2].split(".")[0].upper() for rel, _, _ in rows
             if rel.startswith("smpler_x_") and rel in present]
    detectors = [rel for rel, _, _ in rows if rel.endswith(".pth") and not rel.startswith("smpler") and rel in present]
    line = (f"SMPL-X body {'found' if body else 'MISSING'} · checkpoints: {', '.join(sizes) or 'none'} · "
            f"detector weights: {len(detectors) or 'none (Static camera still works)'}")
    return body, line


def _forget_check(prefs, _context=None) -> None:
    """Another interpreter was chosen: the last check no longer applies."""
    prefs.python_status, prefs.python_ok = "", False


class SMPLXVideoPreferences(bpy.types.AddonPreferences):
    """Conversion environment, model files and where the environment goes."""

    bl_idname = __package__

    model_dir: bpy.props.StringProperty(
        name="Model directory", subtype="DIR_PATH",
        description="Folder with smplx/SMPLX_*.npz, the SMPLer-X checkpoints and the detector weights")
    use_existing_python: bpy.props.BoolProperty(
        name="Use an existing Python", default=False,
        description="Run conversions with a Python that already has torch and the other dependencies "
                    "(e.g. the project's .venv) instead of installing them")
    python_path: bpy.props.StringProperty(
        name="Python", subtype="FILE_PATH", update=_forget_check,
        description="Python interpreter with torch that runs the conversion")
    python_status: bpy.props.StringProperty(name="Python status", default="")
    python_ok: bpy.props.BoolProperty(name="Python usable", default=False)
    env_dir: bpy.props.StringProperty(
        name="Environment folder", subtype="DIR_PATH",
        description="Where 'Install dependencies' creates the virtual environment (empty: Blender's user data)")
    torch_build: bpy.props.EnumProperty(name="torch build", items=TORCH_BUILDS, default="AUTO")
    show_model_files: bpy.props.BoolProperty(name="Show every model file", default=False)
    install_status: bpy.props.StringProperty(name="Install status", default="")
    install_progress: bpy.props.FloatProperty(name="Install progress", min=0.0, max=1.0, subtype="FACTOR")
    installing: bpy.props.BoolProperty(name="Installing", default=False)

    def draw(self, context):
        _draw_environment(self.layout, self)
        _draw_models(self.layout, self)


def _draw_environment(layout, prefs) -> None:
    box = layout.box()
    box.label(text="Python for the conversion", icon="CONSOLE")
    box.prop(prefs, "use_existing_python")
    if prefs.use_existing_python:
        row = box.row(align=True)
        row.prop(prefs, "python_path", text="")
        row.operator("smplx_video.check_python", text="Check", icon="FILE_REFRESH")
        if prefs.python_status:
            box.label(text=prefs.python_status, icon="CHECKMARK" if prefs.python_ok else "ERROR")
        elif prefs.python_path:
            box.label(text="Not checked yet: press Check", icon="INFO")
        return
    flavour = _flavour(prefs)
    col = box.column()
    col.enabled = not prefs.installing
    col.prop(prefs, "torch_build")
    col.prop(prefs, "env_dir")
    if prefs.installing:
        row = box.row(align=True)
        row.progress(factor=prefs.install_progress, text=prefs.install_status or "installing")
        row.operator("smplx_video.cancel_install", text="", icon="CANCEL")
        return
    python = conversion_python(prefs)
    box.operator("smplx_video.install_dependencies", icon="IMPORT",
                 text="Reinstall dependencies" if python else "Install dependencies")
    box.label(text=f"Downloads {deps.download_text(flavour)}", icon="INFO")
    if prefs.install_status:
        box.label(text=prefs.install_status, icon="ERROR" if prefs.install_status.startswith("failed") else "CHECKMARK")
    elif python:
        box.label(text=f"Using {python}", icon="CHECKMARK")


def _flavour(prefs) -> str:
    return {"CPU": "cpu", "PYPI": deps.torch_flavour(cuda=True)}.get(prefs.torch_build) or deps.torch_flavour()


def _draw_models(layout, prefs) -> None:
    box = layout.box()
    box.prop(prefs, "model_dir")
    if not prefs.model_dir:
        box.label(text="Choose the folder holding the SMPL-X and SMPLer-X files (see README)", icon="ERROR")
        return
    folder = bpy.path.abspath(prefs.model_dir)
    usable, line = model_summary(folder)
    box.label(text=line, icon="CHECKMARK" if usable else "ERROR")
    box.prop(prefs, "show_model_files", icon="TRIA_DOWN" if prefs.show_model_files else "TRIA_RIGHT", emboss=False)
    if prefs.show_model_files:
        col = box.column(align=True)
        for rel, present, how in core_module("body").model_dir_status(folder):
            col.label(text=rel if present else f"{rel}: {how}", icon="CHECKMARK" if present else "BLANK1")


classes = (SMPLXVideoPreferences,)
