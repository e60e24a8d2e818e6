"""Mannequin geometry: a skeleton with SMPL-X's 55 joints and closed tapered tubes along its bones (numpy only).

Frame: Y up, metres, facing +Z, the subject's left = +X, T-pose, pelvis at the origin. Every part is a closed
tube (rings of vertices around a polyline, capped by a pole at each end); each joint of the skeleton is the
centre of one ring, so a uniform average over that ring regresses the joint exactly. Topology (ring and segment
counts) never depends on the proportions, which is what lets `mannequin.py` take shape blend shapes as
differences of two builds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .joint_names import JOINT_NAMES

NUM_VERTICES = 10475
FLAME_VERTICES = 5023     # head vertices in SMPL-X (the FLAME head); the mannequin's head region has exactly this many
_J = {name: i for i, name in enumerate(JOINT_NAMES)}
_FINGERS = ("thumb", "index", "middle", "ring", "pinky")


@dataclass(frozen=True)
class Proportions:
    """Body proportions: dimensionless factors on the designed dimensions (the neutral body has height 0.985)."""

    height: float = 1.0          # uniform scale of the whole body about the pelvis
    girth: float = 1.0           # radii of torso and limbs
    leg_length: float = 1.0
    shoulder_width: float = 1.0
    arm_length: float = 1.0
    torso_length: float = 1.0
    hip_width: float = 1.0
    head_size: float = 1.0
    belly: float = 1.0           # front-back depth of the abdomen
    muscle: float = 1.0          # radii of upper arms, forearms, thighs and calves
    chest: float = 1.0           # front-back depth of the chest
    bust: float = 0.0            # forward bulge of the chest front (0 flat, 1 female)


GENDER_PROPORTIONS = {
    "neutral": Proportions(height=0.985, bust=0.3),
    "male": Proportions(height=1.02, girth=1.03, shoulder_width=1.08, hip_width=0.95, muscle=1.06,
                        head_size=1.02, chest=1.03),
    "female": Proportions(height=0.95, girth=0.96, shoulder_width=0.9, hip_width=1.1, muscle=0.93,
                          head_size=0.98, chest=1.02, leg_length=1.02, belly=0.95, bust=1.0),
}

# Per unit of beta: the change of each Proportions field (betas 0..9). Kept to ~1 standard deviation of adults.
BETA_DIRECTIONS: tuple[dict[str, float], ...] = (
    {"height": 0.04},
    {"girth": 0.08, "belly": 0.08},
    {"leg_length": 0.05},
    {"shoulder_width": 0.06},
    {"arm_length": 0.05},
    {"torso_length": 0.05},
    {"hip_width": 0.07},
    {"head_size": 0.05},
    {"belly": 0.12},
    {"muscle": 0.1},
)


def shifted(p: Proportions, delta: dict[str, float]) -> Proportions:
    """`p` with `delta` added to its fields."""
    return replace(p, **{k: getattr(p, k) + v for k, v in delta.items()})


# --------------------------------------------------------------------------------------------------------------
# Skeleton
# --------------------------------------------------------------------------------------------------------------

# Finger layout of the LEFT hand relative to the wrist (metres): knuckle offset and the three segment lengths
# (the last one reaches the tip). Fingers point along +x, the palm faces -y, the thumb points forward (+z).
_FINGER_BASE = {
    "index": ((0.092, -0.002, 0.026), (0.038, 0.024, 0.022)),
    "middle": ((0.095, -0.002, 0.006), (0.042, 0.027, 0.024)),
    "ring": ((0.091, -0.002, -0.013), (0.039, 0.026, 0.022)),
    "pinky": ((0.083, -0.003, -0.031), (0.031, 0.020, 0.020)),
}
_THUMB_BASE = (0.024, -0.012, 0.022)
_THUMB_DIR = (0.62, -0.12, 0.775)
_THUMB_LEN = (0.036, 0.031, 0.026)


def design_skeleton(p: Proportions) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Joint positions (55,3) metres plus extra design points (finger tips, toe ends) for proportions `p`."""
    j = np.zeros((55, 3))
    extra: dict[str, np.ndarray] = {}
    leg, torso, arm, sw, hw = p.leg_length, p.torso_length, p.arm_length, p.shoulder_width, p.hip_width

    def put(name: str, xyz) -> None:
        j[_J[name]] = xyz

    put("pelvis", (0.0, 0.0, 0.0))
    put("spine1", (0.0, 0.105 * torso, -0.008))
    put("spine2", (0.0, 0.225 * torso, -0.002))
    put("spine3", (0.0, 0.325 * torso, 0.004))
    top = 0.325 * torso
    put("neck", (0.0, top + 0.175, -0.012))
    put("head", (0.0, top + 0.27, 0.004))
    put("jaw", (0.0, top + 0.258, 0.032))
    for side, sx in (("left", 1.0), ("right", -1.0)):
        put(f"{side}_hip", (sx * 0.088 * hw, -0.082, 0.002))
        put(f"{side}_knee", (sx * 0.095 * hw, -0.082 - 0.395 * leg, 0.012))
        put(f"{side}_ankle", (sx * 0.1 * hw, -0.082 - 0.78 * leg, -0.022))
        put(f"{side}_foot", (sx * 0.108 * hw, -0.082 - 0.83 * leg, 0.1))
        extra[f"{side}_toe_end"] = np.array((sx * 0.112 * hw, -0.082 - 0.835 * leg, 0.155))
        put(f"{side}_collar", (sx * 0.075 * sw, top + 0.1, -0.015))
        sh = np.array((sx * 0.175 * sw, top + 0.115, -0.022))
        put(f"{side}_shoulder", sh)
        el = sh + np.array((sx * 0.26 * arm, 0.0, -0.006))
        wr = el + np.array((sx * 0.245 * arm, 0.0, 0.0))
        put(f"{side}_elbow", el)
        put(f"{side}_wrist", wr)
        eye = j[_J["head"]] + np.array((sx * 0.032, 0.088, 0.096)) * p.head_size
        put(f"{side}_eye_smplhf", eye)
        for finger, (base, lengths) in _FINGER_BASE.items():
            pos = wr + np.array((sx * base[0], base[1], base[2]))
            for k in range(3):
                put(f"{side}_{finger}{k + 1}", pos)
                pos = pos + np.array((sx * lengths[k], -0.0015, 0.0))
            extra[f"{side}_{finger}_tip"] = pos
        pos = wr + np.array((sx * _THUMB_BASE[0], _THUMB_BASE[1], _THUMB_BASE[2]))
        d = np.array((sx * _THUMB_DIR[0], _THUMB_DIR[1], _THUMB_DIR[2]))
        d /= np.linalg.norm(d)
        for k in range(3):
            put(f"{side}_thumb{k + 1}", pos)
            pos = pos + d * _THUMB_LEN[k]
        extra[f"{side}_thumb_tip"] = pos
    # The head scales about the head joint.
    head = j[_J["head"]].copy()
    for name in ("jaw",):
        j[_J[name]] = head + (j[_J[name]] - head) * p.head_size
    j *= p.height
    return j, {k: v * p.height for k, v in extra.items()}


