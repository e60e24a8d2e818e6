"""Blender add-on: import a video as SMPL-X animation (SMPLer-X, NeurIPS 2023).

Layout (thin bpy glue over plain functions, as in KhronosGroup/glTF-Blender-IO):
rig.py (armature + mesh from a model file), animate.py (MotionClip track → Action), camera.py (video camera),
importer.py (MotionClip → rigs, synchronous), worker.py (runs `python -m core convert` as a subprocess),
deps.py (the conversion's Python environment), export.py (FBX/glTF/BVH), properties.py (the panel's settings,
generated from core.options), operators.py / panel.py / preferences.py (UI), batch.py (headless entry point) and
slurm_batch.sh (batch.py over a Slurm job array).

Where `core` comes from: build_addon.py copies the repo's `core` package *inside* the add-on folder, so the installed
extension imports it relatively (`<addon>.core`, no sys.path change, no clash with other add-ons' modules). In a
development checkout the add-on folder has no `core` sub-package and the repo's top-level `core` is used instead.
`core_module("motion")` hides that choice from the other modules.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# Blender 4.2+ only: an extension (blender_manifest.toml), no legacy `bl_info` (README: "Blender 4.2 or later"). The
# zip keeps the add-on in one top-level folder, so an older Blender's "Install add-on" makes one folder that it does
# not list, instead of scattering a dozen modules into its add-ons folder.


def _find_core() -> ModuleType:
    """The bundled `<addon>.core` when present (extension zip), else the checkout's top-level `core`."""
    try:
        return importlib.import_module(".core", __package__)
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.core":
            raise
        return importlib.import_module("core")


core = _find_core()


def core_module(name: str) -> ModuleType:
    """Import `core.<name>` from whichever `core` the add-on uses (e.g. `core_module("motion")`)."""
    return importlib.import_module(f"{core.__name__}.{name}")


def register() -> None:
    """Register every class of the add-on (one `classes` tuple per UI module)."""
    import bpy

    from . import operators, panel, preferences, properties

    for cls in (*preferences.classes, *properties.classes, *operators.classes, *panel.classes):
        bpy.utils.register_class(cls)
    properties.register_properties()
    operators.register_handlers()


def unregister() -> None:
    """Unregister in reverse order; stop any running conversion first."""
    import bpy

    from . import operators, panel, preferences, properties

    operators.cancel_running_jobs()
    operators.unregister_handlers()
    properties.unregister_properties()
    for cls in reversed((*preferences.classes, *properties.classes, *operators.classes, *panel.classes)):
        bpy.utils.unregister_class(cls)
