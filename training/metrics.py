"""Evaluation metrics of SMPLer-X (`data/*/evaluate` of SMPLer-X; training_spec.md §7), in millimetres.

- PVE (MPVPE): mean vertex distance after translating the prediction so that an anchor joint coincides with the
  ground truth's: the pelvis for the whole body, each wrist for its hand (778 MANO vertices each; the hand value
  is the mean of left and right), the neck for the face (5023 FLAME vertices).
- PA-PVE: the same vertex subsets after a Procrustes similarity (scale, rotation with reflection fix, translation).
- MPJPE / PA-MPJPE: body on the 14 LSP joints of `SMPLX_to_J14.pkl` (pelvis-aligned for MPJPE), hands on 21 joints
  (wrist, 15 finger joints, 5 tip vertices; wrist-aligned).
- 3DPW: 14 joints [1,2,4,5,7,8,12,15..21] of the SMPL regressor on the GT mesh vs the SMPL-X regressor on the
  prediction; MPJPE after aligning joint 0, and PA-MPJPE.
- AGORA-style matching of predictions to ground-truth people by 2D joints (Hungarian), F1, and NMVE = MVE / F1.
- UBody (`MeshEvaluator.evaluate_ubody`): the reference's protocol — visibility from projecting the GT mesh with
  the virtual camera (focal 5000 in the 192×256 body input, the *predicted* camera translation, ×2 to the 384×512
  crop, then `bb2img_trans` to the image); Procrustes and anchors on *all* vertices / joints, errors averaged over
  the visible ones afterwards; PA-MPJPE masked by the projected joints.
- MPE: the plain mean of the five primary errors (AGORA, EgoBody, UBody, 3DPW, EHF).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

L_TIPS = [5361, 4933, 5058, 5169, 5286]  # thumb, index, middle, ring, pinky tip vertices
R_TIPS = [8079, 7669, 7794, 7905, 8022]
PW3D_JOINTS = [1, 2, 4, 5, 7, 8, 12, 15, 16, 17, 18, 19, 20, 21]
PELVIS, NECK, L_WRIST, R_WRIST = 0, 12, 20, 21  # SMPL-X 55-joint indices
L_FINGERS = list(range(25, 40))
R_FINGERS = list(range(40, 55))
VIRTUAL_FOCAL, VIRTUAL_PRINCPT = (5000.0, 5000.0), (96.0, 128.0)  # camera of the 192×256 body input
BODY_TO_CROP = (384 / 192, 512 / 256)  # body input → 384×512 crop (x, y)
PRIMARY = {"AGORA": "pve_all", "EgoBody": "pve_all", "UBody": "pve_all", "EHF": "pve_all", "3DPW": "mpjpe_body"}


def rigid_align(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Procrustes similarity of (N,3) `src` onto `dst` (Umeyama: scale, rotation without reflection, translation).

    Returns:
        (N,3) aligned `src`.
    """
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    var = (s0 ** 2).sum()
    u, sig, vt = np.linalg.svd(d0.T @ s0)
    fix = np.eye(3)
    fix[2, 2] = np.sign(np.linalg.det(u @ vt))
    rot = u @ fix @ vt
    scale = np.trace(np.diag(sig) @ fix) / var
    return scale * s0 @ rot.T + mu_d