# --------------------------------------------------------------------------------------------------------------
# Tubes
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Part:
    """One closed tube: its vertices (n,3), faces (m,3) (local indices), weights (n,55) and bookkeeping."""

    name: str
    region: str                   # "body", "head", "left_hand", "right_hand"
    vertices: np.ndarray
    faces: np.ndarray
    weights: np.ndarray
    rings: list[np.ndarray] = field(default_factory=list)   # local vertex ids of the ring at each control point
    start_pole: int = 0
    end_pole: int = 0
    segs: int = 0


def _smooth(x: np.ndarray) -> np.ndarray:
    """Smoothstep from 0 (x <= -1) to 1 (x >= 1)."""
    t = np.clip((x + 1.0) / 2.0, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def tube(
    name: str,
    region: str,
    ctrl: np.ndarray,
    radii: np.ndarray,
    rings_per_seg: list[int],
    segs: int,
    ref,
    owners: list[int],
    blend: list[float],
    cap_start: tuple[int, float],
    cap_end: tuple[int, float],
    poles: tuple[np.ndarray, np.ndarray] | None = None,
) -> Part:
    """A closed tube through control points.

    Args:
        ctrl: (n,3) ring centres at the control points, metres; joints sit at control points.
        radii: (n,2) ring semi-axes along (u, w), u = `ref` made perpendicular to the axis, w = axis × u.
        rings_per_seg: (n-1,) number of rings between consecutive control points (excluding both ends).
        segs: vertices per ring.
        owners: (n+1,) joint index owning the start cap, each segment and the end cap.
        blend: (n,) half-width in metres of the weight blend at each control point (0: hard switch).
        cap_start, cap_end: (number of cap rings, cap length in metres) at each end.
        poles: explicit (start, end) pole positions (default: the cap length along the end segments).
    """
    ctrl = np.asarray(ctrl, float)
    radii = np.asarray(radii, float)
    ref = np.asarray(ref, float)
    n = len(ctrl)
    seg_dirs = np.diff(ctrl, axis=0)
    seg_len = np.linalg.norm(seg_dirs, axis=1)
    seg_dirs = seg_dirs / seg_len[:, None]
    s_ctrl = np.concatenate([[0.0], np.cumsum(seg_len)])

    centres, rad, dirs, s_ring = [], [], [], []
    ctrl_ring_idx = []
    # start cap rings (from the pole side inwards)
    n_cap, cap_len = cap_start
    d0 = seg_dirs[0]
    for k in range(n_cap, 0, -1):
        phi = k / (n_cap + 1) * np.pi / 2
        centres.append(ctrl[0] - d0 * cap_len * np.sin(phi))
        rad.append(radii[0] * np.cos(phi))
        dirs.append(d0)
        s_ring.append(-cap_len * np.sin(phi))
    for i in range(n):
        if i == 0:
            d = seg_dirs[0]
        elif i == n - 1:
            d = seg_dirs[-1]
        else:
            d = seg_dirs[i - 1] + seg_dirs[i]
            d = d / np.linalg.norm(d)
        ctrl_ring_idx.append(len(centres))
        centres.append(ctrl[i])
        rad.append(radii[i])
        dirs.append(d)
        s_ring.append(s_ctrl[i])
        if i < n - 1:
            m = rings_per_seg[i]
            for k in range(1, m + 1):
                t = k / (m + 1)
                centres.append(ctrl[i] * (1 - t) + ctrl[i + 1] * t)
                rad.append(radii[i] * (1 - t) + radii[i + 1] * t)
                dirs.append(seg_dirs[i])
                s_ring.append(s_ctrl[i] + t * seg_len[i])
    n_cap, cap_len = cap_end
    d1 = seg_dirs[-1]
    for k in range(1, n_cap + 1):
        phi = k / (n_cap + 1) * np.pi / 2
        centres.append(ctrl[-1] + d1 * cap_len * np.sin(phi))
        rad.append(radii[-1] * np.cos(phi))
        dirs.append(d1)
        s_ring.append(s_ctrl[-1] + cap_len * np.sin(phi))

    n_rings = len(centres)
    theta = 2 * np.pi * np.arange(segs) / segs
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    verts = np.empty((n_rings * segs + 2, 3))
    d = np.asarray(dirs)
    u = ref - (d @ ref)[:, None] * d
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    w = np.cross(d, u)
    rad = np.asarray(rad)
    ring_pts = (np.asarray(centres)[:, None, :] + (rad[:, 0, None] * cos_t)[:, :, None] * u[:, None, :]
                + (rad[:, 1, None] * sin_t)[:, :, None] * w[:, None, :])
    verts[:n_rings * segs] = ring_pts.reshape(-1, 3)
    start_pole = n_rings * segs
    end_pole = start_pole + 1
    verts[start_pole] = ctrl[0] - d0 * cap_start[1] if poles is None else poles[0]
    verts[end_pole] = ctrl[-1] + d1 * cap_end[1] if poles is None else poles[1]
    s_vert = np.concatenate([np.repeat(s_ring, segs), [-cap_start[1], s_ctrl[-1] + cap_end[1]]])

    faces = []
    k = np.arange(segs)
    k1 = (k + 1) % segs
    for r in range(n_rings - 1):
        a0, a1 = r * segs + k, r * segs + k1
        b0, b1 = (r + 1) * segs + k, (r + 1) * segs + k1
        faces.append(np.stack([a0, a1, b0], 1))
        faces.append(np.stack([a1, b1, b0], 1))
    faces.append(np.stack([k1, k, np.full(segs, start_pole)], 1))
    last = (n_rings - 1) * segs
    faces.append(np.stack([last + k, last + k1, np.full(segs, end_pole)], 1))
    faces = np.concatenate(faces).astype(np.int64)

    # Skinning: a smooth partition of unity over the regions between control points.
    bounds = s_ctrl
    ind = np.ones((len(owners), len(s_vert)))
    for i, b in enumerate(bounds):
        h = max(blend[i], 1e-6)
        step = _smooth((s_vert - b) / h)
        ind[: i + 1] *= 1.0 - step
        ind[i + 1:] *= step
    weights = np.zeros((len(s_vert), 55))
    for region_idx, joint in enumerate(owners):
        weights[:, joint] += ind[region_idx]
    weights /= weights.sum(1, keepdims=True)

    rings = [np.arange(i * segs, (i + 1) * segs) for i in ctrl_ring_idx]
    return Part(name, region, verts, faces, weights, rings, start_pole, end_pole, segs)


def ellipsoid(name: str, region: str, centre, axis, half_len: float, radii, n_rings: int, segs: int, ref,
              joint: int) -> Part:
    """A closed ellipsoid along `axis` (n_rings odd puts a ring through the centre), rigidly skinned to `joint`."""
    centre = np.asarray(centre, float)
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    phi = np.pi * np.arange(1, n_rings + 1) / (n_rings + 1)
    ctrl = centre - np.outer(np.cos(phi), axis) * half_len
    rad = np.outer(np.sin(phi), np.asarray(radii, float))
    cap = half_len * (1 - np.cos(phi[0]))
    return tube(name, region, ctrl, rad, [0] * (n_rings - 1), segs, ref, [joint] * (n_rings + 1),
                [0.0] * n_rings, (0, cap), (0, cap))


# --------------------------------------------------------------------------------------------------------------
# The body
# --------------------------------------------------------------------------------------------------------------


@dataclass
class BodyBuild:
    """Concatenated parts in generation order (before `mannequin.py` reorders vertices)."""

    parts: list[Part]
    joints: np.ndarray                  # (55,3) designed joint positions, metres
    extra: dict[str, np.ndarray]        # designed landmark points
    regressor_rings: dict[int, tuple[str, int]]   # joint → (part name, control-point ring index)

    def part(self, name: str) -> Part:
        return next(p for p in self.parts if p.name == name)

    def offsets(self) -> dict[str, int]:
        out, o = {}, 0
        for p in self.parts:
            out[p.name] = o
            o += len(p.vertices)
        return out

    def vertices(self) -> np.ndarray:
        return np.concatenate([p.vertices for p in self.parts])

    def faces(self) -> np.ndarray:
        off = self.offsets()
        return np.concatenate([p.faces + off[p.name] for p in self.parts])

    def weights(self) -> np.ndarray:
        return np.concatenate([p.weights for p in self.parts])


@dataclass(frozen=True)
class Resolution:
    """Ring/segment counts that make the total exactly NUM_VERTICES (chosen once, shared by all builds)."""

    skull_rings: int
    skull_segs: int
    ear_rings: int
    eye_rings: int        # odd, so that a ring passes through the eye joint
    torso_segs: int = 40
    torso_rings: tuple[int, ...] = (3, 3, 1, 1, 2, 1)   # rings between consecutive torso control points
    leg_extra: int = 0    # extra rings in each calf
    palm_extra: int = 0   # extra rings in each palm


def _lerp(a, b, t):
    return np.asarray(a) * (1 - t) + np.asarray(b) * t


def build_body(p: Proportions, res: Resolution) -> BodyBuild:
    """All parts of the mannequin for proportions `p` (topology fixed by `res`)."""
    J, extra = design_skeleton(p)
    g, m, hs = p.girth * p.height, p.muscle * p.girth * p.height, p.head_size * p.height
    parts: list[Part] = []
    reg: dict[int, tuple[str, int]] = {}
    Z = np.array([0.0, 0.0, 1.0])

    # Torso: pelvis → spine1 → spine2 → (bust) → spine3 → (upper chest) → shoulder line.
    sp2, sp3 = J[_J["spine2"]], J[_J["spine3"]]
    top = sp3 + np.array([0, 0.135, -0.012]) * p.height
    bust = _lerp(sp2, sp3, 0.6) + np.array([0.0, 0.0, 0.012 * p.bust]) * g
    ctrl = np.stack([J[_J["pelvis"]], J[_J["spine1"]], sp2, bust, sp3, _lerp(sp3, top, 0.55), top])
    sw, hw = p.shoulder_width, p.hip_width
    radii = np.array([
        [0.1 * g, 0.155 * g * hw],
        [0.093 * g * p.belly, 0.13 * g * (0.5 + 0.5 * hw)],
        [0.097 * g * (0.5 + 0.5 * p.belly), 0.138 * g],
        [(0.101 + 0.012 * p.bust) * g * p.chest, 0.15 * g * (0.5 + 0.5 * sw)],
        [0.105 * g * p.chest, 0.158 * g * sw],
        [0.094 * g, 0.152 * g * sw],
        [0.075 * g, 0.13 * g * sw],
    ])
    sp = [_J[n] for n in ("pelvis", "spine1", "spine2", "spine3")]
    owners = [sp[0], sp[0], sp[1], sp[2], sp[2], sp[3], sp[3], sp[3]]
    parts.append(tube("torso", "body", ctrl, radii, list(res.torso_rings), res.torso_segs, Z, owners,
                      [0.0, 0.05, 0.05, 0.0, 0.05, 0.0, 0.0], (3, 0.1 * p.height), (2, 0.05 * p.height)))
    for joint, ring in zip(sp, (0, 1, 2, 4)):
        reg[joint] = ("torso", ring)

    # Neck: neck → head.
    ctrl = np.stack([J[_J["neck"]], J[_J["head"]]])
    radii = np.array([[0.048, 0.055], [0.045, 0.05]]) * g
    parts.append(tube("neck", "head", ctrl, radii, [4], 16, Z, [_J["spine3"], _J["neck"], _J["head"]],
                      [0.03 * p.height, 0.03 * p.height], (2, 0.06 * p.height), (2, 0.02 * p.height)))
    reg[_J["neck"]] = ("neck", 0)
    reg[_J["head"]] = ("neck", 1)

    for side, sx in (("left", 1.0), ("right", -1.0)):
        _legs(parts, reg, J, extra, side, g, m, p, res)
        _arms(parts, reg, J, side, g, m, p)
        _hand(parts, reg, J, extra, side, sx, p, res)

    _head(parts, reg, J, p, hs, res)
    return BodyBuild(parts, J, extra, reg)


def _legs(parts, reg, J, extra, side, g, m, p, res):
    Z, Y = np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0])
    hip, knee, ankle = J[_J[f"{side}_hip"]], J[_J[f"{side}_knee"]], J[_J[f"{side}_ankle"]]
    ctrl = np.stack([hip, _lerp(hip, knee, 0.45), knee, _lerp(knee, ankle, 0.3), ankle])
    radii = np.array([[0.09 * m, 0.088 * m], [0.075 * m, 0.072 * m], [0.05 * g, 0.05 * g],
                      [0.055 * m, 0.05 * m], [0.036 * g, 0.034 * g]])
    hipj, kneej, anklej = _J[f"{side}_hip"], _J[f"{side}_knee"], _J[f"{side}_ankle"]
    owners = [_J["pelvis"], hipj, hipj, kneej, kneej, anklej]
    h = p.height
    parts.append(tube(f"{side}_leg", "body", ctrl, radii, [4, 4, 4, 6 + res.leg_extra], 24, Z, owners,
                      [0.07 * h, 0.0, 0.06 * h, 0.0, 0.03 * h], (3, 0.08 * h), (2, 0.03 * h)))
    reg[hipj] = (f"{side}_leg", 0)
    reg[kneej] = (f"{side}_leg", 2)
    reg[anklej] = (f"{side}_leg", 4)

    foot = J[_J[f"{side}_foot"]]
    under = np.array([ankle[0], foot[1] + 0.012 * h, ankle[2] - 0.01 * h])
    toe = extra[f"{side}_toe_end"]
    ctrl = np.stack([under, foot, toe])
    radii = np.array([[0.033, 0.038], [0.024, 0.046], [0.016, 0.042]]) * g
    footj = _J[f"{side}_foot"]
    parts.append(tube(f"{side}_foot", "body", ctrl, radii, [4, 2], 18, Y, [anklej, anklej, footj, footj],
                      [0.0, 0.02 * h, 0.0], (2, 0.055 * h), (2, 0.028 * h)))
    reg[footj] = (f"{side}_foot", 1)


