"""Generated motions with known foot contacts, filmed by a known camera, and regressor-like noise.

Each motion is a contact schedule per foot plus joint angles; the root's path is solved so that a planted foot's
centre never moves and its lowest sole point stays at Z = 0 (the legs hold still during double support, and the
ankles keep the feet flat), and flights are ballistic. Bench (bench/ground.py) and tests (tests/test_ground.py) use it.

World: Z up, floor Z = 0, metres. The camera stands `DISTANCE` m behind the origin (−Y), `HEIGHT` m up, looking
along +Y pitched `PITCH_DEG` down. Yaw 0 faces the camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

FPS = 30.0
HEIGHT, DISTANCE, PITCH_DEG = 1.3, 4.5, 12.0
MODEL_TO_WORLD = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # SMPL-X model (Y up, facing +Z) → world (Z up)
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 0, 1, 3, 4, 6, 7  # body_pose rows
MOTIONS = ("walk", "side_steps", "turn", "one_leg", "jump")


def camera_to_world() -> np.ndarray:
    """(4,4) OpenCV camera → world of the filming camera."""
    p = np.radians(PITCH_DEG)
    x, z = np.array([1.0, 0, 0]), np.array([0.0, np.cos(p), -np.sin(p)])
    out = np.eye(4)
    out[:3, :3] = np.stack([x, np.cross(z, x), z], 1)
    out[:3, 3] = [0.0, -DISTANCE, HEIGHT]
    return out


@dataclass
class Script:
    """Angles and schedule of a motion: hip/knee rotation vectors per leg (N,2,3), yaw (N,), contacts (N,2)."""

    hip: np.ndarray
    knee: np.ndarray
    yaw: np.ndarray
    contacts: np.ndarray
    flight_velocity: float = 0.0  # m/s forward during flights


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


def _gait(n_steps: int, axis: int, states: list[tuple[float, float]], single: int, double: int, lift: float,
          yaw_per_step: float = 0.0, yaw0: float = 0.0) -> Script:
    """Alternating steps: double-support poses `states[k % len]` = (left, right) hip angles about `axis`, single
    support of `single` frames moving the stance hip to the next state while the swing leg lifts its knee."""
    frames = double + n_steps * (single + double)
    hip, knee = np.zeros((frames, 2, 3)), np.zeros((frames, 2, 3))
    yaw, contacts = np.full(frames, yaw0), np.ones((frames, 2), bool)
    t = 0
    cur = states[0]
    hip[:double, 0, axis], hip[:double, 1, axis] = cur
    t = double
    for k in range(n_steps):
        nxt = states[(k + 1) % len(states)]
        swing = 1 - k % 2  # right foot swings first
        s = _smoothstep((np.arange(single) + 1) / single)
        for leg in range(2):
            hip[t:t + single, leg, axis] = cur[leg] + (nxt[leg] - cur[leg]) * s
        knee[t:t + single, swing, 0] = lift * np.sin(np.pi * (np.arange(single) + 1) / (single + 1))
        contacts[t:t + single, swing] = False
        yaw[t:t + single] = yaw[t - 1] + yaw_per_step * s
        t += single
        hip[t:t + double, 0, axis], hip[t:t + double, 1, axis] = nxt
        yaw[t:t + double] = yaw[t - 1]
        t += double
        cur = nxt
    return Script(hip, knee, yaw, contacts)


def _level_offset(fm, a: float) -> float:
    """δ such that straight legs at hip angles −a + δ and a + δ (about x) put flat feet at the same height (the
    mannequin's legs are not vertical at rest, so ±a alone leaves one foot a centimetre lower)."""
    from scipy.optimize import brentq

    from core.ground import pose_track
    from core.motion import MotionTrack

    def height(angle: float) -> float:
        pose = np.zeros((1, 21, 3))
        pose[0, L_HIP, 0] = angle
        pose[0, L_ANKLE] = Rotation.from_rotvec(pose[0, L_HIP]).inv().as_rotvec()
        z = np.zeros((1, 3))
        track = MotionTrack(track_id=0, frames=[0], times=[0.0], global_orient=z, body_pose=pose,
                            left_hand_pose=np.zeros((1, 15, 3)), right_hand_pose=np.zeros((1, 15, 3)), jaw_pose=z,
                            betas=np.zeros((1, 10)), expression=np.zeros((1, 10)), transl=z, boxes=[[0, 0, 1, 1]],
                            scores=[1.0])
        return float(pose_track(fm, track)[1][0, 0, :, 1].min())

    return brentq(lambda d: height(-a + d) - height(a + d), -0.3, 0.3, xtol=1e-9)


def script(name: str, fm) -> Script:
    """The angles and contact schedule of one of MOTIONS (`fm`: the body's `core.ground.FootModel`)."""
    if name == "walk":  # diagonal walk, stance hip from forward to behind
        a = 0.22
        d = _level_offset(fm, a)
        return _gait(8, 0, [(-a + d, a + d), (a + d, -a + d)], single=13, double=4, lift=0.9,
                     yaw0=np.radians(-60))
    if name == "side_steps":  # feet together → apart (right foot out) → together (left foot in): moving sideways
        b = 0.14
        return _gait(8, 2, [(0.0, 0.0), (b, -b)], single=12, double=5, lift=0.7, yaw0=np.radians(15))
    if name == "turn":  # stepping turn on the spot: 180° in 8 steps
        return _gait(8, 0, [(0.0, 0.0)], single=12, double=5, lift=0.7, yaw_per_step=np.pi / 8)
    n = 150
    hip, knee = np.zeros((n, 2, 3)), np.zeros((n, 2, 3))
    contacts = np.ones((n, 2), bool)
    t = np.arange(n) / FPS
    if name == "one_leg":  # right foot lifted from frame 30 to 125, the body over the left foot, swaying
        up = _smoothstep((np.arange(n) - 30) / 10) * (1 - _smoothstep((np.arange(n) - 115) / 10))
        hip[:, 1, 0], knee[:, 1, 0] = -0.7 * up, 1.1 * up
        hip[:, 0, 2] = (-0.1 + 0.05 * np.sin(2 * np.pi * 0.5 * t)) * up  # pelvis over the stance foot
        contacts[:, 1] = up == 0
        return Script(hip, knee, np.full(n, np.radians(20)), contacts)
    if name == "jump":  # squat, push off, fly 12 frames forward, land, stand up
        squat = np.zeros(n)
        squat[20:45] = _smoothstep((np.arange(25) + 1) / 25)
        squat[45:53] = 1 - _smoothstep((np.arange(8) + 1) / 8)
        squat[65:75] = 0.6 * _smoothstep((np.arange(10) + 1) / 10)
        squat[75:105] = 0.6 * (1 - _smoothstep((np.arange(30) + 1) / 30))
        hip[:, :, 0], knee[:, :, 0] = -0.6 * squat[:, None], 1.2 * squat[:, None]
        contacts[53:65] = False
        return Script(hip, knee, np.full(n, np.radians(-30)), contacts, flight_velocity=0.8)
    raise ValueError(f"unknown motion {name!r}; expected one of {MOTIONS}")


def _body_pose(sc: Script, rng: np.random.Generator) -> np.ndarray:
    """(N,21,3): legs from the script with flat feet (ankle = inverse of hip·knee), a swaying upper body."""
    n = len(sc.yaw)
    pose = np.zeros((n, 21, 3))
    t = np.arange(n) / FPS
    for leg, (h, k, a) in enumerate(((L_HIP, L_KNEE, L_ANKLE), (R_HIP, R_KNEE, R_ANKLE))):
        hip, kn = Rotation.from_rotvec(sc.hip[:, leg]), Rotation.from_rotvec(sc.knee[:, leg])
        pose[:, h], pose[:, k] = sc.hip[:, leg], sc.knee[:, leg]
        pose[:, a] = (hip * kn).inv().as_rotvec()
    for row in (2, 5, 8, 11, 14):  # spine, neck, head
        pose[:, row] = 0.08 * np.sin(2 * np.pi * rng.uniform(0.2, 0.7, 3) * t[:, None] + rng.uniform(0, 6, 3))
    pose[:, 15, 2], pose[:, 16, 2] = -1.1, 1.1  # arms down
    pose[:, 15:21] += 0.2 * np.sin(2 * np.pi * 0.8 * t[:, None, None] + rng.uniform(0, 6, (1, 6, 3)))
    return pose


@dataclass
class Truth:
    """A generated motion: the true clip (camera frame), its world transform and true contacts (N,2)."""

    clip: object
    camera_to_world: np.ndarray
    contacts: np.ndarray


def generate(name: str, fm, seed: int = 0, betas: np.ndarray | None = None) -> Truth:
    """The true motion `name` as a MotionClip in the camera of `camera_to_world()` (640×480, f = 600 px).

    Args:
        fm: `core.ground.foot_model` of the body model (the solve uses its sole points).
    """
    from core.ground import pose_track
    from core.motion import MotionClip, MotionTrack

    rng = np.random.default_rng(seed)
    sc = script(name, fm)
    n = len(sc.yaw)
    betas = np.zeros(10) if betas is None else betas
    orient_w = Rotation.from_euler("z", sc.yaw[:, None]) * Rotation.from_matrix(MODEL_TO_WORLD)
    body = _body_pose(sc, rng)
    j0 = fm.joints[0] + fm.joint_dirs[0] @ betas
    zeros = np.zeros((n, 3))
    local = MotionTrack(track_id=0, frames=np.arange(n), times=np.arange(n) / FPS,
                        global_orient=orient_w.as_rotvec(), body_pose=body, left_hand_pose=np.zeros((n, 15, 3)),
                        right_hand_pose=np.zeros((n, 15, 3)), jaw_pose=zeros, betas=np.tile(betas, (n, 1)),
                        expression=np.zeros((n, 10)), transl=np.tile(-j0, (n, 1)), boxes=np.tile([0, 0, 1, 1], (n, 1)),
                        scores=np.ones(n))
    _, soles = pose_track(fm, local)  # world axes, root at the origin
    root = _solve_root(soles, sc)
    root[:, :2] -= root[:, :2].mean(0)  # the motion centred in front of the camera
    world = camera_to_world()
    rot, cam = world[:3, :3], world[:3, 3]
    root_c = (root - cam) @ rot
    orient_c = Rotation.from_matrix(rot.T) * orient_w
    track = local.replace(global_orient=orient_c.as_rotvec(), transl=root_c - j0, contacts=sc.contacts)
    joints_c, soles_c = pose_track(fm, track)
    track = track.replace(boxes=_boxes(joints_c, soles_c, rng))
    clip = MotionClip(fps=FPS, num_frames=n, image_size=(640, 480), focal=np.array([600.0, 600.0]),
                      princpt=np.array([319.5, 239.5]), tracks=[track], camera_to_world=world)
    return Truth(clip, world, sc.contacts.copy())


def _boxes(joints_c: np.ndarray, soles_c: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N,4) detector-like person boxes: around the projected joints and soles (the head's top 12 cm above the
    head joint), each edge off by 2 px of noise."""
    pts = np.concatenate([joints_c, soles_c.reshape(len(joints_c), 4, 3), joints_c[:, 15:16] - [0, 0.12, 0]], 1)
    u = 600 * pts[..., 0] / pts[..., 2] + 319.5
    v = 600 * pts[..., 1] / pts[..., 2] + 239.5
    box = np.stack([u.min(1) - 8, v.min(1), u.max(1) + 8, v.max(1)], 1)
    return box + rng.normal(0, 2, box.shape)


def _solve_root(soles: np.ndarray, sc: Script) -> np.ndarray:
    """(N,3) world root positions keeping each planted foot's centre fixed and lowest point at Z = 0."""
    n = len(soles)
    centre, low = soles.mean(2), soles[..., 2].min(2)
    root = np.zeros((n, 3))
    anchors: dict[int, np.ndarray] = {}
    since = {0: -1, 1: -1}
    for t in range(n):
        for f in range(2):
            if not sc.contacts[t, f]:
                anchors.pop(f, None)
            elif f not in anchors:
                since[f] = t
        planted = [f for f in range(2) if sc.contacts[t, f]]
        if planted:
            driver = min((f for f in planted if f in anchors), key=lambda f: since[f], default=planted[0])
            if driver not in anchors:  # start, or landing: put the foot where the body comes down
                guess = root[t - 1] if t else np.zeros(3)
                anchors[driver] = np.r_[guess[:2] + centre[t, driver, :2], 0.0]
            root[t, :2] = anchors[driver][:2] - centre[t, driver, :2]
            root[t, 2] = -low[t, driver]
            for f in planted:
                anchors.setdefault(f, np.r_[root[t, :2] + centre[t, f, :2], 0.0])
        else:
            root[t] = _flight(t, root, low, sc)
    return root


def _flight(t: int, root: np.ndarray, low: np.ndarray, sc: Script) -> np.ndarray:
    """Ballistic root position at flight frame t (take-off at the last planted frame, landing on the next one)."""
    start = t
    while not sc.contacts[start - 1].any():
        start -= 1
    end = t
    while not sc.contacts[end].any():
        end += 1
    dt = 1 / FPS
    duration = (end - start + 1) * dt
    z0, z1 = root[start - 1, 2], -low[end].min()
    v0 = (z1 - z0 + 0.5 * 9.81 * duration**2) / duration
    tau = (t - start + 1) * dt
    forward = np.array([-np.sin(sc.yaw[t]), -np.cos(sc.yaw[t])])  # facing direction (model +Z) on the floor
    xy = root[start - 1, :2] + forward * sc.flight_velocity * tau
    return np.r_[xy, z0 + v0 * tau - 0.5 * 9.81 * tau**2]


def add_noise(clip, seed: int, depth_jitter: float = 0.03, depth_drift: float = 0.05, rot_deg: float = 2.0,
              side: float = 0.01):
    """Regressor-like noise: per-frame rotation noise on every body joint and the root (white + slowly varying),
    1 cm of sideways jitter, `depth_jitter` m of white depth noise plus a slow `depth_drift` m depth error, and
    per-frame shape noise. Returns a new clip (same frames)."""
    rng = np.random.default_rng(seed)
    tracks = []
    for tr in clip.tracks:
        n = len(tr)
        t = tr.times[:, None]
        slow = np.sin(2 * np.pi * rng.uniform(0.1, 0.4, (1, 22, 3)) * t[:, :, None] + rng.uniform(0, 6, (1, 22, 3)))
        noise = np.radians(rot_deg) * (rng.normal(0, 1, (n, 22, 3)) + slow)
        pose = np.concatenate([tr.global_orient[:, None], tr.body_pose], 1)
        noisy = (Rotation.from_rotvec(pose.reshape(-1, 3)) * Rotation.from_rotvec(noise.reshape(-1, 3)))
        noisy = noisy.as_rotvec().reshape(n, 22, 3)
        drift = depth_drift * np.sin(2 * np.pi * rng.uniform(0.15, 0.3) * t[:, 0] + rng.uniform(0, 6))
        dz = rng.normal(0, depth_jitter, n) + drift
        root = tr.transl.astype(np.float64)
        # depth noise moves the body along its viewing ray (the root keeps its pixel, as the network's re-projection)
        transl = root * (1 + dz / root[:, 2])[:, None] + np.c_[rng.normal(0, side, (n, 2)), np.zeros(n)]
        tracks.append(tr.replace(global_orient=noisy[:, 0], body_pose=noisy[:, 1:], transl=transl,
                                 betas=tr.betas + rng.normal(0, 0.1, tr.betas.shape),
                                 contacts=np.zeros((n, 2), bool)))
    return clip.replace(tracks=tracks, camera_to_world=np.eye(4))


def _to_world(world: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ world[:3, :3].T + world[:3, 3]


def evaluate(name: str, model_arrays: dict, seed: int = 0, mode: str = "auto", **noise) -> dict:
    """One generated motion through noise → `core.smooth.smooth_clip` (default strengths) → `core.ground.ground_clip`.

    Returns:
        floor height (camera height) and tilt errors; per stage ("raw" noisy input, "smoothed", "final") the foot
        skate during the true contacts (mm/frame), penetration and floating against the clip's floor (mm), MPJPE
        (22 body joints, pelvis-aligned) and root position error (camera frame) in mm; contact precision and recall.
    """
    from core.ground import foot_metrics, foot_model, ground_clip, GroundOptions, pose_track
    from core.smooth import smooth_clip

    fm = foot_model(model_arrays)
    truth = generate(name, fm, seed)
    noisy = add_noise(truth.clip, seed + 100, **noise)
    smoothed = smooth_clip(noisy)
    final = ground_clip(smoothed, model_arrays, GroundOptions(mode=mode), raw=noisy)
    world = final.camera_to_world
    true_world = truth.camera_to_world
    true_joints, _ = pose_track(fm, truth.clip.tracks[0])
    out: dict = {"motion": name, "frames": len(truth.contacts)}
    up_est, up_true = world[2, :3], true_world[2, :3]
    out["floor_tilt_deg"] = float(np.degrees(np.arccos(np.clip(up_est @ up_true, -1, 1))))
    out["floor_height_mm"] = float(abs(world[2, 3] - true_world[2, 3]) * 1000)
    for stage, clip in (("raw", noisy), ("smoothed", smoothed), ("final", final)):
        joints, soles = pose_track(fm, clip.tracks[0])
        m = foot_metrics(_to_world(world, soles), truth.contacts, clip.tracks[0].frames)
        rel, true_rel = joints - joints[:, :1], true_joints - true_joints[:, :1]
        m["mpjpe_mm"] = float(np.linalg.norm(rel - true_rel, axis=-1).mean() * 1000)
        m["root_error_mm"] = float(np.linalg.norm(joints[:, 0] - true_joints[:, 0], axis=-1).mean() * 1000)
        out[stage] = m
    found = final.tracks[0].contacts
    tp = (found & truth.contacts).sum()
    out["contact_precision"] = float(tp / max(found.sum(), 1))
    out["contact_recall"] = float(tp / max(truth.contacts.sum(), 1))
    return out


def sample_truth_world() -> np.ndarray:
    """(4,4) camera → world of assets/sample.mp4: a level camera `training.demo.CAMERA_HEIGHT` m above the floor."""
    from training.demo import CAMERA_HEIGHT

    out = np.eye(4)
    out[:3, :3] = [[1.0, 0, 0], [0, 0, 1], [0, -1, 0]]
    out[2, 3] = CAMERA_HEIGHT
    return out


def smplx_height(model_dir, betas: np.ndarray) -> np.ndarray:
    """(N,) standing heights (metres) of (N,10) or (10,) betas by smplx's own forward pass (zero pose, flat hands,
    no expression): the independent reference for core.height."""
    import smplx
    import torch

    model = smplx.create(str(model_dir), model_type="smplx", gender="neutral", ext="npz", use_pca=False,
                         flat_hand_mean=True, num_betas=10, num_expression_coeffs=10)
    out = []
    for row in np.atleast_2d(betas):  # smplx's defaults for the other inputs have a batch of one
        with torch.no_grad():
            y = model(betas=torch.as_tensor(row[None], dtype=torch.float32)).vertices[0, :, 1].numpy()
        out.append(float(y.max() - y.min()))
    return np.array(out)


def sample_errors(before, after, truth, model_arrays: dict) -> dict:
    """The ground stage on the sample video against its true motion.

    Args:
        before: the smoothed clip (pipeline without the ground stage); after: the grounded clip; truth: the true
            clip (assets/sample_motion.npz), whose lowest vertex touches the floor on every frame.

    Returns:
        floor tilt (deg), camera height error and floor height error under the person (mm: the estimated height of
        the true lowest sole points, which lie on the floor); per stage ("smoothed", "final") the root position error
        and MPJPE against the truth (mm) and the foot metrics against the estimated floor with the detected contacts;
        "truth_skate_mm_per_frame": the true motion's own foot skate on those contacts (the sample's feet slide).
    """
    from core.ground import foot_metrics, foot_model, pose_track

    fm = foot_model(model_arrays)
    world, true_world = after.camera_to_world, sample_truth_world()
    track = after.tracks[0]
    true_track = truth.tracks[0].select(np.isin(truth.tracks[0].frames, track.frames))
    true_joints, true_soles = pose_track(fm, true_track)
    lowest = _to_world(world, true_soles)[..., 2].min((1, 2))
    out = {"frames": len(track),
           "floor_tilt_deg": float(np.degrees(np.arccos(np.clip(world[2, :3] @ true_world[2, :3], -1, 1)))),
           "camera_height_error_mm": float(abs(world[2, 3] - true_world[2, 3]) * 1000),
           "floor_height_error_mm": float(np.abs(lowest).mean() * 1000)}
    contacts = track.contacts
    for stage, clip in (("smoothed", before), ("final", after)):
        joints, soles = pose_track(fm, clip.track(track.track_id).select(np.isin(clip.track(track.track_id).frames,
                                                                                   track.frames)))
        m = foot_metrics(_to_world(world, soles), contacts, track.frames)
        rel, true_rel = joints - joints[:, :1], true_joints - true_joints[:, :1]
        m["mpjpe_mm"] = float(np.linalg.norm(rel - true_rel, axis=-1).mean() * 1000)
        m["root_error_mm"] = float(np.linalg.norm(joints[:, 0] - true_joints[:, 0], axis=-1).mean() * 1000)
        out[stage] = m
    out["truth_skate_mm_per_frame"] = foot_metrics(_to_world(true_world, true_soles), contacts,
                                                   track.frames)["foot_skate_mm_per_frame"]
    out["contact_fraction"] = float(contacts.mean())
    return out
