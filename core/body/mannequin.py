"""The mannequin: a licence-free body in the SMPL-X v1.1 file format, for tests, the demo and users without the files.

Writes `<dir>/smplx/SMPLX_{NEUTRAL,MALE,FEMALE}.npz` with the keys, dtypes and shapes of the official files
(reference/model_spec.md §9, dependency_notes.md §1) plus `SMPLX_to_J14.pkl`, `MANO_SMPLX_vertex_ids.pkl` and
`SMPL-X__FLAME_vertex_ids.npy`. The geometry (`_mannequin_geometry.py`) is a capsule mannequin; this module turns
it into model arrays: vertex order (smplx reads 21 fixed vertex ids), joint regressor, blend shapes, pose
correctives, hand means, face landmarks. Pure numpy, deterministic bytes (fixed zip timestamps), a few seconds.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import AtomicOutputs
from ._mannequin_geometry import (
    BETA_DIRECTIONS,
    GENDER_PROPORTIONS,
    NUM_VERTICES,
    BodyBuild,
    Proportions,
    Resolution,
    build_body,
    choose_resolution,
    shifted,
)
from .files import AUX_FILES
from .joint_names import (
    CONTOUR_NAMES,
    FACE_LANDMARK_NAMES,
    JOINT_NAMES,
    LSP14_NAMES,
    PARENTS,
    VERTEX_JOINT_IDS,
    VERTEX_JOINT_KEYS,
)

logger = logging.getLogger(__name__)

MANNEQUIN_VERSION = 1
_J = {name: i for i, name in enumerate(JOINT_NAMES)}
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_NUM_EXPR_OFFSET, _NUM_DIRS = 300, 400     # v1.1 layout: 300 shape then 100 expression components
_FLAME_COUNT, _MANO_COUNT = 5023, 778


@dataclass
class Mannequin:
    """Model arrays of one gender (final vertex order) plus the designer's own joint positions for checks."""

    arrays: dict[str, np.ndarray]
    joints: np.ndarray                 # (55,3) designed joints, metres, computed without the regressor
    region: np.ndarray                 # (V,) str: "body", "head", "left_hand", "right_hand"
    part: np.ndarray                   # (V,) str part name ("skull", "left_index", ...)
    j14: np.ndarray                    # (14,V) float64
    mano: dict[str, np.ndarray]
    flame: np.ndarray


# ------------------------------------------------------------------------------------------------------------------
# Vertex order
# ------------------------------------------------------------------------------------------------------------------


def _special_vertices(build: BodyBuild) -> dict[str, int]:
    """Generated-order vertex index for each of smplx's 21 vertex joints (keys as in VERTEX_JOINT_KEYS)."""
    off = build.offsets()
    out: dict[str, int] = {}
    out["nose"] = off["nose"] + build.part("nose").end_pole
    for side, key in (("left", "l"), ("right", "r")):
        eye = build.part(f"{side}_eye")
        out[f"{key}eye"] = off[f"{side}_eye"] + eye.end_pole
        ear = build.part(f"{side}_ear")
        sx = 1.0 if side == "left" else -1.0
        out[f"{key}ear"] = off[f"{side}_ear"] + int(np.argmax(sx * ear.vertices[:, 0]))
        foot = build.part(f"{side}_foot")
        toe_ring = foot.rings[-1]
        x = foot.vertices[toe_ring, 0]
        medial, lateral = (toe_ring[np.argmin(x)], toe_ring[np.argmax(x)]) if side == "left" else (
            toe_ring[np.argmax(x)], toe_ring[np.argmin(x)])
        cap = key.upper()
        out[f"{cap}BigToe"] = off[f"{side}_foot"] + int(medial)
        out[f"{cap}SmallToe"] = off[f"{side}_foot"] + int(lateral)
        out[f"{cap}Heel"] = off[f"{side}_foot"] + foot.start_pole
        for finger in ("thumb", "index", "middle", "ring", "pinky"):
            out[f"{key}{finger}"] = off[f"{side}_{finger}"] + build.part(f"{side}_{finger}").end_pole
    return out


