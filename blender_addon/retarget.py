"""Retarget the motion of an SMPL-X armature (importer.import_clip's rig) onto the user's own character.

Method: world-space rest alignment, the approach of Blender's "Copy Global Transform"-style retargeters and of
MotionBuilder's characterisation, done in numpy for every frame at once:

1. A *preset* (JSON in `retarget_presets/`) names the target bone of each SMPL-X joint ("role"), plus two chains,
   "spine" and "neck", whose bone counts may differ from SMPL-X's (3 spine, 1 neck segment).
2. Each mapped target bone gets a rest alignment A (world rotation) that turns its rest direction (head → the head of
   the bone mapped to the next joint down the limb) onto the source's rest direction: this absorbs T- vs A-pose,
   bone rolls and axis conventions, bent rest fingers. Hands also align the knuckle line (index → pinky), so the palm
   faces the same way. A leaf bone (head, toes, last finger segment, a hand without fingers) reuses its parent's A.
3. Per frame, target world rotation = Δ_source(t) · A · rest_target, where Δ_source is the source bone's world
   rotation relative to its rest. A chain bone covers a fraction of its chain's length; it takes the Δ of the source
   segment at the middle of that fraction and is then swung onto the posed source sub-chord over the same fraction
   (so 5 spine bones follow 3 SMPL-X segments, or 1 follows all 3).
4. The pelvis bone's world position follows the source pelvis: horizontal motion scaled by leg length ratio, and the
   height set per frame so that the target's lowest foot point keeps the source's lowest foot clearance (scaled)
   above the source's floor: feet stay on the floor where the source's are.
5. Local pose-bone rotations come from the target hierarchy (unmapped bones keep their rest pose and follow their
   parents) and are written through animate.write_pose_action (bulk F-curves, no keyframe_insert).

The source motion is read from its F-curves and evaluated with a numpy forward kinematics (`sample_pose`), so
retargeting 10,000 frames takes seconds (bench/retarget.py). Bones driven by constraints or drivers on the source are
not seen: the source must be key-framed FK, as the importer's rig is.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import animate, core_module

log = logging.getLogger(__name__)

PRESET_DIR = Path(__file__).resolve().with_name("retarget_presets")
CHAINS = ("spine", "neck")
SOURCE_PRESET = "smplx"
CHARACTER_SUFFIXES = (".fbx", ".blend", ".glb", ".gltf", ".vrm", ".bvh")
EMBEDDED_PRESET = "smplx_retarget_preset"  # armature custom property: a preset (JSON) that travels with the rig
BUILTIN_CHARACTERS = ("rigify-metarig",)  # characters made in the scene instead of loaded from a file
_SIDES = ("left", "right")
_FINGERS = ("thumb", "index", "middle", "ring", "pinky")
_LINEAR = 1  # Keyframe.interpolation enum index of LINEAR
_TAIL = "@tail"  # a unit's target_end meaning "the bone's own tail"


# ---------------------------------------------------------------------------------------------- roles
def _roles() -> tuple:
    """The role names (SMPL-X joint names) a preset's "bones" may map, and their parent role (SMPL-X kintree)."""
    names = core_module("body.joint_names")
    joints = names.JOINT_NAMES[:55]
    parents = {j: (joints[p] if p >= 0 else None) for j, p in zip(joints, names.PARENTS[:55])}
    return tuple(joints), parents


def _aims() -> dict:
    """role → (the role or chain whose head ends this bone's segment, optional (side_from, side_to) roles)."""
    aims = {"pelvis": ("spine", None)}
    for s in _SIDES:
        aims.update({f"{s}_hip": (f"{s}_knee", None), f"{s}_knee": (f"{s}_ankle", None),
                     f"{s}_ankle": (f"{s}_foot", None), f"{s}_collar": (f"{s}_shoulder", None),
                     f"{s}_shoulder": (f"{s}_elbow", None), f"{s}_elbow": (f"{s}_wrist", None),
                     f"{s}_wrist": (f"{s}_middle1", (f"{s}_index1", f"{s}_pinky1"))})
        for f in _FINGERS:
            aims.update({f"{s}_{f}1": (f"{s}_{f}2", None), f"{s}_{f}2": (f"{s}_{f}3", None)})
    return aims


_CHAIN_SOURCE_ROLES = {"spine": ("spine1", "spine2", "spine3"), "neck": ("neck",)}
_CHAIN_END = {"spine": "neck", "neck": "head"}  # what ends each chain: the next chain's first bone, or a role


# ---------------------------------------------------------------------------------------------- presets
def list_presets() -> list:
    """Names of the built-in presets (files in retarget_presets/)."""
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
    roles, _ = _roles()
    chain_roles = {r for rs in _CHAIN_SOURCE_ROLES.values() for r in rs}
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


def _resolver(armature):
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
    find, _ = _resolver(armature)
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