def _arms(parts, reg, J, side, g, m, p):
    Y = np.array([0.0, 1.0, 0.0])
    col, sh, el, wr = (J[_J[f"{side}_{n}"]] for n in ("collar", "shoulder", "elbow", "wrist"))
    ctrl = np.stack([col, sh, _lerp(sh, el, 0.4), el, _lerp(el, wr, 0.35), wr])
    radii = np.array([[0.05 * g, 0.05 * g], [0.055 * m, 0.055 * m], [0.047 * m, 0.045 * m],
                      [0.037 * g, 0.037 * g], [0.04 * m, 0.038 * m], [0.025 * g, 0.032 * g]])
    cj, sj, ej, wj = (_J[f"{side}_{n}"] for n in ("collar", "shoulder", "elbow", "wrist"))
    owners = [_J["spine3"], cj, sj, sj, ej, ej, wj]
    h = p.height
    parts.append(tube(f"{side}_arm", "body", ctrl, radii, [2, 4, 4, 3, 5], 20, Y, owners,
                      [0.03 * h, 0.05 * h, 0.0, 0.045 * h, 0.0, 0.02 * h], (2, 0.04 * h), (2, 0.015 * h)))
    reg[cj] = (f"{side}_arm", 0)
    reg[sj] = (f"{side}_arm", 1)
    reg[ej] = (f"{side}_arm", 3)
    reg[wj] = (f"{side}_arm", 5)


