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
            `pa_mpjpe_body`, `mpjpe_hand`, `pa_mpjpe_hand` (fewer keys when parts are invisible).
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
            hands["pve_hand"].append(anchored(pred[ids], gt[ids], jp[wrist], jg[wrist]))
            hands["pa_pve_hand"].append(pa(pred[ids], gt[ids]))
            p21, g21 = self.hand_joints(pred, jp, left), self.hand_joints(gt, jg, left)
            hands["mpjpe_hand"].append(anchored(p21, g21, p21[0], g21[0]))
            hands["pa_mpjpe_hand"].append(pa(p21, g21))
        out.update({k: float(np.mean(v)) for k, v in hands.items() if v})
        face = self.face[vis[self.face]]
        if len(face) >= 3:
            out["pve_face"] = anchored(pred[face], gt[face], jp[NECK], jg[NECK])
            out["pa_pve_face"] = pa(pred[face], gt[face])
        p14, g14 = self.j14 @ pred, self.j14 @ gt
        out["mpjpe_body"] = anchored(p14, g14, jp[PELVIS], jg[PELVIS])
        out["pa_mpjpe_body"] = pa(p14, g14)
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
