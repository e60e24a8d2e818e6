"""Run inside a real Blender: `blender -b --python probe.py -- WHAT OUT.json [ARGS]`; writes what it finds as JSON.

    addon MODULE         is the add-on enabled after start-up, its operators registered, its bundled core used
    fbx FILE             re-import an FBX into an empty scene: armatures, bone counts, keyed frame range, fps

Written as plain facts for the test to judge (tests/test_blender_binary.py); nothing here asserts.
"""

import json
import sys
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


def main() -> None:
    args = sys.argv[sys.argv.index("--") + 1:]
    what, out = args[0], args[1]
    try:
        result = {"addon": _addon, "fbx": _fbx}[what](*args[2:])
    except Exception:
        result = {"error": traceback.format_exc()}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)


main()
