"""FK parity of the Blender rig with smplx's forward (the depsgraph-evaluated mesh is the oracle, blender_notes §4.4).

Random poses, betas and expressions on the mannequin; the rig's mesh must equal `smplx.SMPLX.forward` (with
`transl`, OpenCV camera → Blender world) to 1e-4 m, with pose correctives on, and equal smplx with zeroed posedirs
when they are off. Also the numpy rotation helpers against scipy and the camera against OpenCV's projection.
"""

from __future__ import annotations

import numpy as np
import pytest

import blender_helpers  # noqa: F401  (sets BLENDER_USER_RESOURCES before anything imports bpy)

pytestmark = pytest.mark.blender

TOL = 1e-4  # metres


@pytest.fixture()
def bpy():
    from blender_helpers import reset_blender

    return reset_blender()


@pytest.mark.parametrize("model,pose_correctives,gender", [
    ("mannequin", True, "neutral"), ("mannequin", False, "neutral"), ("mannequin", False, "female"),
    ("parity", True, "neutral"),  # its expressions move the head/jaw/eye joints: exercises animate's ΔJ locations
])
def test_mesh_and_joints_match_smplx(bpy, request, model, pose_correctives, gender):
    from blender_helpers import (bone_heads, deform_matrices, evaluated_vertices, make_clip, random_track,
                                 smplx_forward)

    from blender_addon import importer
    from core.body.joint_names import JOINT_NAMES

    mannequin_dir = request.getfixturevalue("mannequin_dir" if model == "mannequin" else "parity_model_dir")
    track = random_track(0, np.arange(4) + 2, seed=1, gender=gender)
    clip = make_clip([track], num_frames=8)
    (arm,) = importer.import_clip(bpy.context, clip, mannequin_dir, pose_correctives=pose_correctives,
                                  create_camera=False)
    (mesh,) = [child for child in arm.children if child.type == "MESH"]
    verts_ref, joints_ref = smplx_forward(mannequin_dir, track, pose_correctives=pose_correctives, gender=gender)
    other, _ = smplx_forward(mannequin_dir, track, pose_correctives=not pose_correctives, gender=gender)
    assert np.abs(other - verts_ref).max() > 20 * TOL  # the correctives matter: the two cases are distinguishable
    names = JOINT_NAMES[:55]
    located = {fc.data_path for fc in _fcurves(arm.animation_data.action) if fc.data_path.endswith(".location")}
    if model == "parity":
        assert len(located) > 1, located  # bones other than the pelvis carry the expression's joint shift

    # the shaped rest joints for each frame (betas + expression), to check the bones carry the right transform
    from core.body import read_model_arrays

    arrays = read_model_arrays(mannequin_dir, gender)
    dirs = np.concatenate([arrays["shapedirs"][:, :, :10], arrays["shapedirs"][:, :, 300:310]], axis=2)
    coeffs = np.concatenate([track.betas, track.expression], axis=1)
    shaped = np.einsum("jv,nvc->njc", arrays["J_regressor"], arrays["v_template"] + np.einsum("vck,nk->nvc", dirs, coeffs))
    shaped_world = shaped @ np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]).T  # rest pose is Y-up model → Z-up

    worst = {"verts": 0.0, "joints": 0.0}
    for i, frame in enumerate(track.frames):
        bpy.context.scene.frame_set(int(frame) + 1)  # the timeline starts at scene frame 1
        worst["verts"] = max(worst["verts"], np.abs(evaluated_vertices(mesh) - verts_ref[i]).max())
        deform = deform_matrices(arm, names)
        joints = np.einsum("jab,jb->ja", deform[:, :3, :3], shaped_world[i]) + deform[:, :3, 3]
        worst["joints"] = max(worst["joints"], np.abs(joints - joints_ref[i]).max())
        if i == 0:  # zero expression: the posed bone heads are the smplx joints
            assert np.abs(bone_heads(arm, names) - joints_ref[0]).max() < TOL
    print(f"FK parity ({model} {gender}, pose_correctives={pose_correctives}, {len(mesh.data.polygons)} faces): {worst}")
    assert worst["verts"] < TOL
    assert worst["joints"] < TOL


def _fcurves(action):
    """All F-curves of an action (layered actions on Blender 4.4+, `Action.fcurves` before)."""
    if hasattr(action, "layers"):
        return [fc for layer in action.layers for strip in layer.strips for bag in strip.channelbags
                for fc in bag.fcurves]
    return list(action.fcurves)


def test_mesh_lies_on_the_person_in_camera_view(bpy, mannequin_dir):
    """Seen through the imported camera, the evaluated mesh projects where OpenCV projects smplx's mesh."""
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    from blender_helpers import CV_TO_WORLD, evaluated_vertices, make_clip, random_track, smplx_forward

    from blender_addon import importer

    track = random_track(0, [0, 1], seed=4)
    clip = make_clip([track], num_frames=2)
    (arm,) = importer.import_clip(bpy.context, clip, mannequin_dir, create_camera=True)
    scene, cam = bpy.context.scene, bpy.context.scene.camera
    verts_world, _ = smplx_forward(mannequin_dir, track, pose_correctives=False)
    verts_cam = verts_world @ CV_TO_WORLD  # back to the OpenCV camera frame
    (w, h), (fx, fy), (cx, cy) = clip.image_size, clip.focal, clip.princpt
    worst = 0.0
    for i, frame in enumerate(track.frames):
        scene.frame_set(int(frame) + 1)  # the timeline starts at scene frame 1
        mesh_world = evaluated_vertices(arm.children[0])[::50]
        ref = verts_cam[i, ::50]
        u_ref, v_ref = fx * ref[:, 0] / ref[:, 2] + cx, fy * ref[:, 1] / ref[:, 2] + cy
        for p, u, v in zip(mesh_world, u_ref, v_ref):
            ndc = world_to_camera_view(scene, cam, Vector(p.tolist()))
            worst = max(worst, abs(ndc.x * w - 0.5 - u), abs((1.0 - ndc.y) * h - 0.5 - v))
    print(f"camera overlay: max {worst:.2e} px")
    assert worst < 1e-2


