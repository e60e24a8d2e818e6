"""Retarget presets: the roles (SMPL-X joint names) a preset maps, preset JSON files (built-in ones in builtin/),
checks, saving, detection from bone names, and presets read from a .vrm's own humanoid table."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .. import core_module

PRESET_DIR = Path(__file__).resolve().parent / "builtin"
CHAINS = ("spine", "neck")
SOURCE_PRESET = "smplx"
EMBEDDED_PRESET = "smplx_retarget_preset"  # armature custom property: a preset (JSON) that travels with the rig
SIDES = ("left", "right")
FINGERS = ("thumb", "index", "middle", "ring", "pinky")


# ---------------------------------------------------------------------------------------------- roles
def role_table() -> tuple:
    """The role names (SMPL-X joint names) a preset's "bones" may map, and their parent role (SMPL-X kintree)."""
    names = core_module("body.joint_names")
    joints = names.JOINT_NAMES[:55]
    parents = {j: (joints[p] if p >= 0 else None) for j, p in zip(joints, names.PARENTS[:55])}
    return tuple(joints), parents


def aim_table() -> dict:
    """role → (the role or chain whose head ends this bone's segment, optional (side_from, side_to) roles)."""
    aims = {"pelvis": ("spine", None)}
    for s in SIDES:
        aims.update({f"{s}_hip": (f"{s}_knee", None), f"{s}_knee": (f"{s}_ankle", None),
                     f"{s}_ankle": (f"{s}_foot", None), f"{s}_collar": (f"{s}_shoulder", None),
                     f"{s}_shoulder": (f"{s}_elbow", None), f"{s}_elbow": (f"{s}_wrist", None),
                     f"{s}_wrist": (f"{s}_middle1", (f"{s}_index1", f"{s}_pinky1"))})
        for f in FINGERS:
            aims.update({f"{s}_{f}1": (f"{s}_{f}2", None), f"{s}_{f}2": (f"{s}_{f}3", None)})
    return aims


CHAIN_SOURCE_ROLES = {"spine": ("spine1", "spine2", "spine3"), "neck": ("neck",)}
CHAIN_END = {"spine": "neck", "neck": "head"}  # what ends each chain: the next chain's first bone, or a role