def _vertex_order(build: BodyBuild) -> np.ndarray:
    """(V,) generated index of each final vertex: smplx's 21 fixed ids get their anatomical vertex."""
    special = _special_vertices(build)
    order = np.full(NUM_VERTICES, -1, dtype=np.int64)
    for key, vid in zip(VERTEX_JOINT_KEYS, VERTEX_JOINT_IDS):
        order[vid] = special[key]
    taken = np.zeros(NUM_VERTICES, bool)
    taken[order[order >= 0]] = True
    order[order < 0] = np.flatnonzero(~taken)
    return order


# ------------------------------------------------------------------------------------------------------------------
# Arrays
# ------------------------------------------------------------------------------------------------------------------


def _regressor(build: BodyBuild, inv: np.ndarray) -> np.ndarray:
    """(55,V) uniform weights over the ring centred on each joint (rows ≥ 0, sum 1)."""
    off = build.offsets()
    reg = np.zeros((55, NUM_VERTICES))
    for joint, (part_name, ring) in build.regressor_rings.items():
        ids = inv[off[part_name] + build.part(part_name).rings[ring]]
        reg[joint, ids] = 1.0 / len(ids)
    missing = [JOINT_NAMES[j] for j in range(55) if reg[j].sum() == 0]
    if missing:
        raise RuntimeError(f"mannequin design has no regressor ring for {missing}")
    return reg


def _normalised_f32(rows: np.ndarray) -> np.ndarray:
    """float32 copy whose rows sum to 1 in float32 (the rounding goes to each row's largest entry)."""
    out = rows.astype(np.float32)
    big = np.argmax(out, axis=1)
    out[np.arange(len(out)), big] += np.float32(1.0) - out.sum(1, dtype=np.float32)
    return out


# Landmark design in head-joint coordinates (x: subject's left, y up, z forward), metres at head_size 1.
def _static_landmark_xy() -> dict[str, tuple[float, float]]:
    pts: dict[str, tuple[float, float]] = {}
    brow_x = (0.058, 0.047, 0.036, 0.025, 0.014)
    brow_y = (0.112, 0.118, 0.12, 0.119, 0.115)
    for k in range(5):
        pts[f"right_eye_brow{k + 1}"] = (-brow_x[k], brow_y[k])
        pts[f"left_eye_brow{k + 1}"] = (brow_x[k], brow_y[k])
    for k, y in enumerate((0.1, 0.088, 0.076, 0.064)):
        pts[f"nose{k + 1}"] = (0.0, y)
    for name, x in (("right_nose_2", -0.014), ("right_nose_1", -0.007), ("nose_middle", 0.0),
                    ("left_nose_1", 0.007), ("left_nose_2", 0.014)):
        pts[name] = (x, 0.05)
    eye = {1: (0.046, 0.088), 2: (0.037, 0.094), 3: (0.027, 0.094), 4: (0.018, 0.088), 5: (0.027, 0.082),
           6: (0.037, 0.082)}
    for k, (x, y) in eye.items():
        pts[f"right_eye{k}"] = (-x, y)
        pts[f"left_eye{k}"] = (x, y)
    mouth = {1: (0.025, 0.022), 2: (0.016, 0.027), 3: (0.006, 0.03), 4: (0.006, 0.012), 5: (0.016, 0.015)}
    for k, (x, y) in mouth.items():
        pts[f"right_mouth_{k}"] = (-x, y)
        pts[f"left_mouth_{k}"] = (x, y)
    pts["mouth_top"] = (0.0, 0.029)
    pts["mouth_bottom"] = (0.0, 0.011)
    lips = {1: (0.02, 0.022), 2: (0.01, 0.024), 3: (0.01, 0.019)}
    for k, (x, y) in lips.items():
        pts[f"right_lip_{k}"] = (-x, y)
        pts[f"left_lip_{k}"] = (x, y)
    pts["lip_top"] = (0.0, 0.024)
    pts["lip_bottom"] = (0.0, 0.019)
    return pts


