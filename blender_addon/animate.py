"""MotionClip track → one armature Action (+ one shape-key Action) through the bulk F-curve API.

The numbers are computed in numpy first (`track_curves`, no bpy), then written with `keyframe_points.add` +
`foreach_set` (O(n); `keyframe_insert` per frame is O(n²), see reference/blender_notes.md §4.2). Layered actions
(slots / layers / strips / channelbags) on Blender 4.4+, `Action.fcurves` on 4.2–4.3.

Root semantics are smplx's (camera frame, OpenCV): vertex = R₀(v − J₀) + J₀ + transl. With rig.py's bone
convention (bone axes = SMPL-X axes), smplx's per-joint transform G_j·T(−J_j) is reproduced exactly when
  pelvis:   rotation F·R₀, location F(transl + J₀) − J₀ʳ − F·R₀·ΔJ₀
  joint j:  rotation R_j,  location (I − R_j)·ΔJ_j
where F turns the camera frame into the rig's upright model frame, Jʳ are the rig's rest joints (betas only) and
ΔJ = J_regressor · expr_dirs · expression is the expression's shift of the joints (zero for most bones).
The mesh is then exact; a posed bone head sits at smplx's joint minus R_global·ΔJ (equal when ΔJ = 0, i.e. for
every bone the expression does not move, and for all bones on frames with zero expression).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rig import BodyModel, blender_from

_LINEAR = 1  # Keyframe.interpolation enum index: 0 CONSTANT, 1 LINEAR, 2 BEZIER


def axis_angle_to_quat(aa: np.ndarray) -> np.ndarray:
    """Axis-angle (...,3), radians → unit quaternions (...,4) as (w, x, y, z)."""
    aa = np.asarray(aa, np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(θ/2)/θ, with its Taylor series near 0 so tiny rotations stay exact
    scale = np.where(angle > 1e-8, np.sin(half) / np.maximum(angle, 1e-12), 0.5 - angle**2 / 48.0)
    return np.concatenate([np.cos(half), aa * scale], axis=-1)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (...,4) (w, x, y, z) → rotation matrices (...,3,3)."""
    w, x, y, z = np.moveaxis(np.asarray(q, np.float64), -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """Rotation matrix (3,3) → unit quaternion (4,) (w, x, y, z), via the largest diagonal term (Shepperd)."""
    m = np.asarray(m, np.float64)
    trace = np.trace(m)
    i = int(np.argmax([trace, m[0, 0], m[1, 1], m[2, 2]]))
    if i == 0:
        s = 2.0 * np.sqrt(1.0 + trace)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    else:
        a, b, c = [(0, 1, 2), (1, 2, 0), (2, 0, 1)][i - 1]
        s = 2.0 * np.sqrt(1.0 + m[a, a] - m[b, b] - m[c, c])
        q = np.zeros(4)
        q[0] = (m[c, b] - m[b, c]) / s
        q[1 + a] = 0.25 * s
        q[1 + b] = (m[a, b] + m[b, a]) / s
        q[1 + c] = (m[a, c] + m[c, a]) / s
    q = np.asarray(q)
    return q / np.linalg.norm(q)


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a ⊗ b of quaternions (...,4) (w, x, y, z): the rotation b, then a."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, np.float64), -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], -1)


def continuous_quats(q: np.ndarray) -> np.ndarray:
    """Flip signs along time (axis 0) of (N,...,4) so consecutive quaternions lie in the same hemisphere.

    q and −q are the same rotation, but interpolating between antipodal keys spins the bone the long way round.
    """
    q = np.array(q, np.float64)
    if len(q) < 2:
        return q
    dots = np.sum(q[1:] * q[:-1], axis=-1)
    flips = np.cumprod(np.where(dots < 0.0, -1.0, 1.0), axis=0)
    q[1:] *= flips[..., None]
    return q


@dataclass
class TrackCurves:
    """Per-frame channel values of one track, ready to write as F-curves (N keys each).

    Attributes:
        frames: (N,) Blender frame numbers (= video frame indices).
        quats: (N,55,4) pose-bone rotation_quaternion (w, x, y, z), sign-continuous.
        locations: {joint index: (N,3)} pose-bone location (bone-local, metres) for the pelvis and every bone the
            expression moves.
        expression: (N,10) Exp### shape-key values.
        correctives: (N,486) Pose### shape-key values, or None when the rig has no pose correctives.
    """

    frames: np.ndarray
    quats: np.ndarray
    locations: dict
    expression: np.ndarray
    correctives: np.ndarray | None


def full_pose(track, model: BodyModel, hands_include_mean: bool) -> np.ndarray:
    """(N,55,3) axis-angle of all joints in smplx order, hands as absolute rotations (mean added when needed)."""
    n = len(track.frames)
    hands = np.concatenate([np.reshape(track.left_hand_pose, (n, 15, 3)),
                            np.reshape(track.right_hand_pose, (n, 15, 3))], axis=1).astype(np.float64)
    if not hands_include_mean:
        hands = hands + model.hands_mean.reshape(1, 30, 3)
    return np.concatenate([
        np.reshape(track.global_orient, (n, 1, 3)),
        np.reshape(track.body_pose, (n, 21, 3)),
        np.reshape(track.jaw_pose, (n, 1, 3)),
        np.zeros((n, 2, 3)),  # eyes: not predicted by SMPLer-X
        hands,
    ], axis=1).astype(np.float64)


def track_curves(track, model: BodyModel, rest_joints: np.ndarray, hands_include_mean: bool,
                 pose_correctives: bool = False) -> TrackCurves:
    """Compute every channel of one track (numpy only; see the module docstring for the formulas).

    Args:
        track: a MotionTrack (frames (N,), global_orient (N,3) and transl (N,3) in the OpenCV camera, body_pose
            (N,21,3), hand poses (N,15,3), jaw_pose (N,3), expression (N,10)).
        model: the body model the rig was built from.
        rest_joints: (55,3) the rig's rest joints, model frame.
        hands_include_mean: whether the track's hand poses already contain the model's hands mean.
        pose_correctives: also compute the 486 Pose### values.
    """
    n = len(track.frames)
    pose = full_pose(track, model, hands_include_mean)
    quats = axis_angle_to_quat(pose)
    rots = quat_to_matrix(quats)
    camera_to_model = blender_from("smplx").T @ blender_from("opencv")
    quats[:, 0] = quat_multiply(matrix_to_quat(camera_to_model), quats[:, 0])
    root_rot = camera_to_model @ rots[:, 0]

    expression = np.asarray(track.expression, np.float64).reshape(n, -1)
    shift = np.einsum("jck,nk->njc", model.expression_joint_dirs(), expression)  # ΔJ (N,55,3)
    loc = shift - np.einsum("njab,njb->nja", rots, shift)
    transl = np.asarray(track.transl, np.float64).reshape(n, 3)
    loc[:, 0] = ((transl + rest_joints[0] + shift[:, 0]) @ camera_to_model.T - rest_joints[0]
                 - np.einsum("nab,nb->na", root_rot, shift[:, 0]))
    moving = [0] + [j for j in range(1, 55) if np.any(shift[:, j] != 0.0)]

    correctives = None
    if pose_correctives:
        correctives = (rots[:, 1:] - np.eye(3)).reshape(n, 54 * 9)
    return TrackCurves(
        frames=np.asarray(track.frames, np.float64),
        quats=continuous_quats(quats),
        locations={j: loc[:, j] for j in moving},
        expression=expression,
        correctives=correctives,
    )


def write_armature_action(armature, curves: TrackCurves, joint_names, name: str):
    """Create one Action animating `armature`'s pose bones from `curves`; returns it (assigned to the armature).

    `joint_names` (55,) gives the bone of each joint index of `curves` (smplx order; `armature.pose.bones` is in
    hierarchy order instead).
    """
    action, bag = _new_action(armature, name, "OBJECT")
    for j, bone in enumerate(joint_names):
        path = f'pose.bones["{bone}"]'
        for i in range(4):
            _write_fcurve(bag, f"{path}.rotation_quaternion", i, bone, curves.frames, curves.quats[:, j, i])
        if j in curves.locations:
            for i in range(3):
                _write_fcurve(bag, f"{path}.location", i, bone, curves.frames, curves.locations[j][:, i])
    return action


def write_shape_key_action(mesh, curves: TrackCurves, name: str):
    """Create one Action on the mesh's shape keys (Exp### and, if present, Pose###); returns it."""
    key = mesh.data.shape_keys
    action, bag = _new_action(key, name, "KEY")
    channels = [("Exp", curves.expression)]
    if curves.correctives is not None:
        channels.append(("Pose", curves.correctives))
    for prefix, values in channels:
        for k in range(values.shape[1]):
            path = f'key_blocks["{prefix}{k:03d}"].value'
            _write_fcurve(bag, path, 0, prefix, curves.frames, values[:, k])
    return action


def action_fcurves(action) -> list:
    """All F-curves of an action (layered actions on Blender 4.4+, `Action.fcurves` before)."""
    if hasattr(action, "layers"):
        return [fc for layer in action.layers for strip in layer.strips for bag in strip.channelbags
                for fc in bag.fcurves]
    return list(action.fcurves)


def shift_keys(actions, delta: float) -> None:
    """Move every key (and its handles) of `actions` by `delta` frames, in bulk."""
    for action in actions:
        for fcurve in action_fcurves(action):
            points = fcurve.keyframe_points
            for attr in ("co", "handle_left", "handle_right"):
                values = np.empty(2 * len(points), np.float32)
                points.foreach_get(attr, values)
                values[0::2] += delta
                points.foreach_set(attr, values)
            fcurve.update()


def _new_action(owner, name: str, id_type: str):
    """A new Action assigned to `owner` and the container its F-curves go into (channelbag on 4.4+)."""
    import bpy

    action = bpy.data.actions.new(name)
    owner.animation_data_create()
    if bpy.app.version < (4, 4):
        owner.animation_data.action = action
        return action, action
    slot = action.slots.new(id_type=id_type, name=owner.name)
    bag = action.layers.new("Layer").strips.new(type="KEYFRAME").channelbag(slot, ensure=True)
    owner.animation_data.action = action
    owner.animation_data.action_slot = slot
    return action, bag


def _write_fcurve(bag, path: str, index: int, group: str, frames: np.ndarray, values: np.ndarray) -> None:
    """One F-curve with len(frames) LINEAR keys, written in bulk."""
    fcurve = _new_fcurve(bag, path, index, group)
    n = len(frames)
    points = fcurve.keyframe_points
    points.add(n)
    co = np.empty(2 * n, np.float32)
    co[0::2] = frames
    co[1::2] = values
    points.foreach_set("co", co)
    points.foreach_set("interpolation", np.full(n, _LINEAR, np.int32))
    fcurve.update()


def _new_fcurve(bag, path: str, index: int, group: str):
    """F-curve in a channelbag (4.4+) or an action (4.2/4.3), placed in the group named `group`."""
    import bpy

    if bpy.app.version < (4, 4):
        return bag.fcurves.new(path, index=index, action_group=group)
    if bpy.app.version >= (5, 0):
        return bag.fcurves.new(path, index=index, group_name=group)
    fcurve = bag.fcurves.new(path, index=index)
    fcurve.group = bag.groups.get(group) or bag.groups.new(group)
    return fcurve
