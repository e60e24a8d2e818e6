"""Numpy kinematics of armatures: rotation helpers, reading a key-framed pose (F-curves + forward kinematics) and
the world-space rest data of a rig (rest floor, leg length, foot contact points)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .. import animate
from .mapping import topological
from .presets import SIDES

_LINEAR = 1  # Keyframe.interpolation enum index of LINEAR


def normalize(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(...,3,3) smallest rotations taking unit directions a (...,3) onto b (...,3) (Rodrigues; 180° about any
    perpendicular axis when they are opposite)."""
    a, b = np.broadcast_arrays(normalize(np.asarray(a, np.float64)), normalize(np.asarray(b, np.float64)))
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1)
    c = np.sum(a * b, axis=-1)
    # opposite directions: any axis perpendicular to a
    helper = np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    perp = normalize(np.cross(a, helper))
    axis = np.where((s < 1e-9)[..., None], perp * (c < 0)[..., None], axis / np.maximum(s, 1e-12)[..., None])
    angle = np.arctan2(s, c)
    k = np.zeros(axis.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    k[..., 1, 0], k[..., 2, 0], k[..., 2, 1] = axis[..., 2], -axis[..., 1], axis[..., 0]
    sa, ca = np.sin(angle)[..., None, None], np.cos(angle)[..., None, None]
    return np.eye(3) + sa * k + (1.0 - ca) * (k @ k)


def rigid_inv(m: np.ndarray) -> np.ndarray:
    """Inverse of a rigid 4×4 transform (rotation + translation) without a general solve."""
    out = np.eye(4)
    out[:3, :3] = m[:3, :3].T
    out[:3, 3] = -m[:3, :3].T @ m[:3, 3]
    return out


def times(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """a (N,k,k) @ c (k,k) as one matrix product (much faster than numpy's batched small matmul)."""
    k = c.shape[0]
    return (np.ascontiguousarray(a).reshape(-1, k) @ c).reshape(a.shape)


def frame(aim: np.ndarray, side: np.ndarray) -> np.ndarray:
    """(3,3) orthonormal frame with columns aim, side ⟂ aim, aim × side."""
    x = normalize(aim)
    y = normalize(side - np.dot(side, x) * x)
    return np.stack([x, y, np.cross(x, y)], axis=1)


def euler_to_matrix(e: np.ndarray, order: str) -> np.ndarray:
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
    bones = topological(armature)
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
            rot = animate.quat_to_matrix(normalize(channel("rotation_quaternion", 4, pb.rotation_quaternion)))
        elif mode == "AXIS_ANGLE":
            aa = channel("rotation_axis_angle", 4, pb.rotation_axis_angle)
            rot = animate.quat_to_matrix(animate.axis_angle_to_quat(normalize(aa[:, 1:]) * aa[:, :1]))
        else:
            rot = euler_to_matrix(channel("rotation_euler", 3, pb.rotation_euler), mode)
        scale = channel("scale", 3, pb.scale)
        basis[:, :3, :3] = rot * scale[:, None, :]
        if not bone.use_connect:
            basis[:, :3, 3] = channel("location", 3, pb.location)
        if bone.parent is None:
            out[:, i] = rest[i] @ basis
        else:
            p = index[bone.parent.name]
            out[:, i] = times(out[:, p], rigid_inv(rest[p]) @ rest[i]) @ basis
    return names, out


# ---------------------------------------------------------------------------------------------- geometry
@dataclass
class Rig:
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
    def of(cls, armature) -> "Rig":
        bones = topological(armature)
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


def rest_floor(armature, rig: Rig) -> float:
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


def leg_length(rig: Rig, bones: dict) -> float | None:
    """Mean hip→knee→ankle length of the two legs (world, rest), None when a leg bone is missing."""
    lengths = []
    for s in SIDES:
        names = [bones.get(f"{s}_{j}") for j in ("hip", "knee", "ankle")]
        if None in names:
            return None
        p = [rig.rest_head(n) for n in names]
        lengths.append(np.linalg.norm(p[1] - p[0]) + np.linalg.norm(p[2] - p[1]))
    return float(np.mean(lengths))


def contact_points(bones: dict) -> list:
    """(bone, use_tail) of the points that touch the floor: ankles and toe bases (a foot's tail without toes)."""
    points = []
    for s in SIDES:
        if f"{s}_ankle" in bones:
            points.append((bones[f"{s}_ankle"], False))
            points.append((bones[f"{s}_foot"], False) if f"{s}_foot" in bones else (bones[f"{s}_ankle"], True))
    return points


def point_heights(armature, rig: Rig, names: list, mats: np.ndarray, points: list) -> np.ndarray:
    """(N,P) world heights of contact points given armature-space pose matrices (N,B,4,4) in `names` order."""
    index = {n: i for i, n in enumerate(names)}
    cols = []
    for bone, tail in points:
        m = mats[:, index[bone]]
        local = np.array([0.0, armature.data.bones[bone].length if tail else 0.0, 0.0, 1.0])
        cols.append((m @ local) @ rig.world[2])
    return np.stack(cols, axis=1)


def rest_heights(rig: Rig, points: list) -> np.ndarray:
    """(P,) world rest heights of contact points."""
    return np.array([(rig.rest_tail(b) if tail else rig.rest_head(b))[2] for b, tail in points])