# ---------------------------------------------------------------------------------------------- mapping
@dataclass
class _Unit:
    """One target bone and how it follows the source (see the module docstring)."""

    target: str
    source_bones: list  # source chain bones (one for a single bone)
    source_end: str | None  # source bone whose head ends the source chain (None: leaf)
    target_end: str | None  # target bone whose head ends the target bone's segment (None: leaf)
    chain: str | None = None  # "spine" or "neck" for chain bones
    u0: float = 0.0  # fraction of the chain this bone covers
    u1: float = 1.0
    inherit: str | None = None  # leaf: target bone whose alignment it reuses
    side: tuple | None = None  # ((source a, source b), (target a, target b)) knuckle line for hands


@dataclass
class Mapping:
    """Which target bone follows what, and what was left out.

    Attributes:
        preset: the target preset (checked dict).
        units: one _Unit per driven target bone, parents before children.
        root: the target bone that gets the translation.
        missing: preset bone names the target does not have.
        unmatched: target deform bones that no role drives (they keep their rest pose relative to their parent).
    """

    preset: dict
    units: list = field(default_factory=list)
    root: str | None = None
    missing: list = field(default_factory=list)
    unmatched: list = field(default_factory=list)


def _resolve(armature, preset: dict) -> tuple:
    """(role → bone, chain → bones, missing names) of `preset` on `armature`."""
    find, _ = _resolver(armature)
    bones, chains, missing = {}, {}, []
    for role, name in preset["bones"].items():
        hit = find(name)
        if hit:
            bones[role] = hit
        else:
            missing.append(name)
    for chain in CHAINS:
        chains[chain] = []
        for name in preset[chain]:
            hit = find(name)
            (chains[chain].append(hit) if hit else missing.append(name))
    return bones, chains, missing


def _chain_end(chain: str, bones: dict, chains: dict) -> str | None:
    end = _CHAIN_END[chain]
    return (chains[end][0] if chains.get(end) else None) if end in CHAINS else bones.get(end)


def plan_mapping(source, target, preset=None, source_preset=None) -> Mapping:
    """Match `preset` (None: detected) on `target` and SMPL-X (or `source_preset`) on `source`.

    Raises:
        ValueError: the target lacks the pelvis bone or any limb, or the source is not an SMPL-X rig.
    """
    if preset is None and EMBEDDED_PRESET in target:  # e.g. the humanoid table of a loaded .vrm
        preset = json.loads(target[EMBEDDED_PRESET])
    tp = load_preset(preset if preset is not None else detect_preset(target))
    sp = load_preset(source_preset if source_preset is not None else SOURCE_PRESET)
    sb, sc, s_missing = _resolve(source, sp)
    if "pelvis" not in sb or not sc["spine"]:
        raise ValueError(f"source {source.name!r} is not a {sp['label']} armature (no {sp['bones']['pelvis']!r} "
                         f"or spine bones); retarget from an armature made by the SMPL-X import")
    tb, tc, t_missing = _resolve(target, tp)
    if "pelvis" not in tb:
        raise ValueError(f"target {target.name!r}: preset {tp['name']!r} names pelvis bone "
                         f"{tp['bones']['pelvis']!r}, which it does not have; pick or load another preset")
    roles, parents = _roles()
    aims = _aims()
    units: dict = {}
    for chain in CHAINS:
        if not (tc[chain] and sc[chain]):
            continue
        t_end, s_end = _chain_end(chain, tb, tc), _chain_end(chain, sb, sc)
        for i, bone in enumerate(tc[chain]):
            own_end = tc[chain][i + 1] if i + 1 < len(tc[chain]) else t_end  # this bone's segment
            units[bone] = _Unit(bone, list(sc[chain]), s_end, own_end, chain=chain)
            if t_end is None or s_end is None:  # nothing ends the chain: its bones copy the source's rotation
                units[bone].source_end = units[bone].target_end = None
    for role in roles:
        if role not in tb or role not in sb:
            continue
        aim, side = aims.get(role, (None, None))
        t_end = s_end = None
        if aim in CHAINS:
            t_end, s_end = (tc[aim][0] if tc[aim] else None), (sc[aim][0] if sc[aim] else None)
        elif aim:
            t_end, s_end = tb.get(aim), sb.get(aim)
        unit = _Unit(tb[role], [sb[role]], s_end, t_end)
        if s_end is None or t_end is None:  # a leaf, or its next joint is missing on one side
            unit.source_end = unit.target_end = None
            unit.inherit = _mapped_parent(role, parents, tb, tc)
        if side and all(r in sb and r in tb for r in side):
            unit.side = ((sb[side[0]], sb[side[1]]), (tb[side[0]], tb[side[1]]))
        units[tb[role]] = unit
    order = [b.name for b in _topological(target)]
    for bone in tp["tail_aims"]:  # bones whose rest direction is their own head → tail
        hit = _resolver(target)[0](bone)
        if hit in units and units[hit].source_end is not None:
            units[hit].target_end = _TAIL
    root = _resolver(target)[0](tp["root"]) if tp["root"] else None
    mapping = Mapping(preset=tp, units=[units[n] for n in order if n in units], root=root or tb["pelvis"],
                      missing=sorted(set(t_missing)))
    driven = set(units) | set(tp.get("follow", {}))
    mapping.unmatched = [b.name for b in target.data.bones if b.use_deform and b.name not in driven
                         and not target.pose.bones[b.name].constraints]  # constrained bones follow their rig
    if s_missing:
        log.info("source %s lacks %s", source.name, s_missing)
    return mapping