def _hand(parts, reg, J, extra, side, sx, p, res):
    Y = np.array([0.0, 1.0, 0.0])
    h = p.height
    wr = J[_J[f"{side}_wrist"]]
    wj = _J[f"{side}_wrist"]
    knuckle = J[_J[f"{side}_middle1"]] - np.array([sx * 0.006, 0.0, 0.004]) * h
    ctrl = np.stack([wr, _lerp(wr, knuckle, 0.5), knuckle])
    radii = np.array([[0.016, 0.03], [0.016, 0.042], [0.013, 0.045]]) * h
    parts.append(tube(f"{side}_palm", f"{side}_hand", ctrl, radii, [3, 4 + res.palm_extra], 16, Y, [wj] * 4,
                      [0.0, 0.0, 0.0], (2, 0.012 * h), (2, 0.012 * h)))
    reg[wj] = (f"{side}_palm", 0)  # the palm's wrist ring; the arm's wrist ring is at the same point
    for finger in _FINGERS:
        names = [f"{side}_{finger}{k}" for k in (1, 2, 3)]
        ctrl = np.stack([J[_J[n]] for n in names] + [extra[f"{side}_{finger}_tip"]])
        r0 = (0.0115 if finger == "thumb" else 0.0092) * h
        radii = np.array([[r0, r0], [r0 * 0.93, r0 * 0.95], [r0 * 0.85, r0 * 0.88], [r0 * 0.74, r0 * 0.78]])
        js = [_J[n] for n in names]
        owners = [js[0], js[0], js[1], js[2], js[2]]
        tip_cap = radii[-1, 0]
        parts.append(tube(f"{side}_{finger}", f"{side}_hand", ctrl, radii, [1, 1, 1], 10, Y,
                          [wj] + owners[1:], [0.008 * h, 0.004 * h, 0.004 * h, 0.0],
                          (1, 0.012 * h), (3, tip_cap)))
        for k, n in enumerate(names):
            reg[_J[n]] = (f"{side}_{finger}", k)


