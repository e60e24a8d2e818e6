"""Add-on preferences: the model directory (with a status line per expected file), the Python environment that runs
the conversion ("Install dependencies" creates one), and the default device."""

from __future__ import annotations

import os
import sys

import bpy

from . import core_module

# What the conversion's Python needs (the add-on itself only needs Blender's numpy). numpy<2 keeps the environment
# compatible with the wheels the project is tested with (opencv-python-headless ≤ 4.11 needs numpy 1.x).
DEPENDENCIES = ("torch", "torchvision", "numpy<2", "scipy", "smplx", "opencv-python-headless<4.12", "av", "tqdm")

DEVICE_ITEMS = [
    ("AUTO", "Auto", "CUDA if available, else Apple MPS, else CPU"),
    ("CUDA", "CUDA", "NVIDIA GPU"),
    ("CPU", "CPU", "No GPU (slow for the larger models)"),
    ("MPS", "MPS", "Apple Silicon GPU"),
]


def addon_preferences(context):
    """This add-on's preferences, or None when it was imported without being enabled (batch mode, tests)."""
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon is not None else None


def default_env_dir() -> str:
    """Where "Install dependencies" creates the virtual environment when no folder is set."""
    return os.path.join(bpy.utils.user_resource("DATAFILES"), "smplx_video", "venv")


def venv_python(env_dir: str) -> str:
    """The interpreter inside a virtual environment folder."""
    if os.name == "nt":
        return os.path.join(env_dir, "Scripts", "python.exe")
    return os.path.join(env_dir, "bin", "python")


def install_commands(env_dir: str, base_python: str = sys.executable) -> list:
    """The commands that create the environment and install DEPENDENCIES into it (run one after another)."""
    python = venv_python(env_dir)
    return [
        [base_python, "-m", "venv", env_dir],
        [python, "-m", "pip", "install", "--upgrade", "pip"],
        [python, "-m", "pip", "install", "--progress-bar", "off", *DEPENDENCIES],
    ]


class SMPLXVideoPreferences(bpy.types.AddonPreferences):
    """Model files, conversion environment and defaults."""

    bl_idname = __package__

    model_dir: bpy.props.StringProperty(
        name="Model directory", subtype="DIR_PATH",
        description="Folder with smplx/SMPLX_*.npz, the SMPLer-X checkpoints and the detector weights")
    python_path: bpy.props.StringProperty(
        name="Python", subtype="FILE_PATH",
        description="Python interpreter with torch that runs the conversion (set by 'Install dependencies')")
    env_dir: bpy.props.StringProperty(
        name="Environment folder", subtype="DIR_PATH",
        description="Where 'Install dependencies' creates the virtual environment (empty: Blender's user data)")
    default_device: bpy.props.EnumProperty(name="Default device", items=DEVICE_ITEMS, default="AUTO")
    install_status: bpy.props.StringProperty(name="Install status", default="")
    install_progress: bpy.props.FloatProperty(name="Install progress", min=0.0, max=1.0, subtype="FACTOR")
    installing: bpy.props.BoolProperty(name="Installing", default=False)

    def draw(self, context):
        layout = self.layout
        _draw_models(layout, self)
        _draw_environment(layout, self)
        layout.prop(self, "default_device")


def _draw_models(layout, prefs) -> None:
    box = layout.box()
    box.prop(prefs, "model_dir")
    if not prefs.model_dir:
        box.label(text="Choose the folder holding the SMPL-X and SMPLer-X files", icon="INFO")
        return
    for rel, present, how in core_module("body").model_dir_status(bpy.path.abspath(prefs.model_dir)):
        row = box.row()
        row.label(text=rel, icon="CHECKMARK" if present else "ERROR")
        if not present:
            row.label(text=how)


def _draw_environment(layout, prefs) -> None:
    box = layout.box()
    box.prop(prefs, "python_path")
    box.prop(prefs, "env_dir")
    row = box.row()
    row.enabled = not prefs.installing
    row.operator("smplx_video.install_dependencies", icon="CONSOLE")
    if prefs.installing or prefs.install_status:
        if prefs.installing:
            box.progress(factor=prefs.install_progress, text=prefs.install_status)
        else:
            box.label(text=prefs.install_status)


classes = (SMPLXVideoPreferences,)
