"""Run inside a real Blender: `blender -b --python probe.py -- WHAT OUT.json [ARGS]`; writes what it finds as JSON.

    addon MODULE         is the add-on enabled after start-up, its operators registered, its bundled core used
    fbx FILE             re-import an FBX into an empty scene: armatures, bone counts, keyed frame range, fps
    install MODULE ENV_DIR TORCH_BUILD
                         press "Install dependencies" (execute) into ENV_DIR, save the preferences, check the result

Written as plain facts for the test to judge (tests/test_blender_binary.py); nothing here asserts.
"""

import importlib
import json
import os
import sys
import time
import traceback

import bpy


def _addon(module: str) -> dict:
    import addon_utils

    default, loaded = addon_utils.check(module)
    mod = sys.modules.get(module)
    core = getattr(mod, "core", None)
    prefs = bpy.context.preferences.addons.get(module)
    return {
        "blender": bpy.app.version_string,
        "python": sys.version.split()[0],
        "enabled_default": bool(default),
        "loaded": bool(loaded),
        "file": getattr(mod, "__file__", None),
        "core": getattr(core, "__name__", None),
        "operators": sorted(name for name in dir(bpy.ops.smplx_video)),
        "has_prefs": prefs is not None and prefs.preferences is not None,
        "panels": sorted(c for c in dir(bpy.types) if c.startswith("SMPLX_PT")),
    }


def _keyed_range(action) -> list:
    """[first, last] keyed frame over every F-curve (Blender 4.3 actions, and the 4.4+ slotted layout)."""
    curves = list(getattr(action, "fcurves", []) or [])
    for layer in getattr(action, "layers", []):
        for strip in layer.strips:
            for bag in getattr(strip, "channelbags", []):
                curves += list(bag.fcurves)
    frames = [k.co.x for fc in curves for k in fc.keyframe_points]
    return [min(frames), max(frames)] if frames else []


def _fbx(path: str) -> dict:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=path)
    scene = bpy.context.scene
    arms = []
    for obj in scene.objects:
        if obj.type != "ARMATURE":
            continue
        action = obj.animation_data.action if obj.animation_data else None
        arms.append({"name": obj.name, "bones": len(obj.data.bones),
                     "bone_names": [b.name for b in obj.data.bones],
                     "keyed": _keyed_range(action) if action else [],
                     "meshes": [c.name for c in obj.children if c.type == "MESH"],
                     "vertices": [len(c.data.vertices) for c in obj.children if c.type == "MESH"]})
    return {"armatures": arms, "fps": scene.render.fps / scene.render.fps_base,
            "objects": sorted(o.type for o in scene.objects)}


def _install(module: str, env_dir: str, torch_build: str) -> dict:
    prefs = bpy.context.preferences.addons[module].preferences
    prefs.use_existing_python, prefs.python_path = False, ""
    prefs.env_dir, prefs.torch_build = env_dir, torch_build
    deps = importlib.import_module(f"{module}.deps")
    t0 = time.perf_counter()
    try:
        ret, report = sorted(bpy.ops.smplx_video.install_dependencies()), ""
    except RuntimeError as exc:  # the operator's ERROR report
        ret, report = ["CANCELLED"], str(exc)
    seconds = time.perf_counter() - t0
    bpy.ops.wm.save_userpref()
    python = deps.venv_python(env_dir)
    ok, line = deps.check_python(python) if os.path.isfile(python) else (False, f"no {python}")
    return {"ret": ret, "report": report, "status": prefs.install_status, "seconds": round(seconds, 1),
            "base_python": deps.base_python(), "python": python, "check_ok": ok, "check": line}


def main() -> None:
    args = sys.argv[sys.argv.index("--") + 1:]
    what, out = args[0], args[1]
    try:
        result = {"addon": _addon, "fbx": _fbx, "install": _install}[what](*args[2:])
    except Exception:
        result = {"error": traceback.format_exc()}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)


main()
