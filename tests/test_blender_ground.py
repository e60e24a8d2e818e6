"""The grounded scene in Blender: camera at its height and pitch above a floor plane, the person standing on it near
the origin, the camera view showing the person where the video does; contacts keyed; optional leg IK.

Independent checks: Blender's own projection (bpy_extras world_to_camera_view) of the evaluated mesh against
OpenCV's pinhole projection of smplx's vertices in the video camera, and the evaluated mesh's lowest points.
"""

from __future__ import annotations

import numpy as np
import pytest

import blender_helpers  # noqa: F401  (sets BLENDER_USER_RESOURCES before anything imports bpy)

pytestmark = pytest.mark.blender

FIRST = 1  # video frame 0 is scene frame 1 (Blender's timeline convention, importer timeline="start")


@pytest.fixture()
def default_scene():
    """Blender's default startup scene (cube, light, camera at their usual places)."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=False)
    return bpy


@pytest.fixture(scope="module")
def walk(mannequin_dir):
    """The generated walk (true clip with its floor and contacts), cut to 60 frames."""
    from core.body import read_model_arrays
    from core.ground import foot_model
    from tests._ground_motions import generate

    truth = generate("walk", foot_model(read_model_arrays(mannequin_dir)))
    return truth.clip.replace(tracks=[truth.clip.tracks[0].select(slice(0, 60))], num_frames=60)


def _projection_error(scene, cam, mesh, clip, track, frames, mannequin_dir) -> tuple[float, np.ndarray]:
    """Max pixel distance between Blender's and OpenCV's projections of the mesh, and the Blender pixels (M,2)."""
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    from blender_helpers import CV_TO_WORLD, evaluated_vertices, smplx_forward

    verts, _ = smplx_forward(mannequin_dir, track.select(np.isin(track.frames, frames)), pose_correctives=False)
    verts_cam = verts @ CV_TO_WORLD  # smplx_forward returns CV_TO_WORLD · camera frame
    (w, h), (fx, fy), (cx, cy) = clip.image_size, clip.focal, clip.princpt
    worst, pixels = 0.0, []
    for i, frame in enumerate(frames):
        scene.frame_set(int(frame) + FIRST)
        ref = verts_cam[i, ::40]
        u, v = fx * ref[:, 0] / ref[:, 2] + cx, fy * ref[:, 1] / ref[:, 2] + cy
        for p, uu, vv in zip(evaluated_vertices(mesh)[::40], u, v):
            ndc = world_to_camera_view(scene, cam, Vector(p.tolist()))
            px = np.array([ndc.x * w - 0.5, (1.0 - ndc.y) * h - 0.5])
            worst = max(worst, float(np.abs(px - [uu, vv]).max()))
            pixels.append(px)
    return worst, np.array(pixels)


def test_floor_scene_reads_at_first_sight(default_scene, walk, mannequin_dir):
    from blender_helpers import evaluated_vertices

    from blender_addon import importer

    bpy = default_scene
    (arm,) = importer.import_clip(bpy.context, walk, mannequin_dir)
    scene, cam = bpy.context.scene, bpy.context.scene.camera
    mesh = arm.children[0]
    world = np.array(cam.matrix_world)
    truth = walk.camera_to_world
    # the camera where the video's camera stood: 1.3 m above the floor, looking 12° down
    assert cam.name.startswith("SMPLX-camera")
    assert np.allclose(world[:3, 3], truth[:3, 3], atol=1e-5) and world[2, 3] == pytest.approx(1.3, abs=1e-5)
    forward = -world[:3, 2]
    assert np.degrees(np.arcsin(-forward[2])) == pytest.approx(12.0, abs=1e-3)
    floor = bpy.data.objects["SMPLX-floor"]
    corners = np.array([v.co for v in floor.data.vertices])
    assert np.allclose(corners[:, 2], 0.0) and floor.display_type == "WIRE" and floor["smplx_floor"] == "fitted"
    frames = walk.tracks[0].frames[[0, 20, 45]]
    worst, pixels = _projection_error(scene, cam, mesh, walk, walk.tracks[0], frames, mannequin_dir)
    assert worst < 0.05, f"Blender's camera view is {worst:.3f} px off OpenCV's"
    w, h = walk.image_size
    assert (pixels >= 0).all() and (pixels[:, 0] < w).all() and (pixels[:, 1] < h).all()
    # feet on the floor: the lowest point of the mesh at Z ≈ 0 while a foot is planted; the person near the origin
    contacts = walk.tracks[0].contacts
    for frame in walk.tracks[0].frames[contacts.any(1)][::7]:
        scene.frame_set(int(frame) + FIRST)
        low = evaluated_vertices(mesh)[:, 2].min()
        assert abs(low) < 0.012, f"frame {frame}: lowest point {low * 1000:.1f} mm from the floor"
        assert arm["smplx_contact_left"] == int(contacts[frame, 0])
        assert arm["smplx_contact_right"] == int(contacts[frame, 1])
    scene.frame_set(FIRST)
    root = np.array(arm.matrix_world) @ np.r_[np.array(arm.pose.bones["pelvis"].head), 1.0]
    assert np.linalg.norm(root[:2]) < 2.0 and 0.7 < root[2] < 1.2


def test_without_floor_camera_stands_before_the_person(default_scene, walk, mannequin_dir):
    """A clip without a floor: a level camera at the person's distance, the person standing near the origin on a
    guessed floor — never the camera at the origin inside the default cube — and the camera view still right."""
    from blender_helpers import evaluated_vertices

    from blender_addon import importer

    bpy = default_scene
    clip = walk.replace(camera_to_world=np.eye(4))
    (arm,) = importer.import_clip(bpy.context, clip, mannequin_dir)
    scene, cam = bpy.context.scene, bpy.context.scene.camera
    world = np.array(cam.matrix_world)
    # at the person's distance (4–5 m) from the origin, away from the default cube; its height follows from a level
    # camera seeing the pelvis where the pitched video camera saw it (0.24 m here)
    assert 4.0 < np.linalg.norm(world[:3, 3]) < 6.0
    assert abs(world[2, 2]) < 1e-9  # level: the view axis is horizontal
    assert bpy.data.objects["SMPLX-floor"]["smplx_floor"] == "guessed"
    scene.frame_set(FIRST)
    verts = evaluated_vertices(arm.children[0])
    assert abs(verts[:, 2].min()) < 0.05  # standing on the guessed floor
    assert np.linalg.norm(verts[:, :2].mean(0)) < 0.5
    worst, _ = _projection_error(scene, cam, arm.children[0], clip, clip.tracks[0], [0, 30], mannequin_dir)
    assert worst < 0.05


def test_leg_ik_follows_contacts(default_scene, walk, mannequin_dir):
    from blender_addon import importer

    from blender_helpers import CV_TO_WORLD, smplx_forward

    bpy = default_scene
    (arm,) = importer.import_clip(bpy.context, walk, mannequin_dir, leg_ik=True, create_camera=False)
    _, joints = smplx_forward(mannequin_dir, walk.tracks[0], pose_correctives=False)
    rot, shift = walk.camera_to_world[:3, :3], walk.camera_to_world[:3, 3]
    joints = (joints @ CV_TO_WORLD) @ rot.T + shift  # smplx's joints: camera frame → the clip's world
    scene = bpy.context.scene
    contacts = walk.tracks[0].contacts
    for side, leg in enumerate(("left", "right")):
        constraint = arm.pose.bones[f"{leg}_ankle"].constraints["IK"]
        target = bpy.data.objects[f"SMPLX-0-{leg}-foot-target"]
        assert constraint.target == target and constraint.chain_count == 3
        for frame in (5, 15, 25, 40):
            scene.frame_set(frame + FIRST)
            assert constraint.influence == pytest.approx(float(contacts[frame, side]))
            if contacts[frame, side]:  # the IK keeps the clip's leg: ankle head where smplx puts the joint
                bone = arm.pose.bones[f"{leg}_ankle"]
                tail = np.array(arm.matrix_world) @ np.r_[np.array(bone.tail), 1.0]
                assert np.linalg.norm(tail[:3] - np.array(target.matrix_world.translation)) < 0.002
                head = np.array(arm.matrix_world) @ np.r_[np.array(bone.head), 1.0]
                assert np.linalg.norm(head[:3] - joints[frame, 7 + side]) < 0.005
    # an animator moves a planted foot's target 5 cm: the IK takes the leg there
    scene.frame_set(5 + FIRST)
    target = bpy.data.objects["SMPLX-0-left-foot-target"]
    target.animation_data_clear()
    target.location = np.array(target.location) + [0.05, 0.0, 0.0]
    bpy.context.view_layer.update()
    tail = np.array(arm.matrix_world) @ np.r_[np.array(arm.pose.bones["left_ankle"].tail), 1.0]
    assert np.linalg.norm(tail[:3] - np.array(target.location)) < 0.005


def test_startup_cube_is_hidden_not_deleted_and_a_users_cube_is_left(default_scene, walk, mannequin_dir):
    """Blender's startup cube stands at the origin, where the person does: it would hide the legs in the first camera
    view. An untouched one is hidden (viewport and render), never deleted; a cube the user moved is left alone."""
    from blender_addon import importer

    bpy = default_scene
    cube = bpy.data.objects["Cube"]
    assert cube.visible_get()
    importer.import_clip(bpy.context, walk, mannequin_dir)
    assert "Cube" in bpy.data.objects and not cube.visible_get() and cube.hide_render
    assert bpy.data.collections["SMPLX"]["smplx_hid_default_cube"]

    bpy.ops.wm.read_factory_settings(use_empty=False)
    cube = bpy.data.objects["Cube"]
    cube.location = (3.0, 0.0, 0.0)  # the user's own scene: their cube stays as it is
    bpy.context.view_layer.update()
    importer.import_clip(bpy.context, walk, mannequin_dir)
    assert cube.visible_get() and not cube.hide_render
    assert "smplx_hid_default_cube" not in bpy.data.collections["SMPLX"]