def _barycentric(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Barycentric coordinates (3,) of `p` projected onto triangle `tri` (3,3), clipped to the triangle."""
    a, b, c = tri
    v0, v1, v2 = b - a, c - a, p - a
    d00, d01, d11 = v0 @ v0, v0 @ v1, v1 @ v1
    d20, d21 = v2 @ v0, v2 @ v1
    den = d00 * d11 - d01 * d01
    v = (d11 * d20 - d01 * d21) / den
    w = (d00 * d21 - d01 * d20) / den
    bc = np.clip(np.array([1.0 - v - w, v, w]), 0.0, None)
    return bc / bc.sum()


def _frontmost_face(xy: np.ndarray, tris: np.ndarray) -> tuple[int, np.ndarray]:
    """The triangle hit first by a ray along -z through (x, y), and the hit's barycentrics."""
    a, b, c = tris[:, 0], tris[:, 1], tris[:, 2]
    det = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    safe = np.where(np.abs(det) < 1e-14, np.nan, det)
    v = ((xy[0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (xy[1] - a[:, 1])) / safe
    w = ((b[:, 0] - a[:, 0]) * (xy[1] - a[:, 1]) - (xy[0] - a[:, 0]) * (b[:, 1] - a[:, 1])) / safe
    u = 1.0 - v - w
    inside = (u >= 0) & (v >= 0) & (w >= 0)
    z = u * a[:, 2] + v * b[:, 2] + w * c[:, 2]
    z = np.where(inside, z, -np.inf)
    k = int(np.argmax(z))
    if not np.isfinite(z[k]):
        raise RuntimeError(f"no face surface under landmark at {xy}")
    return k, np.array([u[k], v[k], w[k]])


def _landmarks(v: np.ndarray, f: np.ndarray, part: np.ndarray, joints: np.ndarray, hs: float):
    """Static (51) and dynamic (79×17) landmark faces and barycentrics on the face parts."""
    face_parts = np.isin(part, ["skull", "nose", "jaw", "left_eye", "right_eye"])
    cand = np.flatnonzero(face_parts[f].all(1))
    tris = v[f[cand]]
    head = joints[_J["head"]]
    xy = _static_landmark_xy()
    lmk_idx, lmk_bc = [], []
    for name in FACE_LANDMARK_NAMES:
        k, bc = _frontmost_face(head[:2] + np.asarray(xy[name]) * hs, tris)
        lmk_idx.append(cand[k])
        lmk_bc.append(bc)
    # Contour: a jaw line from the right ear over the chin to the left ear, turned with the neck-yaw bin so that
    # the points stay on the silhouette (bins 0..39 = yaw 0..39°, bins 40..78 = yaw -1..-39°, as smplx indexes).
    centroids = tris.mean(1)
    alpha = np.deg2rad(np.linspace(-80.0, 80.0, len(CONTOUR_NAMES)))
    yaw = np.deg2rad(np.where(np.arange(79) <= 39, np.arange(79), 39 - np.arange(79)))
    a = alpha[None, :] + yaw[:, None]
    y = np.broadcast_to(-0.04 + 0.07 * np.abs(np.sin(alpha)), a.shape)
    pts = np.stack([0.072 * np.sin(a), y, 0.012 + 0.095 * np.cos(a)], -1).reshape(-1, 3) * hs + head
    d2 = (pts**2).sum(1)[:, None] - 2.0 * pts @ centroids.T + (centroids**2).sum(1)[None]
    nearest = np.argmin(d2, axis=1)
    dyn_idx = cand[nearest].reshape(79, 17)
    dyn_bc = np.array([_barycentric(p, tris[k]) for p, k in zip(pts, nearest)]).reshape(79, 17, 3)
    return np.array(lmk_idx, np.int64), np.array(lmk_bc), dyn_idx, dyn_bc


def _expressions(v: np.ndarray, part: np.ndarray, locked: np.ndarray, head: np.ndarray, hs: float) -> np.ndarray:
    """(V,3,10) expression directions on face vertices: mouth open, smile, brows up, frown, cheek puff, pucker,
    squint, mouth wide, jaw sideways, nose wrinkle."""
    movable = np.isin(part, ["skull", "nose"]) & ~locked       # the visible face (the jaw bone is inside)
    rel = (v - head) / hs
    front = np.clip((rel[:, 2] - 0.03) / 0.04, 0.0, 1.0)          # fades out towards the back of the head

    def bump(centre, sigma):
        d2 = ((rel - np.asarray(centre)) ** 2).sum(1)
        g = np.exp(-0.5 * d2 / sigma**2)
        return np.where(g > 1e-3, g, 0.0) * front

    def pair(centre, sigma, disp):
        cx, cy, cz = centre
        dx, dy, dz = disp
        return bump((cx, cy, cz), sigma)[:, None] * np.array([dx, dy, dz]) + bump((-cx, cy, cz), sigma)[:, None] * \
            np.array([-dx, dy, dz])

    e = np.zeros((len(v), 3, 10))
    below_mouth = np.clip((0.021 - rel[:, 1]) / 0.006, 0.0, 1.0)[:, None]
    e[:, :, 0] = bump((0.0, -0.005, 0.1), 0.035)[:, None] * below_mouth * np.array([0.0, -0.008, -0.002])
    e[:, :, 1] = pair((0.025, 0.022, 0.095), 0.012, (0.003, 0.005, -0.001))
    e[:, :, 2] = pair((0.035, 0.118, 0.09), 0.018, (0.0, 0.006, 0.0))
    e[:, :, 3] = pair((0.018, 0.115, 0.095), 0.012, (-0.003, -0.004, 0.001))
    e[:, :, 4] = pair((0.045, 0.04, 0.08), 0.02, (0.005, 0.0, 0.003))
    e[:, :, 5] = bump((0.0, 0.02, 0.1), 0.015)[:, None] * np.array([0.0, 0.0, 0.007])
    e[:, :, 6] = pair((0.032, 0.078, 0.095), 0.01, (0.0, 0.003, 0.0))
    e[:, :, 7] = pair((0.025, 0.022, 0.095), 0.012, (0.005, -0.001, -0.002))
    e[:, :, 8] = bump((0.0, -0.01, 0.1), 0.04)[:, None] * below_mouth * np.array([0.006, 0.0, 0.0])
    e[:, :, 9] = bump((0.0, 0.07, 0.12), 0.015)[:, None] * np.array([0.0, 0.004, -0.001])
    e[~movable] = 0.0
    return e * hs


def _posedirs(v: np.ndarray, weights: np.ndarray, joints: np.ndarray, height: float) -> np.ndarray:
    """(V,3,486) correctives: bent shoulders, elbows, hips and knees bulge outwards by up to ~1.6 cm.

    smplx adds `(R_j - I).ravel() @ posedirs` per joint; the diagonal of R - I sums to 2cosθ - 2 ≤ 0, so a negative
    outward direction on the three diagonal columns of joint j gives a bulge growing like 1 - cosθ.
    """
    pd = np.zeros((len(v), 3, 9 * 54), np.float32)
    for name in ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_hip", "right_hip",
                 "left_knee", "right_knee"):
        j = _J[name]
        parent = PARENTS[j]
        falloff = np.clip(4.0 * weights[:, j] * weights[:, parent], 0.0, 1.0)
        child = next(c for c in range(55) if PARENTS[c] == j)
        bone = joints[child] - joints[j]
        bone /= np.linalg.norm(bone)
        radial = v - joints[j]
        radial -= np.outer(radial @ bone, bone)
        radial /= np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-9)
        disp = -0.004 * height * falloff[:, None] * radial
        for diag in (0, 4, 8):
            pd[:, :, 9 * (j - 1) + diag] = disp
    return pd


def _hand_means() -> tuple[np.ndarray, np.ndarray]:
    """Relaxed hand curl (45,) per hand in SMPL-X hand joint order (index, middle, pinky, ring, thumb × 1..3).

    Right hand: fingers point -x with the palm down, so curling towards the palm is a positive rotation about +z;
    the left hand is its mirror, (x, -y, -z) per joint, as in MANO.
    """
    curl = {
        "index": ((0.02, 0.06, 0.22), (0.0, 0.0, 0.3), (0.0, 0.0, 0.18)),
        "middle": ((0.0, 0.0, 0.28), (0.0, 0.0, 0.34), (0.0, 0.0, 0.2)),
        "pinky": ((-0.05, -0.12, 0.42), (0.0, 0.0, 0.4), (0.0, 0.0, 0.24)),
        "ring": ((-0.03, -0.06, 0.36), (0.0, 0.0, 0.38), (0.0, 0.0, 0.22)),
        "thumb": ((0.12, -0.1, 0.08), (0.05, -0.12, 0.05), (0.0, -0.18, 0.0)),
    }
    right = np.array([curl[f][k] for f in ("index", "middle", "pinky", "ring", "thumb") for k in range(3)])
    left = right * np.array([1.0, -1.0, -1.0])
    return left.reshape(45), right.reshape(45)


def _hand_components(mean: np.ndarray, mirror: bool) -> np.ndarray:
    """(45,45) orthonormal rows; row 0 is the curl direction (PCA-like; unused with use_pca=False)."""
    rng = np.random.default_rng(20240601)
    base = _hand_means()[1]
    m = np.concatenate([base[:, None] / np.linalg.norm(base), rng.standard_normal((45, 44))], 1)
    q, r = np.linalg.qr(m)
    q *= np.sign(np.diag(r))
    comps = q.T
    if mirror:
        comps = comps * np.tile([1.0, -1.0, -1.0], 15)
    return comps


def build_mannequin(gender: str = "neutral", res: Resolution | None = None, order: np.ndarray | None = None
                    ) -> Mannequin:
    """All arrays of the mannequin model file for one gender (see module docstring).

    `res` and `order` (the vertex order) depend on nothing but the design; pass them to skip recomputing.
    """
    if gender not in GENDER_PROPORTIONS:
        raise ValueError(f"unknown gender {gender!r}; expected one of {', '.join(GENDER_PROPORTIONS)}")
    res = res or choose_resolution()
    props: Proportions = GENDER_PROPORTIONS[gender]
    build = build_body(props, res)
    if order is None:
        order = _vertex_order(build_body(Proportions(), res))
    inv = np.empty_like(order)
    inv[order] = np.arange(NUM_VERTICES)

    v = build.vertices()[order]
    f = inv[build.faces()]
    weights = build.weights()[order]
    part = np.concatenate([[p.name] * len(p.vertices) for p in build.parts])[order]
    region = np.concatenate([[p.region] * len(p.vertices) for p in build.parts])[order]
    reg = _regressor(build, inv)
    joints = build.joints
    hs = props.head_size * props.height

    shapedirs = np.zeros((NUM_VERTICES, 3, _NUM_DIRS), np.float32)
    for k, delta in enumerate(BETA_DIRECTIONS):
        shapedirs[:, :, k] = build_body(shifted(props, delta), res).vertices()[order] - v
    locked = reg.sum(0) > 0
    shapedirs[:, :, _NUM_EXPR_OFFSET:_NUM_EXPR_OFFSET + 10] = _expressions(v, part, locked, joints[_J["head"]], hs)
    posedirs = _posedirs(v, weights, joints, props.height)
    lmk_idx, lmk_bc, dyn_idx, dyn_bc = _landmarks(v, f, part, joints, hs)
    meanl, meanr = _hand_means()

    kintree = np.stack([np.array(PARENTS, np.int64), np.arange(55, dtype=np.int64)])
    kintree[0, 0] = 4294967295                # as in the official files; smplx overwrites the root parent
    arrays = {
        "v_template": v.astype(np.float32),
        "shapedirs": shapedirs.astype(np.float32),
        "posedirs": posedirs.astype(np.float32),
        "J_regressor": _normalised_f32(reg),
        "weights": _normalised_f32(weights),
        "kintree_table": kintree,
        "f": f.astype(np.int32),
        "hands_componentsl": _hand_components(meanl, True).astype(np.float32),
        "hands_componentsr": _hand_components(meanr, False).astype(np.float32),
        "hands_meanl": meanl.astype(np.float32),
        "hands_meanr": meanr.astype(np.float32),
        "lmk_faces_idx": lmk_idx,
        "lmk_bary_coords": lmk_bc.astype(np.float32),
        "dynamic_lmk_faces_idx": dyn_idx,
        "dynamic_lmk_bary_coords": dyn_bc.astype(np.float32),
    }

    j14 = np.zeros((14, NUM_VERTICES))
    for row, name in enumerate(LSP14_NAMES):
        if name == "head_top":
            j14[row, inv[build.offsets()["skull"] + build.part("skull").end_pole]] = 1.0
        else:
            j14[row] = reg[_J[name]]
    mano = {}
    for side in ("left", "right"):
        ids = np.flatnonzero(region == f"{side}_hand")
        centre = joints[_J[f"{side}_middle1"]]
        keep = ids[np.argsort(np.linalg.norm(v[ids] - centre, axis=1), kind="stable")[:_MANO_COUNT]]
        mano[f"{side}_hand"] = np.sort(keep).astype(np.int64)
    flame = np.flatnonzero(region == "head").astype(np.int64)     # the whole head, like SMPL-X's FLAME part
    if len(flame) != _FLAME_COUNT:
        raise RuntimeError(f"mannequin head has {len(flame)} vertices, expected {_FLAME_COUNT}")
    return Mannequin(arrays, joints, region, part, j14, mano, flame)


# ------------------------------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------------------------------


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A compressed npz (as np.savez_compressed) with fixed zip timestamps, so equal arrays give equal bytes.

    Level 1 deflate: the blend shapes are mostly zeros, and it is 3x faster than the default for 1.7x the size.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy_bytes(arr), compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
    return buf.getvalue()


def npy_bytes(arr: np.ndarray) -> bytes:
    """The .npy file bytes of `arr` (no pickled objects)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def write_mannequin(model_dir: str | os.PathLike) -> list[Path]:
    """Write the mannequin model directory; returns the written paths.

    Files: `smplx/SMPLX_{NEUTRAL,MALE,FEMALE}.npz`, `smplx/SMPLX_to_J14.pkl` (float64 (14,V), LSP-14 order),
    `smplx/MANO_SMPLX_vertex_ids.pkl` ({'left_hand','right_hand'}: int64 (778,)),
    `smplx/SMPL-X__FLAME_vertex_ids.npy` (int64 (5023,)). Existing files are replaced atomically, all together.
    """
    out = Path(model_dir).expanduser() / "smplx"
    files: dict[Path, bytes] = {}
    res = choose_resolution()
    order = _vertex_order(build_body(Proportions(), res))
    written: list[Path] = []
    aux_source = None
    for gender in ("neutral", "male", "female"):
        m = build_mannequin(gender, res, order)
        if gender == "neutral":
            aux_source = m          # the auxiliary files describe the neutral body, as in SMPLer-X
        path = out / f"SMPLX_{gender.upper()}.npz"
        files[path] = npz_bytes(m.arrays)
    j14_name, mano_name, flame_name = AUX_FILES
    files[out / j14_name] = pickle.dumps(aux_source.j14, protocol=2)
    files[out / mano_name] = pickle.dumps(aux_source.mano, protocol=2)
    files[out / flame_name] = npy_bytes(aux_source.flame)
    with AtomicOutputs() as staged:
        for path, data in files.items():
            staged.write(path, lambda fh, d=data: fh.write(d))
    written += list(files)
    logger.info("wrote the mannequin (version %d) to %s", MANNEQUIN_VERSION, out)
    return written
