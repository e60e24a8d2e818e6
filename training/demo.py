"""Build the mannequin demo's assets: the sample video and its true motion, the synthetic training and held-out
sets, the demo checkpoint (trained with `training.train`) and its card with the held-out accuracy.

No SMPLer-X weights or SMPL-X body model may be shipped, so the demo trains a small SMPLer-X (same architecture,
declared small sizes: `training/configs/demo.py`) on the licence-free mannequin body rendered with core's own
CPU renderer, in the two training stages of the reference (`training/configs/demo.py`). One command rebuilds every
shipped file (about 2 h 20 min on 2 CPU cores: 4,900 images in ~7 min, the encoder's heat-map pre-training in
~41 min, the SMPLer-X training in ~83 min, the evaluation in a minute):

    python -m training.demo build-all   # → assets/{sample.mp4, sample_motion.npz, demo_smpler_x.pth.tar,
                                        #   demo_card.json}

Steps one by one (same defaults): `video`, `data`, `train`, `eval` (`python -m training.demo data --help`).
Everything is seeded: the same code gives the same video, data and (on the same hardware and torch) checkpoint.

Frames: poses are SMPL-X axis-angle, hand poses relative to the model's hands_mean (`hands_include_mean=False`),
cameras OpenCV (x right, y down, z forward), metres, pixels.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("training.demo")

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
CONFIG = Path(__file__).resolve().parent / "configs" / "demo.py"
TRAIN_SEEDS, HELDOUT_SEED = (1, 3, 4), 2  # one part of the training set per seed
PRETRAIN_STEPS, PRETRAIN_BATCH = 4000, 16  # stage 1 of the demo's training (training.pretrain)
SLOT = "UP3D"  # the HumanData slot of the trainer's registry that the synthetic set occupies (same file layout)

# the sample video
VIDEO_SIZE = (640, 360)  # (W, H) pixels, also the training images' size
VIDEO_FPS = 25.0
VIDEO_FRAMES = 100
VIDEO_FOCAL = 600.0
VIDEO_BETAS = np.array([0.6, -0.4, 0.3, 0.0, -0.2, 0.1, 0.0, 0.0, 0.0, 0.0], np.float32)
CAMERA_HEIGHT = 1.05  # metres above the floor (the camera looks horizontally)

# Joint limits of the 21 body joints as intrinsic XYZ Euler angles (radians) in SMPL-X's joint frames (model
# frame: Y up, facing +Z, the left side at +x). Right-side limits are the left's mirrored: (x, y, z) → (x, -y, -z).
_L_LIMITS = {
    "hip": ((-1.6, -0.5, -0.3), (0.5, 0.5, 0.9)),
    "knee": ((0.0, -0.05, -0.05), (2.0, 0.05, 0.05)),
    "ankle": ((-0.5, -0.2, -0.3), (0.7, 0.2, 0.3)),
    "foot": ((-0.3, -0.1, -0.1), (0.3, 0.1, 0.1)),
    "collar": ((-0.1, -0.3, -0.15), (0.1, 0.2, 0.35)),
    "shoulder": ((-0.9, -1.4, -1.45), (0.9, 0.6, 0.9)),
    "elbow": ((-0.6, -2.3, -0.1), (0.6, 0.0, 0.1)),
    "wrist": ((-0.8, -0.4, -0.8), (0.8, 0.4, 0.6)),
}
_CENTRE_LIMITS = {
    "spine": ((-0.25, -0.35, -0.25), (0.45, 0.35, 0.25)),
    "neck": ((-0.3, -0.5, -0.3), (0.4, 0.5, 0.3)),
    "head": ((-0.4, -0.6, -0.3), (0.4, 0.6, 0.3)),
}
# body_pose rows (SMPL-X joint index - 1) → limit name and side
_BODY_ROWS = [("hip", "L"), ("hip", "R"), ("spine", "C"), ("knee", "L"), ("knee", "R"), ("spine", "C"),
              ("ankle", "L"), ("ankle", "R"), ("spine", "C"), ("foot", "L"), ("foot", "R"), ("neck", "C"),
              ("collar", "L"), ("collar", "R"), ("head", "C"), ("shoulder", "L"), ("shoulder", "R"),
              ("elbow", "L"), ("elbow", "R"), ("wrist", "L"), ("wrist", "R")]
L_HIP, R_HIP, SPINE1, L_KNEE, R_KNEE, SPINE2, L_ANKLE, R_ANKLE, SPINE3 = range(9)
NECK, L_COLLAR, R_COLLAR, HEAD, L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = range(11, 21)


def joint_limits() -> tuple[np.ndarray, np.ndarray]:
    """(21,3) lower and upper Euler limits (radians) of the body joints."""
    lo, hi = np.zeros((21, 3)), np.zeros((21, 3))
    mirror = np.array([1.0, -1.0, -1.0])
    for row, (name, side) in enumerate(_BODY_ROWS):
        a, b = (np.array(v, float) for v in (_CENTRE_LIMITS if side == "C" else _L_LIMITS)[name])
        if side == "R":
            a, b = np.minimum(a * mirror, b * mirror), np.maximum(a * mirror, b * mirror)
        lo[row], hi[row] = a, b
    return lo, hi


def euler_to_rotvec(euler: np.ndarray) -> np.ndarray:
    """(..., 3) intrinsic XYZ Euler angles → (..., 3) axis-angle."""
    from scipy.spatial.transform import Rotation

    shape = euler.shape
    return Rotation.from_euler("XYZ", euler.reshape(-1, 3)).as_rotvec().reshape(shape).astype(np.float32)


def root_orient(yaw: np.ndarray, pitch: np.ndarray | float = 0.0, roll: np.ndarray | float = 0.0) -> np.ndarray:
    """(N,) yaw (about the body's up axis; 0 = facing the camera), pitch, roll → (N,3) global_orient in the
    OpenCV camera (the model's Y-up frame turned 180° about x)."""
    from scipy.spatial.transform import Rotation

    n = len(yaw)
    model = Rotation.from_euler("YXZ", np.stack([yaw, np.broadcast_to(pitch, n), np.broadcast_to(roll, n)], 1))
    return (Rotation.from_rotvec([np.pi, 0.0, 0.0]) * model).as_rotvec().astype(np.float32)


# ---------------------------------------------------------------------------------------------- motions
def gesture_euler(t: np.ndarray, p: dict) -> np.ndarray:
    """A walking-in-place / arm-swing / wave family of smooth joint-angle curves.

    Args:
        t: (N,) seconds.
        p: `step_hz`, `leg` (hip flexion amplitude, rad), `knee`, `arm_swing`, `arms_down` (shoulder drop, rad),
            `wave` (0..1 right-arm wave blend per frame, (N,) or scalar), `wave_hz`, `sway`, `head_yaw`, `phase`.
    Returns:
        (N,21,3) Euler angles, clipped to the joint limits.
    """
    n = len(t)
    e = np.zeros((n, 21, 3))
    ph = 2 * np.pi * p["step_hz"] * t + p["phase"]
    lift_l, lift_r = np.maximum(0.0, np.sin(ph)), np.maximum(0.0, -np.sin(ph))
    e[:, L_HIP, 0], e[:, R_HIP, 0] = -p["leg"] * lift_l, -p["leg"] * lift_r
    e[:, L_KNEE, 0], e[:, R_KNEE, 0] = p["knee"] * lift_l, p["knee"] * lift_r
    e[:, L_ANKLE, 0], e[:, R_ANKLE, 0] = 0.3 * p["knee"] * lift_l, 0.3 * p["knee"] * lift_r
    for j in (SPINE1, SPINE2, SPINE3):
        e[:, j, 1] = p["sway"] * np.sin(ph)
        e[:, j, 0] = 0.05
    e[:, HEAD, 1] = p["head_yaw"] * np.sin(2 * np.pi * 0.3 * t + p["phase"])
    e[:, NECK, 0] = 0.1 * np.sin(2 * np.pi * 0.5 * t)
    # arms hang down (shoulder z) and swing against the legs (shoulder y); elbows slightly bent
    e[:, L_SHOULDER, 2] = -p["arms_down"]
    e[:, R_SHOULDER, 2] = p["arms_down"]
    e[:, L_SHOULDER, 1] = -p["arm_swing"] * np.sin(ph + np.pi)
    e[:, R_SHOULDER, 1] = p["arm_swing"] * np.sin(ph)
    e[:, L_ELBOW, 1], e[:, R_ELBOW, 1] = -0.3 - 0.2 * lift_r, 0.3 + 0.2 * lift_l
    # right-arm wave: raise the arm sideways above the shoulder, forearm swinging
    w = np.broadcast_to(np.asarray(p["wave"], float), (n,))
    wave = np.sin(2 * np.pi * p["wave_hz"] * t)
    e[:, R_SHOULDER, 2] = (1 - w) * e[:, R_SHOULDER, 2] + w * -0.5
    e[:, R_SHOULDER, 1] = (1 - w) * e[:, R_SHOULDER, 1] + w * 0.2
    e[:, R_ELBOW, 1] = (1 - w) * e[:, R_ELBOW, 1] + w * (1.2 + 0.5 * wave)
    e[:, R_WRIST, 2] = w * 0.3 * wave
    lo, hi = joint_limits()
    return np.clip(e, lo, hi)


def random_euler(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n,21,3) independent per-joint angles within the limits: truncated normals around the rest pose (arms
    around hanging down), wide enough to reach the limits."""
    lo, hi = joint_limits()
    mu = np.clip(np.zeros((21, 3)), lo, hi)
    mu[L_SHOULDER, 2], mu[R_SHOULDER, 2] = -0.9, 0.9
    sigma = 0.35 * (hi - lo)
    return np.clip(rng.normal(mu, sigma, (n, 21, 3)), lo, hi)


def random_gesture_params(rng: np.random.Generator) -> dict:
    """One random member of the gesture family (for training poses)."""
    return {"step_hz": rng.uniform(0.5, 1.5), "leg": rng.uniform(0.0, 0.9), "knee": rng.uniform(0.0, 1.6),
            "arm_swing": rng.uniform(0.0, 0.6), "arms_down": rng.uniform(0.4, 1.4), "wave": float(rng.random() < 0.3),
            "wave_hz": rng.uniform(0.8, 2.0), "sway": rng.uniform(0.0, 0.2), "head_yaw": rng.uniform(0.0, 0.5),
            "phase": rng.uniform(0, 2 * np.pi)}


def hand_poses(curl: np.ndarray, hands_mean: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
    """Finger curls → hand poses relative to the mean hand.

    Args:
        curl: (N,5) per finger: -1 flat (absolute pose zero), 0 the mean hand, up to ~2 a fist.
        hands_mean: (45,) the model's mean hand (axis-angle, 15 joints, 3 per finger: index, middle, pinky, ring,
            thumb in SMPL-X's order).
        noise: optional (N,15,3) added angles.
    Returns:
        (N,15,3) axis-angle relative to hands_mean.
    """
    per_joint = np.repeat(curl, 3, axis=1)  # (N,15)
    out = per_joint[:, :, None] * hands_mean.reshape(1, 15, 3)
    return (out if noise is None else out + noise).astype(np.float32)


def sample_demo_params(rng: np.random.Generator, n: int, hands_mean: tuple[np.ndarray, np.ndarray]) -> dict:
    """Random training people: half independent within-limit poses, half gesture-family poses at a random time;
    body turned mostly towards the camera; hands from flat to fist; jaw open 0–0.35 rad; random shape and face.

    Returns:
        SMPL-X params (no `transl`; placing is the camera's job): `global_orient` (n,3), `body_pose` (n,21,3),
        `left_hand_pose`/`right_hand_pose` (n,15,3) relative to the mean, `jaw_pose` (n,3), `betas`, `expression`
        (n,10).
    """
    euler = random_euler(rng, n)
    for i in np.flatnonzero(rng.random(n) < 0.5):
        euler[i] = gesture_euler(np.array([rng.uniform(0, 10)]), random_gesture_params(rng))[0]
    yaw = np.clip(rng.normal(0, 0.6, n), -1.6, 1.6)
    turned = rng.random(n) < 0.1
    yaw[turned] = rng.uniform(-np.pi, np.pi, turned.sum())
    curl = lambda: np.clip(rng.uniform(-1.0, 1.8, (n, 1)) + rng.normal(0, 0.3, (n, 5)), -1.0, 2.2)  # noqa: E731
    hand_noise = lambda: rng.normal(0, 0.06, (n, 15, 3))  # noqa: E731
    return {
        "global_orient": root_orient(yaw, rng.normal(0, 0.1, n), rng.normal(0, 0.06, n)),
        "body_pose": euler_to_rotvec(euler),
        "left_hand_pose": hand_poses(curl(), hands_mean[0], hand_noise()),
        "right_hand_pose": hand_poses(curl(), hands_mean[1], hand_noise()),
        "jaw_pose": np.stack([rng.uniform(0, 0.35, n), np.zeros(n), np.zeros(n)], 1).astype(np.float32),
        "betas": np.clip(rng.normal(0, 0.8, (n, 10)), -2.0, 2.0).astype(np.float32),
        "expression": np.clip(rng.normal(0, 0.6, (n, 10)), -1.5, 1.5).astype(np.float32),
    }


def sample_motion_params(hands_mean: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, dict]:
    """The sample video's true motion (deterministic): marching in place while stepping sideways and slowly
    turning, arms swinging, then a right-arm wave; fingers opening and closing, jaw talking, brows moving.

    Returns:
        times (N,) s and SMPL-X params without `transl` (see `sample_demo_params`).
    """
    t = np.arange(VIDEO_FRAMES) / VIDEO_FPS
    wave = np.clip((t - 1.6) / 0.6, 0, 1)
    wave = wave * wave * (3 - 2 * wave)  # smoothstep into the wave
    p = {"step_hz": 0.9, "leg": 0.55, "knee": 1.0, "arm_swing": 0.35, "arms_down": 1.2, "wave": wave,
         "wave_hz": 1.6, "sway": 0.08, "head_yaw": 0.35, "phase": 0.0}
    euler = gesture_euler(t, p)
    n = len(t)
    curl_l = np.repeat((0.4 + 1.1 * np.sin(2 * np.pi * 0.5 * t))[:, None], 5, 1)
    curl_r = np.repeat((0.2 - 1.0 * np.sin(2 * np.pi * 0.7 * t + 1.0))[:, None], 5, 1)
    expr = np.zeros((n, 10), np.float32)
    expr[:, 0] = 0.8 * np.sin(2 * np.pi * 0.4 * t)
    expr[:, 1] = 0.6 * np.sin(2 * np.pi * 0.25 * t + 1.0)
    params = {
        "global_orient": root_orient(0.45 * np.sin(2 * np.pi * 0.2 * t), 0.03, 0.0),
        "body_pose": euler_to_rotvec(euler),
        "left_hand_pose": hand_poses(curl_l, hands_mean[0]),
        "right_hand_pose": hand_poses(curl_r, hands_mean[1]),
        "jaw_pose": np.stack([0.15 + 0.12 * np.sin(2 * np.pi * 1.3 * t), np.zeros(n), np.zeros(n)], 1).astype(
            np.float32),
        "betas": np.repeat(VIDEO_BETAS[None], n, 0),
        "expression": expr,
    }
    return t, params


# ---------------------------------------------------------------------------------------------- scenes
def room_background(rng: np.random.Generator, size: tuple[int, int], focal: float, cam_height: float,
                    wall_depth: float) -> np.ndarray:
    """(H,W,3) uint8 RGB: a panelled, noisy wall and a perspective checker floor seen by a level camera whose
    principal point is the image centre (the floor's horizon is the middle row)."""
    w, h = size
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    wall_a, wall_b, floor_a, floor_b = (rng.uniform(40, 220, 3) for _ in range(4))
    panel = rng.uniform(0.2, 0.8)
    x_wall = (u - cx) * wall_depth / focal
    y_wall = (v - cy) * wall_depth / focal
    stripes = (np.floor(x_wall / panel) % 2)[..., None]
    wall = wall_a * (1 - stripes) + wall_b * stripes
    wall = wall + 12 * np.sin(y_wall[..., None] * rng.uniform(3, 9) + rng.uniform(0, 6, 3))
    # floor: the ground plane y = cam_height; depth per row below the horizon
    dv = np.maximum(v - cy, 1e-6)
    z_floor = focal * cam_height / dv
    x_floor = (u - cx) * z_floor / focal
    tile = rng.uniform(0.3, 0.8)
    checker = ((np.floor(x_floor / tile) + np.floor(z_floor / tile)) % 2)[..., None]
    floor = floor_a * (1 - checker) + floor_b * checker
    on_floor = (z_floor < wall_depth)[..., None] & (v > cy)[..., None]
    img = np.where(on_floor, floor, wall)
    img = img + rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def texture_background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """(H,W,3) uint8 RGB: random stripes / checks / blobs (scenes that are not rooms)."""
    w, h = size
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    kind = rng.integers(3)
    a, b = rng.uniform(30, 230, 3), rng.uniform(30, 230, 3)
    if kind == 0:
        ang = rng.uniform(0, np.pi)
        m = (np.sin((u * np.cos(ang) + v * np.sin(ang)) / rng.uniform(4, 30)) > 0)[..., None]
    elif kind == 1:
        s = rng.uniform(10, 60)
        m = ((np.floor(u / s) + np.floor(v / s)) % 2)[..., None]
    else:
        m = np.zeros((h, w, 1))
        for _ in range(12):
            c, r = rng.uniform([0, 0], [w, h]), rng.uniform(10, 90)
            m += np.exp(-((u - c[0]) ** 2 + (v - c[1]) ** 2) / (2 * r * r))[..., None]
        m = np.clip(m, 0, 1)
    img = a * (1 - m) + b * m + rng.normal(0, 8, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def person_color(rng: np.random.Generator) -> np.ndarray:
    """A plausible mannequin colour, RGB in [0,1]."""
    return rng.uniform([0.35, 0.35, 0.35], [0.95, 0.95, 0.95])


def forward_body(model_dir: str | Path, params: dict, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """SMPL-X forward of the neutral model (hand poses relative to the mean, eyes at rest).

    Returns:
        vertices (N,10475,3) and joints (N,144,3), metres, in the frame of `params` (camera when transl is set).
    """
    import torch

    from core.body import load_body_model

    n = len(params["global_orient"])
    bm = load_body_model(model_dir, gender="neutral", batch_size=batch)
    verts, joints = [], []
    with torch.no_grad():
        for s in range(0, n, batch):
            chunk = {k: torch.from_numpy(np.asarray(v[s:s + batch], np.float32).reshape(min(batch, n - s), -1))
                     for k, v in params.items()}
            m = len(chunk["global_orient"])
            pad = batch - m
            if pad:
                chunk = {k: torch.cat([v, v[-1:].expand(pad, -1)]) for k, v in chunk.items()}
            out = bm(**chunk, leye_pose=torch.zeros(batch, 3), reye_pose=torch.zeros(batch, 3))
            verts.append(out.vertices[:m].numpy())
            joints.append(out.joints[:m].numpy())
    return np.concatenate(verts), np.concatenate(joints)


# ---------------------------------------------------------------------------------------------- the sample video
def build_video(out_dir: Path = ASSETS) -> tuple[Path, Path]:
    """Render `sample.mp4` (640×360, 25 fps, 4 s, fixed level camera, static room) and save its ground truth
    `sample_motion.npz` (one track, id 0, transl in the video camera, the video's intrinsics)."""
    import tempfile

    from core.body import read_model_arrays, write_mannequin
    from core.motion import MotionClip, MotionTrack
    from core.render import render_mesh, write_video

    w, h = VIDEO_SIZE
    focal = np.array([VIDEO_FOCAL, VIDEO_FOCAL])
    princpt = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    with tempfile.TemporaryDirectory() as tmp:
        write_mannequin(tmp)
        arr = read_model_arrays(tmp)
        t, params = sample_motion_params((arr["hands_meanl"], arr["hands_meanr"]))
        n = len(t)
        # sidestep left to right at 4.6 m, then stand the lowest point of the body on the floor
        transl = np.stack([-0.45 + 0.9 * t / t[-1], np.zeros(n), np.full(n, 4.6)], 1).astype(np.float32)
        verts, _ = forward_body(tmp, {**params, "transl": transl})
        lift = CAMERA_HEIGHT - verts[..., 1].max(1)
        transl[:, 1] += lift
        verts[..., 1] += lift[:, None]
        faces = arr["f"].astype(np.int64)
    bg = room_background(np.random.default_rng(7), (w, h), VIDEO_FOCAL, CAMERA_HEIGHT, 9.0)
    frames = (render_mesh(bg, verts[i], faces, focal, princpt, color=(0.86, 0.62, 0.45)) for i in range(n))
    video = out_dir / "sample.mp4"
    write_video(video, frames, VIDEO_FPS, crf=23)
    boxes = _boxes_of(verts, focal, princpt, (w, h))
    track = MotionTrack(track_id=0, frames=np.arange(n), times=t, global_orient=params["global_orient"],
                        body_pose=params["body_pose"], left_hand_pose=params["left_hand_pose"],
                        right_hand_pose=params["right_hand_pose"], jaw_pose=params["jaw_pose"],
                        betas=params["betas"], expression=params["expression"], transl=transl, boxes=boxes,
                        scores=np.ones(n))
    clip = MotionClip(fps=VIDEO_FPS, num_frames=n, image_size=(w, h), focal=focal, princpt=princpt,
                      tracks=[track], hands_include_mean=False, source="sample.mp4",
                      metadata={"ground_truth": True, "body": "mannequin", "generator": "training.demo"})
    motion = clip.save(out_dir / "sample_motion.npz")
    log.info("wrote %s and %s", video, motion)
    return video, motion


def _boxes_of(verts: np.ndarray, focal: np.ndarray, princpt: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N,V,3) camera vertices → (N,4) xyxy boxes of their projections, clipped to the image."""
    uv = verts[..., :2] / verts[..., 2:3] * focal + princpt
    lo, hi = uv.min(1), uv.max(1)
    return np.clip(np.concatenate([lo, hi], 1), 0, [size[0] - 1, size[1] - 1] * 2)


# ---------------------------------------------------------------------------------------------- synthetic data
def _place(rng: np.random.Generator, verts_rest: np.ndarray, focal: float,
           size: tuple[int, int]) -> np.ndarray:
    """Translation that puts a posed person (root-frame vertices) in view: 150–330 px tall, its centre anywhere
    that keeps it inside the central area. Returns (3,) metres."""
    w, h = size
    extent = verts_rest[:, 1].max() - verts_rest[:, 1].min()
    px = rng.uniform(150, 330)
    z = max(float(focal * extent / px), 1.5)
    centre = (verts_rest.max(0) + verts_rest.min(0)) / 2
    u = rng.uniform(0.3, 0.7) * w
    v = rng.uniform(0.42, 0.58) * h
    target = np.array([(u - (w - 1) / 2) * z / focal, (v - (h - 1) / 2) * z / focal, z])
    return (target - centre).astype(np.float32)


def write_synthetic_part(data_root: Path, model_dir: Path, n: int, seed: int, chunk: int = 200) -> Path:
    """Render `n` mannequin people (one seeded part of a set) in the HumanData layout of the trainer's `SLOT`
    dataset: images into `<data_root>/<slot image folder>/`, annotations into `<data_root>/parts/part_<seed>.npz`
    (`assemble_set` joins the parts into the file the trainer reads).

    Images are 640×360 JPEGs (a room or a texture behind, a random colour and light); annotations follow
    `training.synthetic.write_humandata`: 144 SMPL-X 2D/3D keypoints, body/hand/face boxes from the keypoints
    (body box jittered by ±10 % in size and position, as a detector's would be), SMPL-X params with transl in the
    camera, per-image focal/principal point in `meta`.

    Returns:
        the part file written (`<data_root>/parts/part_<seed>.npz`).
    """
    import cv2

    from core.body import read_model_arrays
    from core.atomic import atomic_write
    from core.render import render_mesh

    from .datasets.humandata import DATA
    from .synthetic import Bodies, boxes_from_keypoints

    spec = DATA[SLOT]
    rng = np.random.default_rng(seed)
    arr = read_model_arrays(model_dir)
    faces = arr["f"].astype(np.int64)
    w, h = VIDEO_SIZE
    img_dir = data_root / spec.img_dir
    img_dir.mkdir(parents=True, exist_ok=True)
    all_params: dict[str, list] = {}
    names, k2, k3, boxes, focals = [], [], [], [], []
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        params = sample_demo_params(rng, m, (arr["hands_meanl"], arr["hands_meanr"]))
        verts0, joints0 = forward_body(model_dir, params)
        focal = rng.uniform(450, 900, m)
        transl = np.stack([_place(rng, verts0[i], focal[i], (w, h)) for i in range(m)])
        params["transl"] = transl
        verts, joints = verts0 + transl[:, None], joints0 + transl[:, None]
        for i in range(m):
            if rng.random() < 0.6:
                bg = room_background(rng, (w, h), focal[i], rng.uniform(0.6, 1.8), rng.uniform(6, 14))
            else:
                bg = texture_background(rng, (w, h))
            princpt = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
            img = render_mesh(bg, verts[i], faces, (focal[i], focal[i]), princpt, color=person_color(rng),
                              ambient=rng.uniform(0.25, 0.5))
            name = f"demo_{seed}_{s + i:06d}.jpg"
            cv2.imwrite(str(img_dir / name), img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
            names.append(name)
        for i in range(m):
            b = Bodies({}, joints[i:i + 1], verts[i:i + 1], np.array([focal[i]] * 2),
                       np.array([(w - 1) / 2.0, (h - 1) / 2.0]), (h, w))
            kp = b.kp2d[0]
            bx = boxes_from_keypoints(kp, (h, w))
            bx["bbox_xywh"] = _jitter(rng, bx["bbox_xywh"], (w, h))
            boxes.append(bx)
            k2.append(kp)
            k3.append(joints[i])
            focals.append(focal[i])
        for k, v in params.items():
            all_params.setdefault(k, []).append(v)
        log.info("rendered %d / %d", s + m, n)
    params = {k: np.concatenate(v).astype(np.float32) for k, v in all_params.items()}
    kp2 = np.zeros((n, 190, 3), np.float32)
    kp2[:, :144, :2], kp2[:, :144, 2] = np.stack(k2), 1.0
    kp3 = np.zeros((n, 190, 4), np.float32)
    kp3[:, :144, :3], kp3[:, :144, 3] = np.stack(k3), 1.0
    mask = np.zeros(190, np.uint8)
    mask[:144] = 1
    arrays = {
        "image_path": np.array(names), "__keypoints_compressed__": np.array(False), "__data_len__": np.array(n),
        "__key_strict__": np.array(False), "config": np.array(SLOT), "smplx": np.array(params, dtype=object),
        "misc": np.array({"flat_hand_mean": False, "bbox_body_scale": 1.2, "bbox_facehand_scale": 1.0,
                          "kps3d_root_aligned": False, "generator": "training.demo", "seed": seed}, dtype=object),
        "keypoints2d_smplx": kp2, "keypoints2d_smplx_mask": mask, "keypoints3d_smplx": kp3,
        "keypoints3d_smplx_mask": mask,
        "meta": np.array({"height": [h] * n, "width": [w] * n, "gender": ["neutral"] * n,
                          "focal_length": [[float(f), float(f)] for f in focals],
                          "principal_point": [[(w - 1) / 2.0, (h - 1) / 2.0]] * n}, dtype=object),
    }
    for key in ("bbox_xywh", "lhand_bbox_xywh", "rhand_bbox_xywh", "face_bbox_xywh"):
        arrays[key] = np.stack([b[key] for b in boxes])
    path = data_root / "parts" / f"part_{seed}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda fh: np.savez(fh, **arrays))
    return path


def assemble_set(data_root: Path) -> Path:
    """Join every `<data_root>/parts/part_*.npz` (in seed order) into the slot's HumanData file.

    Returns:
        `<data_root>/preprocessed_datasets/<slot file>`.
    """
    from core.atomic import atomic_write

    from .datasets.humandata import DATA

    parts = sorted((data_root / "parts").glob("part_*.npz"), key=lambda q: int(q.stem.split("_")[1]))
    if not parts:
        raise FileNotFoundError(f"no synthetic parts in {data_root / 'parts'} (run the data step first)")
    loaded = []
    for q in parts:
        with np.load(q, allow_pickle=True) as z:
            loaded.append({k: z[k] for k in z.files})
    first = loaded[0]
    arrays = dict(first)
    for key, value in first.items():
        if value.dtype == object:  # smplx params, meta: dicts of per-record arrays / lists
            if key == "misc":
                continue
            merged = {}
            for k in value.item():
                items = [d[key].item()[k] for d in loaded]
                merged[k] = np.concatenate(items) if isinstance(items[0], np.ndarray) else sum(items, [])
            arrays[key] = np.array(merged, dtype=object)
        elif value.ndim and key != "keypoints2d_smplx_mask" and key != "keypoints3d_smplx_mask":
            arrays[key] = np.concatenate([d[key] for d in loaded])
    arrays["__data_len__"] = np.array(len(arrays["image_path"]))
    path = data_root / "preprocessed_datasets" / DATA[SLOT].train[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda fh: np.savez(fh, **arrays))
    return path


def _jitter(rng: np.random.Generator, xywhc: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale a box by U(0.9, 1.1) and shift it by up to ±5 % of its size (kept inside the image)."""
    x, y, bw, bh, c = xywhc
    cx, cy = x + bw / 2 + rng.uniform(-0.05, 0.05) * bw, y + bh / 2 + rng.uniform(-0.05, 0.05) * bh
    s = rng.uniform(0.9, 1.1)
    bw, bh = bw * s, bh * s
    x0, y0 = max(cx - bw / 2, 0.0), max(cy - bh / 2, 0.0)
    x1, y1 = min(cx + bw / 2, size[0] - 1.0), min(cy + bh / 2, size[1] - 1.0)
    return np.array([x0, y0, x1 - x0, y1 - y0, c], np.float32)


# ---------------------------------------------------------------------------------------------- training
def train_checkpoint(work: Path, steps: int | None, out: Path = ASSETS / "demo_smpler_x.pth.tar",
                     pretrain_steps: int = PRETRAIN_STEPS) -> dict:
    """Train the demo network in two stages and copy it into the shipped official container
    (`SMPLerX.save_checkpoint`: no optimizer, so the file stays small).

    1. `training.pretrain`: the encoder learns 2D joint heat maps (the part ViTPose plays for the official models,
       whose weights cannot be had here), written as a ViTPose checkpoint;
    2. `training.train` with `pretrained_backbone` set to it: the whole SMPLer-X, as the reference trains.

    Args:
        work: holds `data/` and `models/`; the stages write `pretrain/` and `train/`.
        steps: stop the second stage after this many iterations (None: the config's whole schedule).
        out: the shipped checkpoint.
        pretrain_steps: iterations of the first stage.
    Returns:
        {"steps", "seconds", "pretrain", "train_config", "hardware"}.
    """
    from . import train as trainer
    from .configs.base import load_config
    from .pretrain import pretrain

    backbone = work / "pretrain" / "vitpose_demo.pth"
    cfg = load_config(CONFIG, data_root=str(work / "data"), body_model_dir=str(work / "models"),
                      output_dir=str(work / "train"), max_iters=int(steps or 0), pretrained_backbone=str(backbone))
    t0 = time.time()
    stage1 = pretrain(cfg, pretrain_steps, backbone, batch_size=PRETRAIN_BATCH)
    run_dir = trainer.train(cfg)
    seconds = time.time() - t0
    step = export_checkpoint(run_dir / "model_dump" / "last.pth.tar", out)
    return {"steps": step, "seconds": seconds, "pretrain": {**stage1, "batch_size": PRETRAIN_BATCH},
            "train_config": cfg.to_dict(), "hardware": _hardware()}


def _hardware() -> str:
    import os

    import torch

    return (f"{platform.machine()} CPU ({os.cpu_count()} cores), "
            f"{torch.get_num_threads()} torch thread(s), no GPU, torch {torch.__version__}")


def export_checkpoint(training_checkpoint: Path, out: Path) -> int:
    """A `training.train` checkpoint → the shipped official container (network and size only: no optimizer,
    no RNG state, no body-model buffers). Returns the training step it holds."""
    import torch

    from core.model import SMPLerX, read_checkpoint

    sd, mcfg, _ = read_checkpoint(training_checkpoint)
    model = SMPLerX(mcfg, None)
    missing = sorted(set(model.state_dict()) - set(sd))
    if missing:
        raise ValueError(f"{training_checkpoint}: network keys missing: {missing[:5]}…")
    model.load_state_dict({k: v for k, v in sd.items() if not k.startswith("smplx_layer.")}, strict=True)
    model.save_checkpoint(out, epoch=0)
    return int(torch.load(training_checkpoint, map_location="cpu", weights_only=True)["step"])


# ---------------------------------------------------------------------------------------------- evaluation
def evaluate_heldout(checkpoint: Path, data_root: Path, model_dir: Path) -> dict:
    """Errors (mm) of the checkpoint on a held-out synthetic set with `training.metrics.MeshEvaluator`
    (MPJPE/PA-MPJPE on the 14 LSP joints, PVE, hands, face).

    Each person is cropped as in a conversion: the tight box of its projected mesh (a detector's box) enlarged
    by `SMPLerX.predict`'s 1.25.

    Returns:
        per-metric means plus `num_samples`.
    """
    import cv2

    from core.model import SMPLerX

    from .datasets.humandata import DATA
    from .metrics import MeshEvaluator, average

    spec = DATA[SLOT]
    path = data_root / "preprocessed_datasets" / spec.train[0]
    with np.load(path, allow_pickle=True) as z:
        names = z["image_path"]
        params = z["smplx"].item()
        meta = z["meta"].item()
    gt_verts, _ = forward_body(model_dir, params)
    model = SMPLerX.from_checkpoint(checkpoint, model_dir)
    ev = MeshEvaluator.from_model_dir(model_dir)
    rows = []
    for i, name in enumerate(names):
        img = cv2.imread(str(data_root / spec.img_dir / str(name)))[:, :, ::-1].copy()
        focal, princpt = np.asarray(meta["focal_length"][i]), np.asarray(meta["principal_point"][i])
        box = _boxes_of(gt_verts[i:i + 1], focal, princpt, (img.shape[1], img.shape[0]))
        res = model.predict(img, box, with_mesh=True)[0]
        if res is None:
            continue
        rows.append(ev.evaluate(res["vertices"].astype(np.float64), gt_verts[i].astype(np.float64)))
    out = average(rows)
    out["num_samples"] = len(rows)
    return out


def mean_pose_baseline(data_root: Path, model_dir: Path) -> dict:
    """The held-out errors (mm) of a constant guess: the mean shape standing with arms down, facing the camera,
    hands at the mean (what a network that learned nothing but the average would score)."""
    from .datasets.humandata import DATA
    from .metrics import MeshEvaluator, average

    with np.load(data_root / "preprocessed_datasets" / DATA[SLOT].train[0], allow_pickle=True) as z:
        params = z["smplx"].item()
    n = len(params["global_orient"])
    euler = np.zeros((n, 21, 3))
    euler[:, L_SHOULDER, 2], euler[:, R_SHOULDER, 2] = -1.1, 1.1
    guess = {"global_orient": root_orient(np.zeros(n)), "body_pose": euler_to_rotvec(euler),
             "transl": params["transl"]}
    gt, _ = forward_body(model_dir, params)
    pred, _ = forward_body(model_dir, guess)
    ev = MeshEvaluator.from_model_dir(model_dir)
    return average([ev.evaluate(pred[i].astype(np.float64), gt[i].astype(np.float64)) for i in range(n)])


def write_card(path: Path, train_info: dict, heldout: dict, data_info: dict, baseline: dict) -> Path:
    """`demo_card.json`: what the demo network is, how it was made and how good it is."""
    from core.atomic import atomic_write

    from .configs.base import load_config

    cfg = load_config(CONFIG)
    ms = cfg.model_size
    card = {
        "model": "SMPLer-X architecture, declared small size 'demo' (not an official SMPLer-X variant)",
        "model_size": ms, "input": "512x384 crop (256x192 to the ViT)",
        "body_model": "the licence-free mannequin (core.body.write_mannequin), neutral",
        "trained_on": data_info,
        "training": {"config": str(CONFIG.relative_to(ROOT)),
                     "stage1_encoder_heatmaps": {"module": "training/pretrain.py", **{
                         k: round(v, 3) if isinstance(v, float) else v for k, v in train_info["pretrain"].items()}},
                     "stage2_smplerx_steps": train_info["steps"], "batch_size": cfg.train_batch_size, "lr": cfg.lr,
                     "min_lr": cfg.min_lr, "encoder_lr_scale": cfg.encoder_lr_scale,
                     "net_kps_2d_weight": cfg.net_kps_2d_weight,
                     "wall_seconds_both_stages": round(train_info["seconds"], 1),
                     "hardware": train_info.get("hardware", _hardware())},
        "heldout_synthetic_mm": {k: (round(v, 1) if isinstance(v, float) else v) for k, v in heldout.items()},
        "heldout_constant_mean_pose_mm": {k: round(v, 1) for k, v in baseline.items() if k.endswith("_body")},
        "metric_notes": "training.metrics.MeshEvaluator: mpjpe_body = 14 LSP joints, pelvis-aligned; "
                        "pa_mpjpe_body after Procrustes; pve_all = all vertices, pelvis-aligned",
        "rebuild": "python -m training.demo build-all",
        "licence": "weights trained from scratch on synthetic renders of the project's own mannequin",
    }
    return atomic_write(path, lambda fh: fh.write(json.dumps(card, indent=2) + "\n"), mode="w")


# ---------------------------------------------------------------------------------------------- CLI
def _cmd(args: argparse.Namespace) -> int:
    from core.body import write_mannequin

    work = Path(args.work)
    models = work / "models"
    if args.step in ("data", "train", "eval", "build-all"):
        write_mannequin(models)
    if args.step in ("video", "build-all"):
        for p in build_video(Path(args.assets)):
            print(p)
    if args.step in ("data", "build-all"):
        t0 = time.time()
        for stale in [*(work / "data" / "parts").glob("part_*.npz"), *(work / "heldout" / "parts").glob("part_*.npz")]:
            stale.unlink()
        for seed in TRAIN_SEEDS:
            write_synthetic_part(work / "data", models, args.train_size // len(TRAIN_SEEDS), seed=seed)
        print(assemble_set(work / "data"))
        write_synthetic_part(work / "heldout", models, args.heldout_size, seed=HELDOUT_SEED)
        print(assemble_set(work / "heldout"))
        _write_json(work / "data_info.json", {"train_images": args.train_size, "heldout_images": args.heldout_size,
                                              "seconds": round(time.time() - t0, 1)})
    if args.step in ("train", "build-all"):
        info = train_checkpoint(work, args.steps, Path(args.assets) / "demo_smpler_x.pth.tar", args.pretrain_steps)
        _write_json(work / "train_info.json", info)
        print(f"trained {info['steps']} steps in {info['seconds']:.0f} s")
    if args.step in ("eval", "build-all"):
        ckpt = Path(args.assets) / "demo_smpler_x.pth.tar"
        heldout = evaluate_heldout(ckpt, work / "heldout", models)
        info = json.loads((work / "train_info.json").read_text())
        data_info = json.loads((work / "data_info.json").read_text())
        baseline = mean_pose_baseline(work / "heldout", models)
        print(write_card(Path(args.assets) / "demo_card.json", info, heldout, data_info, baseline))
        print(json.dumps(heldout, indent=1))
    return 0


def _write_json(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("step", choices=["build-all", "video", "data", "train", "eval"])
    p.add_argument("--work", default="build/demo", help="scratch folder (mannequin, images, training run)")
    p.add_argument("--assets", default=str(ASSETS), help="where the shipped files go")
    p.add_argument("--train-size", type=int, default=4800, help="synthetic training images (split over TRAIN_SEEDS)")
    p.add_argument("--heldout-size", type=int, default=100, help="held-out images (other seed)")
    p.add_argument("--steps", type=int, help="stage-2 training iterations (default and maximum: the config's "
                                              "total_data_len / train_batch_size)")
    p.add_argument("--pretrain-steps", type=int, default=PRETRAIN_STEPS,
                   help="stage-1 iterations (the encoder's heat-map pre-training)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    return _cmd(args)


if __name__ == "__main__":
    sys.exit(main())
