"""Helpers shared by the tests/test_blender_*.py files: isolated Blender config, random MotionClips, smplx oracle.

Imported by the tests only after pytest has decided they run (bpy present).
"""

from __future__ import annotations

import os
import tempfile

# Blender writes user config/extensions under BLENDER_USER_RESOURCES; keep tests out of ~/.config (before `import bpy`)
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="smplx-video-blender-"))

import numpy as np  # noqa: E402

# OpenCV camera (x right, y down, z forward) → Blender world with the camera at the origin looking along +Y, Z up.
# Written out here independently of blender_addon.rig so the tests check the add-on's convention, not restate it.
CV_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def reset_blender():
    """Empty scene with factory settings (also unloads add-ons enabled by an earlier test)."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy


def random_track(track_id: int, frames, seed: int, *, pose_scale: float = 0.4, expression: bool = True,
                 gender: str = "neutral", box=(100.0, 80.0, 300.0, 460.0), fps: float = 30.0):
    """A MotionTrack with random SMPL-X parameters on `frames`; one betas for all frames (a rig has one shape).

    Frame 0 of the track has zero expression so bone heads can be compared to smplx joints exactly there.
    """
    from core.motion import MotionTrack

    rng = np.random.default_rng(seed)
    frames = np.asarray(frames, np.int64)
    n = len(frames)
    global_orient = rng.normal(0.0, pose_scale, (n, 3))
    global_orient[:, 0] += np.pi  # upright in the OpenCV camera (y down)
    expr = rng.normal(0.0, 1.0, (n, 10)) if expression else np.zeros((n, 10))
    expr[0] = 0.0
    return MotionTrack(
        track_id=track_id,
        frames=frames,
        times=frames / fps,
        global_orient=global_orient,
        body_pose=rng.normal(0.0, pose_scale, (n, 21, 3)),
        left_hand_pose=rng.normal(0.0, pose_scale, (n, 15, 3)),
        right_hand_pose=rng.normal(0.0, pose_scale, (n, 15, 3)),
        jaw_pose=rng.normal(0.0, 0.2, (n, 3)),
        betas=np.tile(rng.normal(0.0, 1.0, 10), (n, 1)),
        expression=expr,
        transl=rng.normal(0.0, 0.3, (n, 3)) + [0.0, 0.2, 4.0],
        boxes=np.tile(np.asarray(box, np.float64), (n, 1)),
        scores=np.ones(n),
        gender=gender,
    )


def make_clip(tracks, num_frames: int, fps: float = 30.0, hands_include_mean: bool = False):
    """A MotionClip of a 640×480 video holding `tracks`."""
    from core.motion import MotionClip

    return MotionClip(fps=fps, num_frames=num_frames, image_size=(640, 480), focal=np.array([600.0, 610.0]),
                      princpt=np.array([310.0, 250.0]), tracks=list(tracks), hands_include_mean=hands_include_mean)


def smplx_forward(model_dir, track, *, pose_correctives: bool = True, gender: str = "neutral"):
    """smplx's own forward for a track: vertices (N,V,3) and joints (N,55,3) in Blender world (CV_TO_WORLD)."""
    import smplx
    import torch

    model = smplx.create(str(model_dir), model_type="smplx", gender=gender, ext="npz", use_pca=False,
                         flat_hand_mean=False, num_betas=10, num_expression_coeffs=10, use_face_contour=True)
    if not pose_correctives:
        with torch.no_grad():
            model.posedirs.zero_()
    params = {k: torch.as_tensor(np.asarray(v), dtype=torch.float32) for k, v in track.smplx_params().items()}
    with torch.no_grad():
        out = model(**params)
    return out.vertices.numpy() @ CV_TO_WORLD.T, out.joints.numpy()[:, :55] @ CV_TO_WORLD.T


def evaluated_vertices(obj) -> np.ndarray:
    """World-space vertices (V,3) of `obj` after modifiers and shape keys at the current frame (depsgraph)."""
    import bpy

    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    buf = np.empty(len(evaluated.data.vertices) * 3, np.float32)
    evaluated.data.vertices.foreach_get("co", buf)
    world = np.array(evaluated.matrix_world)
    return buf.reshape(-1, 3) @ world[:3, :3].T + world[:3, 3]


def bone_heads(armature, names) -> np.ndarray:
    """World positions (55,3) of the posed bone heads, in `names` order."""
    world = np.array(armature.matrix_world)
    heads = np.array([armature.pose.bones[n].head for n in names])
    return heads @ world[:3, :3].T + world[:3, 3]


def deform_matrices(armature, names) -> np.ndarray:
    """(55,4,4) world deform matrices A·pose·(A·rest)⁻¹ per bone (independent of bone orientation)."""
    world = np.array(armature.matrix_world)
    out = []
    for name in names:
        pose = world @ np.array(armature.pose.bones[name].matrix)
        rest = world @ np.array(armature.data.bones[name].matrix_local)
        out.append(pose @ np.linalg.inv(rest))
    return np.array(out)