def _mapped_parent(role: str, parents: dict, tb: dict, tc: dict) -> str | None:
    """The target bone of the nearest mapped ancestor role (chains stand for their roles)."""
    chain_of = {r: c for c, rs in _CHAIN_SOURCE_ROLES.items() for r in rs}
    r = parents.get(role)
    while r is not None:
        if r in chain_of and tc.get(chain_of[r]):
            return tc[chain_of[r]][-1]
        if r in tb:
            return tb[r]
        r = parents.get(r)
    return None


def _topological(armature) -> list:
    """The armature's bones, every parent before its children."""
    out, todo = [], [b for b in armature.data.bones if b.parent is None]
    while todo:
        bone = todo.pop(0)
        out.append(bone)
        todo.extend(bone.children)
    return out


# ---------------------------------------------------------------------------------------------- rotation math
def _normalize(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(...,3,3) smallest rotations taking unit directions a (...,3) onto b (...,3) (Rodrigues; 180° about any
    perpendicular axis when they are opposite)."""
    a, b = np.broadcast_arrays(_normalize(np.asarray(a, np.float64)), _normalize(np.asarray(b, np.float64)))
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1)
    c = np.sum(a * b, axis=-1)
    # opposite directions: any axis perpendicular to a
    helper = np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    perp = _normalize(np.cross(a, helper))
    axis = np.where((s < 1e-9)[..., None], perp * (c < 0)[..., None], axis / np.maximum(s, 1e-12)[..., None])
    angle = np.arctan2(s, c)
    k = np.zeros(axis.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    k[..., 1, 0], k[..., 2, 0], k[..., 2, 1] = axis[..., 2], -axis[..., 1], axis[..., 0]
    sa, ca = np.sin(angle)[..., None, None], np.cos(angle)[..., None, None]
    return np.eye(3) + sa * k + (1.0 - ca) * (k @ k)


def _rigid_inv(m: np.ndarray) -> np.ndarray:
    """Inverse of a rigid 4×4 transform (rotation + translation) without a general solve."""
    out = np.eye(4)
    out[:3, :3] = m[:3, :3].T
    out[:3, 3] = -m[:3, :3].T @ m[:3, 3]
    return out


def _times(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """a (N,k,k) @ c (k,k) as one matrix product (much faster than numpy's batched small matmul)."""
    k = c.shape[0]
    return (np.ascontiguousarray(a).reshape(-1, k) @ c).reshape(a.shape)


def _frame(aim: np.ndarray, side: np.ndarray) -> np.ndarray:
    """(3,3) orthonormal frame with columns aim, side ⟂ aim, aim × side."""
    x = _normalize(aim)
    y = _normalize(side - np.dot(side, x) * x)
    return np.stack([x, y, np.cross(x, y)], axis=1)


def _euler_to_matrix(e: np.ndarray, order: str) -> np.ndarray:
    """(N,3) Blender Euler angles (radians, X Y Z components) with rotation order `order` → (N,3,3)."""
    out = np.broadcast_to(np.eye(3), e.shape[:-1] + (3, 3)).copy()
    for axis in order:  # the first letter is applied first: M = R_last … R_first
        i = "XYZ".index(axis)
        c, s = np.cos(e[..., i]), np.sin(e[..., i])
        r = np.broadcast_to(np.eye(3), e.shape[:-1] + (3, 3)).copy()
        j, k = [(1, 2), (2, 0), (0, 1)][i]
        r[..., j, j], r[..., j, k], r[..., k, j], r[..., k, k] = c, -s, s, c
        out = r @ out
    return out


# ---------------------------------------------------------------------------------------------- sampling
def _fcurves(obj) -> list:
    """The F-curves of `obj`'s action (its slot's channelbag on 4.4+)."""
    anim = obj.animation_data
    if anim is None or anim.action is None:
        return []
    action = anim.action
    if hasattr(action, "layers") and getattr(anim, "action_slot", None) is not None:
        from bpy_extras import anim_utils

        bag = anim_utils.action_get_channelbag_for_slot(action, anim.action_slot)
        return list(bag.fcurves) if bag is not None else []
    return list(getattr(action, "fcurves", []))


def _curve_values(fcurve, frames: np.ndarray) -> np.ndarray:
    """F-curve values at `frames`: numpy interpolation when every key is LINEAR (exact), else fcurve.evaluate."""
    points = fcurve.keyframe_points
    n = len(points)
    if n:
        interp = np.empty(n, np.int32)
        points.foreach_get("interpolation", interp)
        if n == 1 or np.all(interp[:-1] == _LINEAR):
            co = np.empty(2 * n, np.float32)
            points.foreach_get("co", co)
            return np.interp(frames, co[0::2].astype(np.float64), co[1::2].astype(np.float64))
    return np.array([fcurve.evaluate(float(f)) for f in frames])


_CHANNEL = re.compile(r'^pose\.bones\["(.+)"\]\.(location|rotation_quaternion|rotation_euler|rotation_axis_angle'
                      r'|scale)$')


def sample_pose(armature, frames) -> tuple:
    """Armature-space pose matrices of every bone at `frames`, from its F-curves and a numpy forward kinematics.

    Unanimated channels keep their current values. Constraints and drivers are ignored (the importer's rig has none).

    Returns:
        names: bone names (topological order); matrices: (N,B,4,4) pose-bone `matrix` per frame.
    """
    frames = np.asarray(frames, np.float64)
    n = len(frames)
    bones = _topological(armature)
    names = [b.name for b in bones]
    index = {name: i for i, name in enumerate(names)}
    channels: dict = {}
    for fc in _fcurves(armature):
        m = _CHANNEL.match(fc.data_path)
        if m and m.group(1) in index:
            channels[(m.group(1), m.group(2), fc.array_index)] = fc
    rest = np.array([np.array(b.matrix_local) for b in bones])
    out = np.empty((n, len(bones), 4, 4))
    for i, bone in enumerate(bones):
        pb = armature.pose.bones[bone.name]

        def channel(prop, size, current):
            cols = []
            for k in range(size):
                fc = channels.get((bone.name, prop, k))
                cols.append(_curve_values(fc, frames) if fc is not None else np.full(n, float(current[k])))
            return np.stack(cols, axis=-1)

        basis = np.broadcast_to(np.eye(4), (n, 4, 4)).copy()
        mode = pb.rotation_mode
        if mode == "QUATERNION":
            rot = animate.quat_to_matrix(_normalize(channel("rotation_quaternion", 4, pb.rotation_quaternion)))
        elif mode == "AXIS_ANGLE":
            aa = channel("rotation_axis_angle", 4, pb.rotation_axis_angle)
            rot = animate.quat_to_matrix(animate.axis_angle_to_quat(_normalize(aa[:, 1:]) * aa[:, :1]))
        else:
            rot = _euler_to_matrix(channel("rotation_euler", 3, pb.rotation_euler), mode)
        scale = channel("scale", 3, pb.scale)
        basis[:, :3, :3] = rot * scale[:, None, :]
        if not bone.use_connect:
            basis[:, :3, 3] = channel("location", 3, pb.location)
        if bone.parent is None:
            out[:, i] = rest[i] @ basis
        else:
            p = index[bone.parent.name]
            out[:, i] = _times(out[:, p], _rigid_inv(rest[p]) @ rest[i]) @ basis
    return names, out


# ---------------------------------------------------------------------------------------------- geometry
@dataclass
class _Rig:
    """World-space rest data of one armature."""

    names: list
    index: dict
    parent: list  # parent index or −1
    rest: np.ndarray  # (B,4,4) armature-space matrix_local
    tails: np.ndarray  # (B,3) armature-space rest tails
    world: np.ndarray  # (4,4) object matrix_world
    rot: np.ndarray  # (3,3) object rotation (scale removed)
    scale: float

    @classmethod
    def of(cls, armature) -> "_Rig":
        bones = _topological(armature)
        names = [b.name for b in bones]
        index = {n: i for i, n in enumerate(names)}
        world = np.array(armature.matrix_world)
        scales = np.linalg.norm(world[:3, :3], axis=0)
        if np.ptp(scales) > 1e-4 * scales.max():
            raise ValueError(f"armature {armature.name!r} has a non-uniform object scale {scales.round(4)}; "
                             "apply the scale (Ctrl+A) first")
        return cls(names, index, [index[b.parent.name] if b.parent else -1 for b in bones],
                   np.array([np.array(b.matrix_local) for b in bones]), np.array([b.tail_local for b in bones]),
                   world, world[:3, :3] / scales[0], float(scales[0]))

    def rest_head(self, name: str) -> np.ndarray:
        """World rest position of a bone's head."""
        return (self.world @ self.rest[self.index[name]][:, 3])[:3]

    def rest_tail(self, name: str) -> np.ndarray:
        """World rest position of a bone's tail."""
        return (self.world @ np.append(self.tails[self.index[name]], 1.0))[:3]

    def rest_rot(self, name: str) -> np.ndarray:
        """World rest orientation (3,3) of a bone."""
        m = self.rest[self.index[name]][:3, :3]
        return self.rot @ (m / np.linalg.norm(m, axis=0))


def _rest_floor(armature, rig: _Rig) -> float:
    """World height of the rest pose's lowest point: the lowest vertex of the meshes it deforms, evaluated in rest
    position (shape keys included), else its lowest bone end."""
    import bpy

    meshes = [o for o in bpy.context.view_layer.objects if o.type == "MESH" and len(o.data.vertices)
              and any(m.type == "ARMATURE" and m.object == armature for m in o.modifiers)]
    if not meshes:
        ends = [rig.rest_head(n)[2] for n in rig.names] + [rig.rest_tail(n)[2] for n in rig.names]
        return float(min(ends))
    previous = armature.data.pose_position
    armature.data.pose_position = "REST"
    try:
        bpy.context.view_layer.update()
        depsgraph = bpy.context.evaluated_depsgraph_get()
        low = np.inf
        for obj in meshes:
            mesh = obj.evaluated_get(depsgraph).data
            co = np.empty(3 * len(mesh.vertices), np.float32)
            mesh.vertices.foreach_get("co", co)
            w = np.array(obj.matrix_world)
            low = min(low, float((co.reshape(-1, 3) @ w[:3, :3].T + w[:3, 3])[:, 2].min()))
    finally:
        armature.data.pose_position = previous
        bpy.context.view_layer.update()
    return low


def _leg_length(rig: _Rig, bones: dict) -> float | None:
    """Mean hip→knee→ankle length of the two legs (world, rest), None when a leg bone is missing."""
    lengths = []
    for s in _SIDES:
        names = [bones.get(f"{s}_{j}") for j in ("hip", "knee", "ankle")]
        if None in names:
            return None
        p = [rig.rest_head(n) for n in names]
        lengths.append(np.linalg.norm(p[1] - p[0]) + np.linalg.norm(p[2] - p[1]))
    return float(np.mean(lengths))


def _contact_points(bones: dict) -> list:
    """(bone, use_tail) of the points that touch the floor: ankles and toe bases (a foot's tail without toes)."""
    points = []
    for s in _SIDES:
        if f"{s}_ankle" in bones:
            points.append((bones[f"{s}_ankle"], False))
            points.append((bones[f"{s}_foot"], False) if f"{s}_foot" in bones else (bones[f"{s}_ankle"], True))
    return points


def _point_heights(armature, rig: _Rig, names: list, mats: np.ndarray, points: list) -> np.ndarray:
    """(N,P) world heights of contact points given armature-space pose matrices (N,B,4,4) in `names` order."""
    index = {n: i for i, n in enumerate(names)}
    cols = []
    for bone, tail in points:
        m = mats[:, index[bone]]
        local = np.array([0.0, armature.data.bones[bone].length if tail else 0.0, 0.0, 1.0])
        cols.append((m @ local) @ rig.world[2])
    return np.stack(cols, axis=1)


def _rest_heights(rig: _Rig, points: list) -> np.ndarray:
    """(P,) world rest heights of contact points."""
    return np.array([(rig.rest_tail(b) if tail else rig.rest_head(b))[2] for b, tail in points])


# ---------------------------------------------------------------------------------------------- solve
@dataclass
class Solution:
    """Retargeted channels of the target (numpy only; `write` turns them into an Action).

    Attributes:
        frames: (N,) frame numbers.
        quats: {bone: (N,4)} pose-bone rotation_quaternion (w, x, y, z), sign-continuous.
        locations: {bone: (N,3)} pose-bone location of the root bone.
        scale: target/source leg length ratio used for the translation.
        floor: world height of the source's floor.
    """

    frames: np.ndarray
    quats: dict
    locations: dict
    scale: float
    floor: float


def solve(source, target, mapping: Mapping, frames) -> Solution:
    """Compute the target's pose-bone channels for `frames` (see the module docstring)."""
    frames = np.asarray(frames, np.float64)
    src, tgt = _Rig.of(source), _Rig.of(target)
    s_names, s_mats = sample_pose(source, frames)
    s_idx = {n: i for i, n in enumerate(s_names)}
    s_rot = src.rot @ s_mats[:, :, :3, :3]  # bones are rigid (no animated scale): these are rotations
    s_head = s_mats[:, :, :, 3] @ src.world[:3].T
    s_rest_rot = np.array([src.rest_rot(n) for n in s_names])
    delta = s_rot @ np.swapaxes(s_rest_rot, -1, -2)  # world rotation relative to rest, per source bone

    align = {}  # target bone → rest alignment A (3,3)
    deltas = {}  # target bone → desired world delta (N,3,3)
    _fix_chain_fractions(mapping, tgt)
    for unit in _alignment_order(mapping.units):
        deltas[unit.target], align[unit.target] = _unit_delta(unit, src, tgt, s_idx, delta, s_head, align)

    tp = mapping.preset
    t_bones, _, _ = _resolve(target, tp)
    sp = load_preset(SOURCE_PRESET)
    s_bones, _, _ = _resolve(source, sp)
    quats, mats = _local_rotations(target, tgt, deltas, tp.get("follow", {}), len(frames))
    root = mapping.root

    # translation: source pelvis path, scaled by leg length, feet kept on the source's floor
    s_leg, t_leg = _leg_length(src, s_bones), _leg_length(tgt, t_bones)
    k = t_leg / s_leg if s_leg and t_leg else 1.0
    s_floor0, t_floor0 = _rest_floor(source, src), _rest_floor(target, tgt)
    s_points, t_points = _contact_points(s_bones), _contact_points(t_bones)
    pelvis = s_head[:, s_idx[s_bones["pelvis"]]]
    if s_points:  # where each contact point's floor would be, per frame; the floor is their low 5th percentile
        s_under = (_point_heights(source, src, s_names, s_mats, s_points)
                   - (_rest_heights(src, s_points) - s_floor0)).min(axis=1)
        floor = float(np.percentile(s_under, 5))
    else:
        floor = s_floor0
    want = pelvis[0] + k * (pelvis - pelvis[0])
    height_t = tgt.rest_head(root)[2] - t_floor0
    height_s = src.rest_head(s_bones["pelvis"])[2] - s_floor0
    want[:, 2] = floor + height_t + k * (pelvis[:, 2] - floor - height_s)
    r = tgt.index[root]
    shift = want - (mats[:, r, :, 3] @ tgt.world.T)[:, :3]  # from the root head with zero location
    if s_points and t_points:
        t_under = (_point_heights(target, tgt, tgt.names, mats, t_points) + shift[:, 2:3]
                   - (_rest_heights(tgt, t_points) - t_floor0)).min(axis=1)
        shift[:, 2] += floor + k * (s_under - floor) - t_under
    # pose = base · T(loc) · R(q), so the head moves by base[:3,:3] · loc; base rotation = pose rotation · R(q)ᵀ
    base = mats[:, r, :3, :3]
    if root in quats:
        base = base @ np.swapaxes(animate.quat_to_matrix(quats[root]), -1, -2)
    shift_arm = shift @ np.linalg.inv(tgt.world[:3, :3]).T
    loc = np.einsum("nba,nb->na", base, shift_arm)  # base is a rotation: its inverse is its transpose
    return Solution(frames=frames, quats={b: animate.continuous_quats(q) for b, q in quats.items()},
                    locations={root: loc}, scale=float(k), floor=floor)


def _alignment_order(units: list) -> list:
    """Units with every leaf after the unit whose alignment it reuses (a jaw after its head, …)."""
    done, order, todo = set(), [], list(units)
    while todo:
        ready = [u for u in todo if u.inherit is None or u.inherit in done
                 or u.inherit not in {v.target for v in todo}]
        if not ready:  # a cycle cannot come from the SMPL-X tree; keep the rest as they are
            ready = todo
        order += ready
        done |= {u.target for u in ready}
        todo = [u for u in todo if u.target not in done]
    return order


def _fix_chain_fractions(mapping: Mapping, tgt: _Rig) -> None:
    """Each chain bone covers [u0, u1] of its chain: its cumulative share of the target chain's rest length."""
    for chain in CHAINS:
        units = [u for u in mapping.units if u.chain == chain and u.target_end is not None]
        if not units:
            continue
        points = [tgt.rest_head(u.target) for u in units] + [tgt.rest_head(units[-1].target_end)]
        lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
        cum = np.concatenate([[0.0], np.cumsum(lengths)]) / max(lengths.sum(), 1e-12)
        for i, unit in enumerate(units):
            unit.u0, unit.u1 = float(cum[i]), float(cum[i + 1])


def _polyline(src: _Rig, s_head: np.ndarray, s_idx: dict, bones: list, end: str) -> tuple:
    """Rest (P,3) and posed (N,P,3) points of a source chain (heads of `bones`, then `end`), and cumulative
    fractions (P,)."""
    names = list(bones) + [end]
    rest = np.array([src.rest_head(n) for n in names])
    posed = s_head[:, [s_idx[n] for n in names]]
    lengths = np.linalg.norm(np.diff(rest, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(lengths)]) / max(lengths.sum(), 1e-12)
    return rest, posed, cum


def _at(points: np.ndarray, cum: np.ndarray, u: float) -> np.ndarray:
    """Point at fraction u along a polyline (points (...,P,3))."""
    k = int(np.clip(np.searchsorted(cum, u, side="right") - 1, 0, len(cum) - 2))
    w = (u - cum[k]) / max(cum[k + 1] - cum[k], 1e-12)
    return (1 - w) * points[..., k, :] + w * points[..., k + 1, :]


def _unit_delta(unit: _Unit, src: _Rig, tgt: _Rig, s_idx: dict, delta: np.ndarray, s_head: np.ndarray,
                align: dict) -> tuple:
    """(desired world delta (N,3,3), rest alignment A (3,3)) of one target bone."""
    if unit.source_end is None:  # leaf: rigid with its mapped parent's alignment (none: copy the world delta)
        a = align.get(unit.inherit, np.eye(3))
        return delta[:, s_idx[unit.source_bones[0]]] @ a, a
    rest, posed, cum = _polyline(src, s_head, s_idx, unit.source_bones, unit.source_end)
    d_s0 = _at(rest, cum, unit.u1) - _at(rest, cum, unit.u0)
    end = tgt.rest_tail(unit.target) if unit.target_end == _TAIL else tgt.rest_head(unit.target_end)
    d_t0 = end - tgt.rest_head(unit.target)
    if unit.side is not None:
        (sa, sb), (ta, tb) = unit.side
        a = _frame(d_s0, src.rest_head(sb) - src.rest_head(sa)) @ _frame(
            d_t0, tgt.rest_head(tb) - tgt.rest_head(ta)).T
    else:
        a = swing(d_t0, d_s0)
    mid = 0.5 * (unit.u0 + unit.u1)
    k = int(np.clip(np.searchsorted(cum, mid, side="right") - 1, 0, len(unit.source_bones) - 1))
    base = delta[:, s_idx[unit.source_bones[k]]] @ a
    if len(unit.source_bones) == 1 and unit.u0 == 0.0 and unit.u1 == 1.0:
        return base, a  # one source segment: its delta already carries the direction exactly
    d_s = _at(posed, cum, unit.u1) - _at(posed, cum, unit.u0)
    return swing(base @ _normalize(d_t0), d_s) @ base, a


def _follow_order(tgt: _Rig, follow: dict) -> list:
    """Bone indices with every parent and every followed bone before the bones that depend on them."""
    done, order = set(), []

    def visit(i: int, stack: tuple = ()) -> None:
        if i in done:
            return
        if i in stack:
            raise ValueError(f"retarget preset: \"follow\" makes a loop through {tgt.names[i]!r}")
        deps = [tgt.parent[i]] + [tgt.index[f] for f in [follow.get(tgt.names[i])] if f in tgt.index]
        for d in deps:
            if d >= 0:
                visit(d, stack + (i,))
        done.add(i)
        order.append(i)

    for i in range(len(tgt.names)):
        visit(i)
    return order


def _local_rotations(target, tgt: _Rig, deltas: dict, follow: dict, n: int) -> tuple:
    """Pose-bone quaternions of the driven bones and every bone's armature-space pose (N,B,4,4) with zero
    locations. Undriven bones keep a rest basis; a bone in `follow` moves with that bone instead of its parent."""
    inv_obj = tgt.rot.T
    mats = np.empty((n, len(tgt.names), 4, 4))
    quats = {}
    for i in _follow_order(tgt, follow):
        name = tgt.names[i]
        p = tgt.parent[i]
        if p < 0:
            parent, parent_rest = np.broadcast_to(np.eye(4), (n, 4, 4)), np.eye(4)
        else:
            parent, parent_rest = mats[:, p], tgt.rest[p]
        lead = follow.get(name)
        if lead in tgt.index and p >= 0:
            f = tgt.index[lead]
            parent = _times(mats[:, f], _rigid_inv(tgt.rest[f]) @ parent_rest)
        base = _times(parent, _rigid_inv(parent_rest) @ tgt.rest[i])  # pose with a rest (identity) basis
        mats[:, i] = base
        if name in deltas:
            rest_rot = tgt.rest[i][:3, :3] / np.linalg.norm(tgt.rest[i][:3, :3], axis=0)
            want = inv_obj @ deltas[name] @ tgt.rot @ rest_rot  # desired armature-space orientation
            basis = np.swapaxes(base[:, :3, :3], -1, -2) @ want
            quats[name] = animate.matrix_to_quat(basis)
            mats[:, i, :3, :3] = base[:, :3, :3] @ basis
    return quats, mats


# ---------------------------------------------------------------------------------------------- public
def retarget(context, source_armature, target_armature, preset=None, *, frame_range=None, name=None):
    """Bake `source_armature`'s motion onto `target_armature` and return the Action (assigned to the target).

    Args:
        context: bpy.context (the scene's frame range is the default).
        source_armature: an SMPL-X armature made by importer.import_clip (key-framed).
        target_armature: the character's armature object.
        preset: built-in preset name, path of a preset .json, or a preset dict; None = detect_preset(target).
        frame_range: (first, last) frames, inclusive; None = the source action's frame range.
        name: the Action's name (default "<target>-retarget").

    Raises:
        ValueError: not armatures, no preset matches, the source is not SMPL-X, a bad frame range.
        FileNotFoundError: a preset file is missing.
    """
    for label, obj in (("source", source_armature), ("target", target_armature)):
        if obj is None or getattr(obj, "type", None) != "ARMATURE":
            raise ValueError(f"{label} {getattr(obj, 'name', obj)!r} is not an armature object")
    if source_armature == target_armature:
        raise ValueError("source and target are the same armature")
    mapping = plan_mapping(source_armature, target_armature, preset)
    frames = _frames(context, source_armature, frame_range)
    solution = solve(source_armature, target_armature, mapping, frames)
    action = write(target_armature, solution, mapping, name or f"{target_armature.name}-retarget")
    log.info("retargeted %d frames onto %s (%s): translation scale %.3f, floor at %.3f m", len(frames),
             target_armature.name, mapping.preset["name"], solution.scale, solution.floor)
    if mapping.missing:
        log.info("target %s lacks preset bones %s", target_armature.name, mapping.missing)
    if mapping.unmatched:
        log.info("target %s: %d deform bones not driven: %s", target_armature.name, len(mapping.unmatched),
                 mapping.unmatched)
    return action


def _frames(context, source, frame_range) -> np.ndarray:
    if frame_range is None:
        anim = source.animation_data
        if anim is not None and anim.action is not None:
            first, last = (int(round(v)) for v in anim.action.frame_range)
        else:
            first, last = context.scene.frame_start, context.scene.frame_end
    else:
        first, last = (int(v) for v in frame_range)
    if last < first:
        raise ValueError(f"frame range ({first}, {last}): last frame before first")
    return np.arange(first, last + 1, dtype=np.float64)


def write(target, solution: Solution, mapping: Mapping, name: str):
    """Set the Rigify-style switches of the preset, make the driven bones quaternion-rotated and key them in bulk."""
    for bone, props in mapping.preset.get("properties", {}).items():
        pb = target.pose.bones.get(bone)
        for prop, value in props.items():
            if pb is not None and prop in pb.keys():
                pb[prop] = value
    for bone in solution.quats:
        target.pose.bones[bone].rotation_mode = "QUATERNION"
    return animate.write_pose_action(target, solution.frames, solution.quats, solution.locations, name)


def pose_frame(context, source, target, preset=None, frame=None) -> None:
    """Preview: pose `target` like `source` at one frame (default: the current one) without keying anything."""
    mapping = plan_mapping(source, target, preset)
    frame = context.scene.frame_current if frame is None else int(frame)
    solution = solve(source, target, mapping, [frame])
    for bone, q in solution.quats.items():
        pb = target.pose.bones[bone]
        pb.rotation_mode = "QUATERNION"
        pb.rotation_quaternion = q[0].tolist()
    for bone, loc in solution.locations.items():
        target.pose.bones[bone].location = loc[0].tolist()


def load_character(context, path: str):
    """Bring a character into the scene and return its armature (the one with the most bones).

    `path` is a .fbx, .glb/.gltf, .vrm, .bvh or .blend file, or "rigify-metarig" (Rigify's human metarig,
    licence-free). A .vrm's humanoid table is kept on the armature and used instead of name detection.

    Raises:
        FileNotFoundError: the file is missing. ValueError: unsupported type or no armature in it.
    """
    import bpy

    before = set(bpy.data.objects)
    if path == "rigify-metarig":
        import addon_utils

        addon_utils.enable("rigify", default_set=True)
        if context.mode != "OBJECT" and context.view_layer.objects.active is not None:
            bpy.ops.object.mode_set(mode="OBJECT")
        bpy.ops.object.armature_human_metarig_add()
    else:
        suffix = Path(path).suffix.lower()
        if suffix not in CHARACTER_SUFFIXES:
            raise ValueError(f"character {path}: unsupported file type {suffix!r}; expected one of "
                             f"{CHARACTER_SUFFIXES} or {BUILTIN_CHARACTERS}")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"character file {path} not found")
        if suffix == ".fbx":
            bpy.ops.import_scene.fbx(filepath=path, anim_offset=0)
        elif suffix in (".glb", ".gltf", ".vrm"):
            bpy.ops.import_scene.gltf(filepath=path)  # a .vrm is a binary glTF with a humanoid table
        elif suffix == ".bvh":
            bpy.ops.import_anim.bvh(filepath=path, axis_forward="-Z", axis_up="Y")
        else:
            with bpy.data.libraries.load(path) as (src, dst):
                dst.objects = list(src.objects)
            for obj in dst.objects:
                if obj is not None:
                    context.scene.collection.objects.link(obj)
    new = [o for o in bpy.data.objects if o not in before and o.type == "ARMATURE"]
    if not new:
        raise ValueError(f"character {path}: no armature found in it")
    arm = max(new, key=lambda o: len(o.data.bones))
    if path.lower().endswith(".vrm"):
        table = vrm_preset(path)
        if table is not None:
            arm[EMBEDDED_PRESET] = json.dumps(table)
    if arm.animation_data is not None:
        arm.animation_data.action = None  # the file's own animation must not mix with the retargeted one
    return arm


def retarget_to_character(context, source_armature, character: str, preset=None):
    """Load `character` (see load_character), retarget `source_armature` onto it; returns the character armature
    (the plain function behind `batch.py --retarget-to`)."""
    target = load_character(context, character)
    retarget(context, source_armature, target, preset)
    return target


def retarget_clip(context, clip_or_path, model_dir, target_armature, preset=None, **import_options):
    """Retarget a MotionClip (object or .npz path) straight onto `target_armature`: its first imported person's
    SMPL-X rig (importer.import_clip with `import_options`) drives the target; returns (Action, SMPL-X armature)."""
    from . import importer

    import_options.setdefault("create_camera", False)
    armatures = importer.import_clip(context, clip_or_path, model_dir, **import_options)
    return retarget(context, armatures[0], target_armature, preset), armatures[0]
