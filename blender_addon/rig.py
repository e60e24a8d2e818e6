"""SMPL-X armature, skinned mesh and shape keys, built from a model file (`smplx/SMPLX_<GENDER>.npz`) and one betas.

Reproduces `smplx.SMPLX.forward` (vchoutas/smplx `lbs.py`) inside Blender, with the bone convention of the MPI
"SMPL-X for Blender" add-on: every bone points along armature +Z with roll 0, so a bone's local axes *are* SMPL-X's
model axes and a joint's axis-angle becomes its pose-bone quaternion unchanged.

Shape keys: `Shape000..` = betas (constant values), `Exp000..` = expression (animated), and optionally
`Pose000..Pose485` = pose correctives (value = (R_j − I) row-major for joints 1..54, as `smplx.lbs` builds
`pose_feature`). The rest joints come from the betas only: J = J_regressor · (v_template + shapedirs[..., :10] · betas);
the expression's small effect on the joints is added per frame by animate.py (bone locations), so the deformed mesh
stays exact.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from . import core_module

log = logging.getLogger(__name__)

NUM_BETAS = 10  # betas in a MotionClip track (SMPLer-X predicts 10)
NUM_EXPRESSION = 10  # expression coefficients in a MotionClip track
SHAPE_KEY_RANGE = 10.0  # Blender clamps key values to [slider_min, slider_max]; ±10 is its widest allowed range

_AXES = {
    # rows: where each axis of the frame points in Blender's world (Z up)
    "smplx": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),  # Y-up model → Z-up: Rx(+90°)
    "opencv": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),  # x right, y down, z fwd: Rx(−90°)
}


def blender_from(frame: str) -> np.ndarray:
    """The one coordinate conversion of the add-on: rotation (3,3) taking vectors of `frame` to Blender world.

    "smplx": SMPL-X's model frame (Y up, facing +Z) → Blender (Z up): (x, y, z) → (x, −z, y).
    "opencv": the video camera (x right, y down, z forward) → Blender world with the Blender camera at the origin
    looking along +Y: (x, y, z) → (x, z, −y). Everything else (rig rest pose, root motion, camera object) uses this.
    """
    try:
        return _AXES[frame].copy()
    except KeyError:
        raise ValueError(f"unknown frame {frame!r}; expected one of {sorted(_AXES)}") from None


@dataclass(frozen=True)
class BodyModel:
    """The arrays of one SMPL-X model file that the rig and its animation need (model frame, metres).

    Attributes:
        gender: "neutral", "male" or "female".
        joint_names: the 55 SMPL-X joint names (smplx order).
        parents: (55,) int, parent joint index, −1 for the pelvis.
        v_template: (V,3) rest vertices.
        faces: (F,3) int triangles.
        weights: (V,55) skinning weights.
        j_regressor: (55,V) joint regressor.
        shape_dirs: (V,3,10) beta blend shapes.
        expr_dirs: (V,3,10) expression blend shapes.
        pose_dirs: (V,3,486) pose-corrective blend shapes.
        hands_mean: (2,15,3) axis-angle relaxed-hand mean, left then right.
    """

    gender: str
    joint_names: tuple
    parents: np.ndarray
    v_template: np.ndarray
    faces: np.ndarray
    weights: np.ndarray
    j_regressor: np.ndarray
    shape_dirs: np.ndarray
    expr_dirs: np.ndarray
    pose_dirs: np.ndarray
    hands_mean: np.ndarray

    def rest_joints(self, betas: np.ndarray) -> np.ndarray:
        """Rest joints (55,3), model frame, for betas (10,): J_regressor · (v_template + shapedirs · betas)."""
        return self.j_regressor @ (self.v_template + self.shape_dirs @ np.asarray(betas, np.float64))

    def expression_joint_dirs(self) -> np.ndarray:
        """(55,3,10): how the joints move per expression coefficient (smplx regresses J after expression)."""
        n_v, _, k = self.expr_dirs.shape
        return (self.j_regressor @ self.expr_dirs.reshape(n_v, 3 * k)).reshape(-1, 3, k)


def load_body_model(model_dir, gender: str = "neutral") -> BodyModel:
    """Read `<model_dir>/smplx/SMPLX_<GENDER>.npz` (numpy only) into a BodyModel.

    Raises:
        FileNotFoundError: the model file is missing (the message names the path and where to get it).
        ValueError: the file lacks a key or has an unexpected shape.
    """
    arrays = core_module("body").read_model_arrays(model_dir, gender=gender)
    return body_model_from_arrays(arrays, gender)


def body_model_from_arrays(arrays: dict, gender: str) -> BodyModel:
    """Check and slice the official SMPL-X v1.1 arrays (smplx's layout) into a BodyModel.

    Expression components start at 300 in v1.1 files (400 components) and at 10 in the older 20-component files,
    exactly as `smplx.SMPLX.__init__` chooses them.
    """
    need = ("v_template", "f", "weights", "J_regressor", "shapedirs", "posedirs", "kintree_table",
            "hands_meanl", "hands_meanr")
    missing = [k for k in need if k not in arrays]
    if missing:
        raise ValueError(f"SMPL-X {gender} model arrays lack {missing}; is this an SMPL-X .npz (v1.1 layout)?")
    v = np.asarray(arrays["v_template"], np.float64)
    n_v = v.shape[0]
    shapedirs = np.asarray(arrays["shapedirs"], np.float64)
    posedirs = np.asarray(arrays["posedirs"], np.float64)
    checks = {
        "v_template": (v.shape, (n_v, 3)),
        "weights": (np.shape(arrays["weights"]), (n_v, 55)),
        "J_regressor": (np.shape(arrays["J_regressor"]), (55, n_v)),
        "posedirs": (posedirs.shape, (n_v, 3, 486)),
        "kintree_table": (np.shape(arrays["kintree_table"]), (2, 55)),
        "hands_meanl": (np.shape(arrays["hands_meanl"]), (45,)),
        "hands_meanr": (np.shape(arrays["hands_meanr"]), (45,)),
    }
    for key, (got, want) in checks.items():
        if tuple(got) != want:
            raise ValueError(f"SMPL-X {gender} model: {key} has shape {tuple(got)}, expected {want}")
    if shapedirs.ndim != 3 or shapedirs.shape[:2] != (n_v, 3) or shapedirs.shape[2] < 20:
        raise ValueError(f"SMPL-X {gender} model: shapedirs has shape {shapedirs.shape}, expected ({n_v}, 3, ≥20)")
    expr_start = 300 if shapedirs.shape[2] >= 300 + NUM_EXPRESSION else NUM_BETAS
    parents = np.asarray(arrays["kintree_table"])[0].astype(np.int64)
    parents[0] = -1  # stored as −1 or 2**32 − 1 depending on the file's dtype
    return BodyModel(
        gender=gender,
        joint_names=tuple(core_module("body.joint_names").JOINT_NAMES[:55]),
        parents=parents,
        v_template=v,
        faces=np.asarray(arrays["f"], np.int64),
        weights=np.asarray(arrays["weights"], np.float64),
        j_regressor=np.asarray(arrays["J_regressor"], np.float64),
        shape_dirs=shapedirs[:, :, :NUM_BETAS],
        expr_dirs=shapedirs[:, :, expr_start:expr_start + NUM_EXPRESSION],
        pose_dirs=posedirs,
        hands_mean=np.stack([np.reshape(arrays["hands_meanl"], (15, 3)),
                             np.reshape(arrays["hands_meanr"], (15, 3))]).astype(np.float64),
    )


@dataclass
class Rig:
    """One built SMPL-X character: the armature, its skinned mesh and the rest joints it was built from.

    Attributes:
        armature: the armature object (55 bones named like the SMPL-X joints).
        mesh: the skinned mesh object (child of the armature, Armature modifier).
        model: the body model it was built from.
        betas: (10,) the betas baked into the rest joints and set on the Shape keys.
        rest_joints: (55,3) rest joints in the model frame (metres).
    """

    armature: object
    mesh: object
    model: BodyModel
    betas: np.ndarray
    rest_joints: np.ndarray


def build_rig(context, collection, model: BodyModel, betas: np.ndarray, name: str,
              pose_correctives: bool = False) -> Rig:
    """Create the armature + skinned mesh for `betas` (10,) in `collection` and return them.

    The armature's rest pose is the T-pose of these betas, upright in Blender (Z up) at the origin; animate.py adds
    the motion. With `pose_correctives` the 486 Pose### shape keys are added (animate.py keys them per frame).
    """
    import bpy

    betas = np.asarray(betas, np.float64)
    joints = model.rest_joints(betas)
    arm_data = bpy.data.armatures.new(name)
    arm = bpy.data.objects.new(name, arm_data)
    collection.objects.link(arm)
    _build_bones(context, arm, model, joints)

    mesh_data = bpy.data.meshes.new(f"{name}-mesh")
    to_world = blender_from("smplx")
    mesh_data.from_pydata((model.v_template @ to_world.T).tolist(), [], model.faces.tolist())
    _shade_smooth(mesh_data)
    mesh_data.update()
    mesh = bpy.data.objects.new(f"{name}-mesh", mesh_data)
    collection.objects.link(mesh)
    mesh.parent = arm
    _add_vertex_groups(mesh, model)
    modifier = mesh.modifiers.new("Armature", "ARMATURE")
    modifier.object = arm
    modifier.use_vertex_groups = True
    modifier.use_deform_preserve_volume = False  # plain LBS, as smplx
    _add_shape_keys(mesh, model, betas, pose_correctives)
    return Rig(armature=arm, mesh=mesh, model=model, betas=betas, rest_joints=joints)


def _shade_smooth(mesh_data) -> None:
    """Smooth shading: a body is not faceted, and exporters (glTF) split every vertex of a flat face apart, so a flat
    mesh exports with ~58k instead of 10,475 vertices."""
    values = np.ones(len(mesh_data.polygons), dtype=bool)
    mesh_data.polygons.foreach_set("use_smooth", values)


def _bone_lengths(joints: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """(55,) display lengths: half the mean distance to the children (leaves: half the distance to the parent)."""
    lengths = np.zeros(len(parents))
    for j in range(len(parents)):
        children = np.flatnonzero(parents == j)
        if len(children):
            lengths[j] = 0.5 * np.linalg.norm(joints[children] - joints[j], axis=1).mean()
        else:
            lengths[j] = 0.5 * np.linalg.norm(joints[j] - joints[parents[j]])
    return np.clip(lengths, 0.01, 0.15)


def _build_bones(context, arm, model: BodyModel, joints: np.ndarray) -> None:
    """Edit bones at the rest joints, all along +Z with roll 0 (local axes = SMPL-X model axes)."""
    import bpy

    heads = joints @ blender_from("smplx").T
    lengths = _bone_lengths(joints, model.parents)
    view_layer = context.view_layer
    previous = view_layer.objects.active
    view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        bones = []
        for j, name in enumerate(model.joint_names):
            bone = arm.data.edit_bones.new(name)
            bone.head = heads[j].tolist()
            bone.tail = (heads[j] + (0.0, 0.0, lengths[j])).tolist()
            bone.roll = 0.0
            bones.append(bone)
        for j, parent in enumerate(model.parents):
            if parent >= 0:
                bones[j].parent = bones[parent]
                bones[j].use_connect = False
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = previous
    for pose_bone in arm.pose.bones:
        pose_bone.rotation_mode = "QUATERNION"


def _add_vertex_groups(mesh, model: BodyModel) -> None:
    """One vertex group per joint from the skinning weights (only non-zero weights)."""
    for j, name in enumerate(model.joint_names):
        group = mesh.vertex_groups.new(name=name)
        column = model.weights[:, j]
        for i in np.flatnonzero(column > 0.0).tolist():
            group.add([i], float(column[i]), "REPLACE")


def _add_shape_keys(mesh, model: BodyModel, betas: np.ndarray, pose_correctives: bool) -> None:
    """Basis + Shape### (value = beta) + Exp### + optional Pose### keys, all in Blender axes, slider ±10."""
    to_world = blender_from("smplx").T
    base = model.v_template
    mesh.shape_key_add(name="Basis", from_mix=False)
    groups = [("Shape", model.shape_dirs, betas), ("Exp", model.expr_dirs, None)]
    if pose_correctives:
        groups.append(("Pose", model.pose_dirs, None))
    for prefix, dirs, values in groups:
        for k in range(dirs.shape[2]):
            key = mesh.shape_key_add(name=f"{prefix}{k:03d}", from_mix=False)
            key.data.foreach_set("co", ((base + dirs[:, :, k]) @ to_world).astype(np.float32).ravel())
            key.slider_min, key.slider_max = -SHAPE_KEY_RANGE, SHAPE_KEY_RANGE
            if values is not None:
                key.value = float(np.clip(values[k], -SHAPE_KEY_RANGE, SHAPE_KEY_RANGE))
    if np.any(np.abs(betas) > SHAPE_KEY_RANGE):
        log.warning("betas %s exceed Blender's shape-key range ±%g and were clipped", betas, SHAPE_KEY_RANGE)