def masked_dist(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Mean Euclidean distance (mm) over the points where `mask` holds (NaN when none does)."""
    d = np.linalg.norm(a - b, axis=-1)[np.asarray(mask, bool)]
    return float(d.mean() * 1000.0) if len(d) else float("nan")


def virtual_projection(points: np.ndarray, cam_trans: np.ndarray, bb2img: np.ndarray) -> np.ndarray:
    """(N,2) image pixels of camera-frame points seen by the network's virtual camera, as the reference's UBody
    `perspective_transform(cam_trans, bb2img_trans, points − cam_trans)`: the points are moved by −t, projected with
    +t (focal 5000, principal point (96,128), depth + 1e-4), scaled to the 384×512 crop and mapped to the image."""
    p = points - cam_trans
    z = p[:, 2] + cam_trans[2] + 1e-4
    x = ((p[:, 0] + cam_trans[0]) / z * VIRTUAL_FOCAL[0] + VIRTUAL_PRINCPT[0]) * BODY_TO_CROP[0]
    y = ((p[:, 1] + cam_trans[1]) / z * VIRTUAL_FOCAL[1] + VIRTUAL_PRINCPT[1]) * BODY_TO_CROP[1]
    return np.stack([x, y, np.ones_like(x)], 1) @ np.asarray(bb2img, np.float64).T


def inside_image(uv: np.ndarray, img_shape: tuple[int, int]) -> np.ndarray:
    """(N,) strictly inside the (H, W) image (the reference's `validate_within_img`: 0 < x < W, 0 < y < H)."""
    h, w = img_shape
    return (uv[:, 0] > 0) & (uv[:, 0] < w) & (uv[:, 1] > 0) & (uv[:, 1] < h)


def mean_dist(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Euclidean distance of (N,3) point sets, in millimetres (inputs in metres)."""
    return float(np.linalg.norm(a - b, axis=-1).mean() * 1000.0)


def anchored(pred: np.ndarray, gt: np.ndarray, pred_anchor: np.ndarray, gt_anchor: np.ndarray) -> float:
    """Mean distance (mm) after translating `pred` so its anchor point meets the ground truth's."""
    return mean_dist(pred - pred_anchor + gt_anchor, gt)


def pa(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean distance (mm) after a Procrustes similarity of `pred` onto `gt`."""
    return mean_dist(rigid_align(pred, gt), gt)


@dataclass
class MeshEvaluator:
    """The regressors and vertex ids the SMPL-X metrics need, from a SMPL-X model directory.

    Attributes:
        j_regressor: (55,V) SMPL-X joint regressor; j14: (14,V); lhand, rhand: (778,) vertex ids; face: (5023,).
    """

    j_regressor: np.ndarray
    j14: np.ndarray
    lhand: np.ndarray
    rhand: np.ndarray
    face: np.ndarray

    @classmethod
    def from_model_dir(cls, model_dir: str | Path) -> "MeshEvaluator":
        from core.body.files import load_pickle, read_model_arrays

        d = Path(model_dir) / "smplx" if (Path(model_dir) / "smplx").is_dir() else Path(model_dir)
        for f in ("SMPLX_to_J14.pkl", "MANO_SMPLX_vertex_ids.pkl", "SMPL-X__FLAME_vertex_ids.npy"):
            if not (d / f).exists():
                raise FileNotFoundError(f"{d / f} not found: the SMPL-X evaluation needs the auxiliary file {f}")
        arr = read_model_arrays(model_dir)
        mano = load_pickle(d / "MANO_SMPLX_vertex_ids.pkl")
        return cls(np.asarray(arr["J_regressor"], np.float64), np.asarray(load_pickle(d / "SMPLX_to_J14.pkl"),
                                                                          np.float64),
                   np.asarray(mano["left_hand"]), np.asarray(mano["right_hand"]),
                   np.load(d / "SMPL-X__FLAME_vertex_ids.npy"))

    def hand_joints(self, verts: np.ndarray, joints: np.ndarray, left: bool) -> np.ndarray:
        """(21,3): wrist, 15 finger joints, 5 tip vertices."""
        w, f, tips = (L_WRIST, L_FINGERS, L_TIPS) if left else (R_WRIST, R_FINGERS, R_TIPS)
        return np.concatenate([joints[[w]], joints[f], verts[tips]])

    def evaluate(self, pred: np.ndarray, gt: np.ndarray, visible: np.ndarray | None = None) -> dict[str, float]:
        """All SMPL-X mesh errors of one person.

        Args:
            pred, gt: (10475,3) vertices, metres, same camera frame.
            visible: optional (10475,) bool; only these vertices count (UBody counts the vertices whose GT
                projection lies inside the image). A part with no visible vertex is left out (hands: the mean over
                the hands that remain).
        Returns:
            mm: `pve_all`, `pve_hand`, `pve_face`, `pa_pve_all`, `pa_pve_hand`, `pa_pve_face`, `mpjpe_body`,
            `pa_mpjpe_body`, `mpjpe_hand`, `pa_mpjpe_hand`, and per hand (the reference's L-Hands / R-Hands lines)
            `pve_lhand`, `pa_pve_lhand`, `mpjpe_lhand`, `pa_mpjpe_lhand` and the same with `rhand` (fewer keys when
            parts are invisible).
        """
        vis = np.ones(len(gt), bool) if visible is None else np.asarray(visible, bool)
        jp, jg = self.j_regressor @ pred, self.j_regressor @ gt
        out: dict[str, float] = {}
        every = np.flatnonzero(vis)
        if len(every) >= 3:
            out["pve_all"] = anchored(pred[every], gt[every], jp[PELVIS], jg[PELVIS])
            out["pa_pve_all"] = pa(pred[every], gt[every])
        hands: dict[str, list[float]] = {"pve_hand": [], "pa_pve_hand": [], "mpjpe_hand": [], "pa_mpjpe_hand": []}
        for ids, wrist, left in ((self.lhand, L_WRIST, True), (self.rhand, R_WRIST, False)):
            ids = ids[vis[ids]]
            if len(ids) < 3:
                continue
            p21, g21 = self.hand_joints(pred, jp, left), self.hand_joints(gt, jg, left)
            one = {"pve_hand": anchored(pred[ids], gt[ids], jp[wrist], jg[wrist]),
                   "pa_pve_hand": pa(pred[ids], gt[ids]), "mpjpe_hand": anchored(p21, g21, p21[0], g21[0]),
                   "pa_mpjpe_hand": pa(p21, g21)}
            side = "lhand" if left else "rhand"
            for k, v in one.items():
                hands[k].append(v)
                out[k.replace("hand", side)] = v
        out.update({k: float(np.mean(v)) for k, v in hands.items() if v})
        face = self.face[vis[self.face]]
        if len(face) >= 3:
            out["pve_face"] = anchored(pred[face], gt[face], jp[NECK], jg[NECK])
            out["pa_pve_face"] = pa(pred[face], gt[face])
        p14, g14 = self.j14 @ pred, self.j14 @ gt
        out["mpjpe_body"] = anchored(p14, g14, jp[PELVIS], jg[PELVIS])
        out["pa_mpjpe_body"] = pa(p14, g14)
        return out


    def _ubody_hand(self, pred, gt, jp, jg, cam_trans, bb2img, img_shape, mesh_vis, left: bool) -> dict[str, float]:
        """One hand of the UBody protocol: {} when none of its vertices is visible (PA-MPJPE: joints)."""
        ids, wrist = (self.lhand, L_WRIST) if left else (self.rhand, R_WRIST)
        out = {}
        vis = mesh_vis[ids]
        if vis.any():
            out["pa_pve"] = masked_dist(rigid_align(pred[ids], gt[ids]), gt[ids], vis)
            out["pve"] = masked_dist(pred[ids] - jp[wrist] + jg[wrist], gt[ids], vis)
        moved = gt - cam_trans  # the reference regresses the hand joints of the GT mesh moved by −t, then adds t
        j_vis = inside_image(virtual_projection(self.hand_joints(moved, self.j_regressor @ moved, left) + cam_trans,
                                                cam_trans, bb2img), img_shape)
        if j_vis.any():
            p21, g21 = self.hand_joints(pred, jp, left), self.hand_joints(gt, jg, left)
            out["pa_mpjpe"] = masked_dist(rigid_align(p21, g21), g21, j_vis)
        return out

    def evaluate_ubody(self, pred: np.ndarray, gt: np.ndarray, cam_trans: np.ndarray, bb2img: np.ndarray,
                       img_shape: tuple[int, int]) -> dict[str, float]:
        """The reference's UBody errors of one person (`data/UBody/UBody.py::evaluate`), mm.

        Args:
            pred, gt: (10475,3) vertices, metres (the GT with its translation, camera frame).
            cam_trans: (3,) the network's *predicted* camera translation (the reference's `out['cam_trans']`).
            bb2img: (2,3) crop → image affine of the sample; img_shape: (H, W) of the image.
        Returns:
            `pa_pve_all`, `pve_all`, `pa_pve_hand`, `pve_hand`, `pa_pve_face`, `pve_face`, `pa_mpjpe_body`,
            `pa_mpjpe_hand`; a hand or the face with no visible vertex (joint) is left out, as in the reference;
            the whole mesh or the body joints with none visible give NaN there, so the sample is left out here.
        """
        cam_trans = np.asarray(cam_trans, np.float64).reshape(3)
        mesh_vis = inside_image(virtual_projection(gt, cam_trans, bb2img), img_shape)
        jp, jg = self.j_regressor @ pred, self.j_regressor @ gt
        out: dict[str, float] = {}
        if mesh_vis.any():
            out["pa_pve_all"] = masked_dist(rigid_align(pred, gt), gt, mesh_vis)
            out["pve_all"] = masked_dist(pred - jp[PELVIS] + jg[PELVIS], gt, mesh_vis)
        hands = [self._ubody_hand(pred, gt, jp, jg, cam_trans, bb2img, img_shape, mesh_vis, left) for left in
                 (True, False)]
        for k in ("pa_pve", "pve", "pa_mpjpe"):
            vals = [h[k] for h in hands if k in h]
            if vals:
                out[f"{k}_hand"] = float(np.mean(vals))
        face_vis = mesh_vis[self.face]
        if face_vis.any():
            pf, gf = pred[self.face], gt[self.face]
            out["pa_pve_face"] = masked_dist(rigid_align(pf, gf), gf, face_vis)
            out["pve_face"] = masked_dist(pf - jp[NECK] + jg[NECK], gf, face_vis)
        j_vis = inside_image(virtual_projection(self.j14 @ (gt - cam_trans) + cam_trans, cam_trans, bb2img),
                             img_shape)
        if j_vis.any():
            p14, g14 = self.j14 @ pred, self.j14 @ gt
            out["pa_mpjpe_body"] = masked_dist(rigid_align(p14, g14), g14, j_vis)
        return out


def pw3d_errors(pred_joints_smplx: np.ndarray, gt_joints_smpl: np.ndarray) -> dict[str, float]:
    """3DPW protocol of SMPLer-X (mm).

    Args:
        pred_joints_smplx: (≥22,3) SMPL-X regressor joints of the prediction, metres.
        gt_joints_smpl: (24,3) SMPL regressor joints of the ground-truth mesh, metres.
    """
    p, g = pred_joints_smplx[PW3D_JOINTS], gt_joints_smpl[PW3D_JOINTS]
    return {"mpjpe_body": anchored(p, g, pred_joints_smplx[0], gt_joints_smpl[0]), "pa_mpjpe_body": pa(p, g)}


def match_people(pred_kp2d: np.ndarray, gt_kp2d: np.ndarray, gt_valid: np.ndarray | None = None,
                 threshold: float | None = None) -> tuple[list[tuple[int, int]], dict[str, float]]:
    """AGORA-style matching of predicted to ground-truth people by mean 2D joint distance (Hungarian).

    Args:
        pred_kp2d: (P,J,2) pixels; gt_kp2d: (G,J,2) pixels; gt_valid: (G,J) joint validity.
        threshold: a pair farther apart than this (px) is not a match (None: no limit).
    Returns:
        the matched (pred, gt) pairs and `{'precision', 'recall', 'f1'}`.
    """
    from scipy.optimize import linear_sum_assignment

    n_p, n_g = len(pred_kp2d), len(gt_kp2d)
    if n_p == 0 or n_g == 0:
        return [], {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    v = np.ones(gt_kp2d.shape[:2]) if gt_valid is None else gt_valid
    d = np.linalg.norm(pred_kp2d[:, None] - gt_kp2d[None], axis=-1)  # (P,G,J)
    cost = (d * v[None]).sum(-1) / np.maximum(v.sum(-1)[None], 1)
    rows, cols = linear_sum_assignment(cost)
    pairs = [(int(r), int(c)) for r, c in zip(rows, cols) if threshold is None or cost[r, c] <= threshold]
    prec, rec = len(pairs) / n_p, len(pairs) / n_g
    f1 = 0.0 if not pairs else 2 * prec * rec / (prec + rec)
    return pairs, {"precision": prec, "recall": rec, "f1": f1}


def normalised_error(error_mm: float, f1: float) -> float:
    """AGORA's NMVE/NMJE: an error divided by the detection F1 (inf when nothing matched)."""
    return float("inf") if f1 <= 0 else error_mm / f1


def mpe(primary: dict[str, float]) -> float:
    """Mean primary error over the five benchmarks (AGORA, EgoBody, UBody, 3DPW, EHF); raises when one is missing."""
    missing = [k for k in PRIMARY if k not in primary]
    if missing:
        raise ValueError(f"MPE needs all five benchmarks; missing {missing}")
    return float(np.mean([primary[k] for k in PRIMARY]))


def average(rows: list[dict[str, float]]) -> dict[str, float]:
    """Per-key mean over samples (the reference's `print_eval_result`)."""
    keys = sorted({k for r in rows for k in r})
    return {k: float(np.mean([r[k] for r in rows if k in r])) for k in keys}