def test_hand_mean_flag(bpy, mannequin_dir):
    """A clip with absolute hand poses (hands_include_mean=True) must not get the mean twice."""
    from blender_helpers import evaluated_vertices, make_clip, random_track, smplx_forward

    from blender_addon import importer
    from core.body import read_model_arrays

    track = random_track(3, [0, 1], seed=5, expression=False)
    arrays = read_model_arrays(mannequin_dir)
    absolute = track.replace(left_hand_pose=track.left_hand_pose + arrays["hands_meanl"].reshape(15, 3),
                             right_hand_pose=track.right_hand_pose + arrays["hands_meanr"].reshape(15, 3))
    clip = make_clip([absolute], num_frames=2, hands_include_mean=True)
    (arm,) = importer.import_clip(bpy.context, clip, mannequin_dir, create_camera=False)
    mesh = arm.children[0]
    verts_ref, _ = smplx_forward(mannequin_dir, track, pose_correctives=False)  # relative poses + smplx's mean
    for i, frame in enumerate(track.frames):
        bpy.context.scene.frame_set(int(frame) + 1)  # the timeline starts at scene frame 1
        assert np.abs(evaluated_vertices(mesh) - verts_ref[i]).max() < TOL


def test_rotation_helpers_match_scipy():
    from scipy.spatial.transform import Rotation

    from blender_addon import animate

    rng = np.random.default_rng(0)
    aa = rng.normal(0.0, 1.5, (200, 3))
    aa[0] = 0.0
    aa[1] = [1e-9, 0.0, 0.0]
    q = animate.axis_angle_to_quat(aa)
    ref = Rotation.from_rotvec(aa).as_quat()[:, [3, 0, 1, 2]]
    assert np.allclose(np.abs(np.sum(q * ref, axis=1)), 1.0, atol=1e-12)
    assert np.allclose(animate.quat_to_matrix(q), Rotation.from_rotvec(aa).as_matrix(), atol=1e-12)
    for m in Rotation.from_rotvec(aa).as_matrix()[:50]:
        back = animate.quat_to_matrix(animate.matrix_to_quat(m))
        assert np.allclose(back, m, atol=1e-12)
    prod = animate.quat_multiply(q[:100], q[100:])
    assert np.allclose(animate.quat_to_matrix(prod), Rotation.from_rotvec(aa[:100]).as_matrix()
                       @ Rotation.from_rotvec(aa[100:]).as_matrix(), atol=1e-12)


def test_continuous_quats_removes_sign_flips():
    from blender_addon import animate

    angles = np.linspace(0.0, 6.0, 60)  # past π: from_rotvec-style quats would flip hemisphere
    q = np.stack([np.cos(angles / 2), np.sin(angles / 2), 0 * angles, 0 * angles], axis=1)
    q[::3] *= -1.0
    fixed = animate.continuous_quats(q)
    assert np.all(np.sum(fixed[1:] * fixed[:-1], axis=1) > 0)
    assert np.allclose(np.abs(np.sum(fixed * q, axis=1)), 1.0)  # same rotations


@pytest.mark.parametrize("focal,princpt", [((600.0, 600.0), (319.5, 239.5)), ((800.0, 760.0), (300.0, 260.0))])
def test_camera_projects_like_opencv(bpy, focal, princpt):
    """Points seen through the Blender camera land on the pixels OpenCV's pinhole model gives."""
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    from blender_addon import camera
    from blender_helpers import CV_TO_WORLD

    w, h = 640, 480
    clip = type("Clip", (), {"image_size": (w, h), "focal": np.array(focal), "princpt": np.array(princpt)})()
    collection = bpy.data.collections.new("cam")
    bpy.context.scene.collection.children.link(collection)
    cam = camera.create_camera(bpy.context, collection, clip)
    bpy.context.view_layer.update()
    rng = np.random.default_rng(2)
    points = np.column_stack([rng.uniform(-1, 1, 20), rng.uniform(-1, 1, 20), rng.uniform(2, 6, 20)])
    u = focal[0] * points[:, 0] / points[:, 2] + princpt[0]
    v = focal[1] * points[:, 1] / points[:, 2] + princpt[1]
    for p, uu, vv in zip(points @ CV_TO_WORLD.T, u, v):
        ndc = world_to_camera_view(bpy.context.scene, cam, Vector(p.tolist()))
        # Blender: (0,0) bottom-left corner of the image; OpenCV: pixel centres at integers, y down
        assert abs(ndc.x * w - 0.5 - uu) < 1e-3
        assert abs((1.0 - ndc.y) * h - 0.5 - vv) < 1e-3