def _skull(res: Resolution, head: np.ndarray, hs: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ring centres (n,3), radii (n,2: depth, width) and the two poles of the skull, chin at the bottom.

    Polar angle phi runs from the chin (0) to the crown (pi): the upper half is an ellipsoid, the lower half
    drops further, narrows and moves forward, which gives a jaw and chin.
    """
    phi = np.pi * np.arange(1, res.skull_rings + 1) / (res.skull_rings + 1)
    c, sn = np.cos(phi), np.sin(phi)
    lower = c > 0
    y = 0.09 - np.where(lower, 0.13, 0.108) * c
    z = 0.012 + np.where(lower, 0.03 * c**2, 0.0)
    depth = 0.098 * np.where(lower, sn**0.6, sn)
    width = 0.078 * np.where(lower, sn**0.9 * (0.6 + 0.4 * sn), sn)
    ctrl = head + np.stack([np.zeros_like(y), y, z], 1) * hs
    radii = np.stack([depth, width], 1) * hs
    poles = (head + np.array([0.0, 0.09 - 0.13, 0.042]) * hs, head + np.array([0.0, 0.09 + 0.108, 0.012]) * hs)
    return ctrl, radii, poles


def _head(parts, reg, J, p, hs, res):
    Y, Z = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])
    head = J[_J["head"]]
    hj, jj = _J["head"], _J["jaw"]
    ctrl, radii, poles = _skull(res, head, hs)
    skull = tube("skull", "head", ctrl, radii, [0] * (len(ctrl) - 1), res.skull_segs, Z, [hj] * (len(ctrl) + 1),
                 [0.0] * len(ctrl), (0, 0.0), (0, 0.0), poles)
    rel = (skull.vertices - head) / hs
    # A shallow mouth groove, so the face reads as a face.
    groove = np.exp(-(((rel[:, 1] - 0.021) / 0.0045) ** 2)) * _smooth((0.024 - np.abs(rel[:, 0])) / 0.008)
    skull.vertices[:, 2] -= 0.004 * hs * groove * (rel[:, 2] > 0.05)
    # The lower front of the skull (below the mouth line, in front of the jaw hinge) follows the jaw.
    w_jaw = _smooth((0.016 - rel[:, 1]) / 0.012) * _smooth((rel[:, 2] - 0.045) / 0.03)
    skull.weights = skull.weights * (1.0 - w_jaw[:, None])
    skull.weights[:, jj] += w_jaw
    parts.append(skull)
    # A small jaw bone inside the chin: its first ring regresses the jaw joint.
    jaw = J[jj]
    chin = head + np.array([0.0, -0.022, 0.05]) * hs
    ctrl = np.stack([jaw, _lerp(jaw, chin, 0.5), chin])
    radii = np.array([[0.01, 0.028], [0.01, 0.024], [0.009, 0.016]]) * hs
    parts.append(tube("jaw", "head", ctrl, radii, [3, 3], 16, Y, [jj] * 4, [0.0] * 3,
                      (2, 0.01 * hs), (2, 0.01 * hs)))
    reg[jj] = ("jaw", 0)
    for side, sx in (("left", 1.0), ("right", -1.0)):
        ej = _J[f"{side}_eye_smplhf"]
        parts.append(ellipsoid(f"{side}_eye", "head", J[ej], Z, 0.0135 * hs, (0.0135 * hs, 0.0135 * hs),
                               res.eye_rings, 16, Y, ej))
        # Eye joints: the middle ring of the eyeball (phi = pi/2) is centred on the joint.
        reg[ej] = (f"{side}_eye", res.eye_rings // 2)
        ear_c = head + np.array([sx * 0.078, 0.085, -0.005]) * hs
        parts.append(ellipsoid(f"{side}_ear", "head", ear_c, Y, 0.03 * hs, (0.016 * hs, 0.012 * hs), res.ear_rings,
                               12, Z, hj))
    nose_root = head + np.array([0.0, 0.092, 0.1]) * hs
    nose_tip = head + np.array([0.0, 0.058, 0.127]) * hs
    ctrl = np.stack([nose_root, _lerp(nose_root, nose_tip, 0.65), nose_tip])
    radii = np.array([[0.008, 0.009], [0.011, 0.013], [0.009, 0.012]]) * hs
    parts.append(tube("nose", "head", ctrl, radii, [3, 3], 16, Y, [hj] * 4, [0.0] * 3, (2, 0.01 * hs),
                      (2, 0.008 * hs)))


def _region_counts(res: Resolution) -> dict[str, int]:
    counts: dict[str, int] = {}
    for part in build_body(Proportions(), res).parts:
        counts[part.region] = counts.get(part.region, 0) + len(part.vertices)
    return counts


def choose_resolution() -> Resolution:
    """Ring counts that give exactly FLAME_VERTICES head vertices and NUM_VERTICES in all (deterministic search).

    The head region (skull, jaw, eyes, ears, nose, neck) is sized like SMPL-X's FLAME head, so the FLAME id file
    lists exactly the head; the torso absorbs the rest of the budget.
    """
    base = Resolution(skull_rings=3, skull_segs=4, ear_rings=5, eye_rings=5, torso_segs=4, torso_rings=(0,) * 6)
    ear_segs, eye_segs, skull_base, torso_base_rings = 12, 16, 3 * 4 + 2, 7 + 3 + 2
    counts = _region_counts(base)
    head_fixed = counts["head"] - skull_base - 2 * (5 * ear_segs + 2) - 2 * (5 * eye_segs + 2)
    head = None
    for ear_rings in (9, 8, 10, 7, 11, 6, 12, 5, 13):
        for eye_rings in (9, 11, 7, 13):
            rest = FLAME_VERTICES - head_fixed - 2 * (ear_rings * ear_segs + 2) - 2 * (eye_rings * eye_segs + 2) - 2
            for segs in range(76, 56, -1):
                if head is None and rest % segs == 0 and 0.75 * segs <= rest // segs <= 1.3 * segs:
                    head = (rest // segs, segs, ear_rings, eye_rings)
    if head is None:
        raise RuntimeError("no skull resolution gives exactly 5023 head vertices; change the part resolutions")
    torso_budget = NUM_VERTICES - FLAME_VERTICES - (sum(counts.values()) - counts["head"] - (torso_base_rings * 4 + 2))
    for palm_extra in range(3):
        for leg_extra in range(6):
            budget = torso_budget - 2 * 24 * leg_extra - 2 * 16 * palm_extra - 2
            for segs in range(44, 29, -1):
                rings = budget // segs
                if budget % segs == 0 and torso_base_rings + 8 <= rings <= 40:
                    extra = rings - torso_base_rings
                    # shares proportional to the segment lengths (pelvis…spine2 long, around the bust short)
                    share = np.array([0.105, 0.12, 0.06, 0.04, 0.074, 0.06])
                    per_seg = np.floor(extra * share / share.sum()).astype(int)
                    rest = np.argsort(per_seg - extra * share / share.sum(), kind="stable")
                    per_seg[rest[:extra - per_seg.sum()]] += 1
                    per_seg = tuple(int(k) for k in per_seg)
                    return Resolution(*head, torso_segs=segs, torso_rings=per_seg, leg_extra=leg_extra,
                                      palm_extra=palm_extra)
    raise RuntimeError("no torso resolution completes 10475 vertices; change the part resolutions")