# ---------------------------------------------------------------------------------------------- presets
def list_presets() -> list:
    """Names of the built-in presets (files in builtin/)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def load_preset(preset) -> dict:
    """A checked preset dict from a built-in name, a JSON path, or a dict.

    Raises:
        FileNotFoundError: no built-in preset and no file of that name.
        ValueError: the JSON is malformed or names unknown roles (the message says which).
    """
    if isinstance(preset, dict):
        data, origin = preset, "preset"
    else:
        path = Path(os.fspath(preset))
        if not path.suffix and (PRESET_DIR / f"{path}.json").is_file():
            path = PRESET_DIR / f"{path}.json"
        if not path.is_file():
            raise FileNotFoundError(f"retarget preset {preset!r} not found: give a built-in name "
                                    f"({', '.join(list_presets())}) or a .json file")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"retarget preset {path}: not valid JSON ({exc})") from None
        origin = str(path)
    return check_preset(data, origin)


def check_preset(data: dict, origin: str = "preset") -> dict:
    """`data` with defaults filled in, or ValueError naming the first problem (unknown role, wrong type)."""
    if not isinstance(data, dict) or not isinstance(data.get("bones"), dict):
        raise ValueError(f"{origin}: a retarget preset is a JSON object with a \"bones\" object (role → bone name)")
    roles, _ = role_table()
    chain_roles = {r for rs in CHAIN_SOURCE_ROLES.values() for r in rs}
    for role, bone in data["bones"].items():
        if role not in roles or role in chain_roles:
            raise ValueError(f"{origin}: unknown role {role!r} in \"bones\" (roles are SMPL-X joint names; "
                             f"{sorted(chain_roles)} go in the \"spine\"/\"neck\" lists)")
        if not isinstance(bone, str) or not bone:
            raise ValueError(f"{origin}: role {role!r} must map to a bone name, got {bone!r}")
    out = {"name": str(data.get("name", Path(origin).stem)), "label": str(data.get("label", data.get("name", ""))),
           "description": str(data.get("description", "")), "bones": dict(data["bones"])}
    if not isinstance(data.get("root", ""), str):
        raise ValueError(f"{origin}: \"root\" must be a bone name (the bone that gets the translation)")
    out["root"] = data.get("root", "")
    for key in (*CHAINS, "detect", "tail_aims"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{origin}: \"{key}\" must be a list of bone names")
        out[key] = list(value)
    for key in ("follow", "properties"):
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise ValueError(f"{origin}: \"{key}\" must be an object")
        out[key] = dict(value)
    return out


def save_preset(preset: dict, path) -> Path:
    """Write a (checked) preset as JSON to `path` (atomically); returns the path."""
    data = check_preset(preset, str(path))
    path = Path(os.fspath(path))
    if path.suffix.lower() != ".json":
        raise ValueError(f"{path}: a retarget preset is saved as .json")
    core_module("motion").atomic_write(path, lambda fh: fh.write(json.dumps(data, indent=1) + "\n"), mode="w")
    return path


def vrm_preset(path) -> dict | None:
    """A preset from a .vrm file's own humanoid table (VRM 1.0 `VRMC_vrm` or 0.x `VRM` extension), naming the
    file's nodes (the bones Blender's glTF importer creates); None when the file has no humanoid table.

    Raises:
        ValueError: the file is not a binary glTF (.vrm/.glb).
    """
    raw = Path(os.fspath(path)).read_bytes()
    if raw[:4] != b"glTF" or raw[16:20] != b"JSON":
        raise ValueError(f"{path}: not a binary glTF/VRM file")
    doc = json.loads(raw[20:20 + int.from_bytes(raw[12:16], "little")])
    nodes = [n.get("name", f"node{i}") for i, n in enumerate(doc.get("nodes", []))]
    ext = doc.get("extensions", {})
    if "VRMC_vrm" in ext:
        human = {k: nodes[v["node"]] for k, v in ext["VRMC_vrm"].get("humanoid", {}).get("humanBones", {}).items()}
        thumbs = ("Metacarpal", "Proximal", "Distal")
    elif "VRM" in ext:
        human = {b["bone"]: nodes[b["node"]] for b in ext["VRM"].get("humanoid", {}).get("humanBones", [])}
        thumbs = ("Proximal", "Intermediate", "Distal")
    else:
        return None
    table = load_preset("vrm")
    bones = {}
    for role, vrm_name in table["bones"].items():
        for i, (new, old) in enumerate(zip(thumbs, ("Metacarpal", "Proximal", "Distal"))):
            if "Thumb" in vrm_name and vrm_name.endswith(old) and role.endswith(str(i + 1)):
                vrm_name = vrm_name[: -len(old)] + new
        if vrm_name in human:
            bones[role] = human[vrm_name]
    return check_preset({"name": "vrm_file", "label": f"VRM ({Path(os.fspath(path)).name})",
                         "description": "the humanoid bone table stored in the .vrm file", "bones": bones,
                         "spine": [human[n] for n in table["spine"] if n in human],
                         "neck": [human[n] for n in table["neck"] if n in human]}, str(path))


def _key(name: str) -> str:
    """Matching key of a bone name: without a "namespace:" prefix (mixamorig:, mixamorig1:) and lower case."""
    return name.rsplit(":", 1)[-1].lower()


def resolver(armature):
    """name → the armature's bone of that name: exact, else same name without namespace (case-insensitive)."""
    exact = {b.name: b.name for b in armature.data.bones}
    loose = {}
    for b in armature.data.bones:
        loose.setdefault(_key(b.name), b.name)

    def find(name: str):
        return exact.get(name) or exact.get(name.rsplit(":", 1)[-1]) or loose.get(_key(name))
    return find, exact


def _preset_names(preset: dict) -> list:
    return [*preset["bones"].values(), *preset["spine"], *preset["neck"], *preset["detect"]]


def _score(armature, preset: dict) -> float:
    """Fraction of the preset's names found in `armature` (exact-case matches count fully, others 0.9)."""
    find, _ = resolver(armature)
    names = _preset_names(preset)
    total = 0.0
    for name in names:
        hit = find(name)
        if hit:
            total += 1.0 if hit.rsplit(":", 1)[-1] == name.rsplit(":", 1)[-1] else 0.9
    return total / max(len(names), 1)


def detect_preset(armature) -> str:
    """The built-in preset whose bone names best match `armature`'s.

    Raises:
        ValueError: not an armature, or no preset matches at least half of its names.
    """
    if armature is None or getattr(armature, "type", None) != "ARMATURE":
        raise ValueError(f"{getattr(armature, 'name', armature)!r} is not an armature object")
    scores = {name: _score(armature, load_preset(name)) for name in list_presets()}
    best = max(scores, key=scores.get)
    if scores[best] < 0.5:
        sample = ", ".join(b.name for b in list(armature.data.bones)[:8])
        raise ValueError(f"armature {armature.name!r}: no retarget preset matches its bone names ({sample} …); "
                         "save a preset, edit its bone names and load it (Retarget > Load preset)")
    return best
