"""The feet's sole points and numpy forward kinematics of the 22 body joints (smplx's LBS without pose
correctives), and the leg IK that moves a planted foot."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..motion import MotionTrack

_BODY = 22  # pelvis … wrists: the joints that move the feet
_FOOT_JOINTS = ((7, 10), (8, 11))  # (ankle, foot) of the left and the right leg
_SOLE_BAND = 0.01  # metres above the lowest foot vertex that count as sole in the rest pose


@dataclass(frozen=True)
class FootModel:
    """What posing the feet needs from an SMPL-X model (model frame: Y up, facing +Z, metres).

    Attributes:
        parents: (22,) parent of each body joint (-1 for the pelvis).
        joints: (22,3) template joints; joint_dirs (22,3,10) their change per beta.
        points: (2,2,3) template sole points [left, right] × [heel, toe]; point_dirs (2,2,3,10).
        weights: (2,2,22) skinning weights of the sole points over the body joints.
        vertex_ids: (2,2) the vertices chosen as sole points.
    """

    parents: np.ndarray
    joints: np.ndarray
    joint_dirs: np.ndarray
    points: np.ndarray
    point_dirs: np.ndarray
    weights: np.ndarray
    vertex_ids: np.ndarray


def foot_model(model_arrays: dict) -> FootModel:
    """Picks the heel and toe sole vertices of each foot and the arrays that pose them.

    Args:
        model_arrays: SMPL-X arrays (`core.body.read_model_arrays`): v_template, shapedirs, J_regressor, weights,
            kintree_table.
    """
    v = np.asarray(model_arrays["v_template"], np.float64)
    dirs = np.asarray(model_arrays["shapedirs"], np.float64)[:, :, :10]
    reg = np.asarray(model_arrays["J_regressor"], np.float64)[:_BODY]
    weights = np.asarray(model_arrays["weights"], np.float64)
    owner = weights.argmax(1)
    ids = np.zeros((2, 2), np.int64)
    for side, joints in enumerate(_FOOT_JOINTS):
        foot = np.flatnonzero(np.isin(owner, joints))
        if len(foot) < 2:
            raise ValueError(f"SMPL-X model: no foot vertices weighted to joints {joints}; is it an SMPL-X model?")
        sole = foot[v[foot, 1] < v[foot, 1].min() + _SOLE_BAND]
        ids[side] = sole[np.argmin(v[sole, 2])], sole[np.argmax(v[sole, 2])]
    w = weights[ids][..., :_BODY]
    parents = np.asarray(model_arrays["kintree_table"])[0, :_BODY].astype(np.int64)
    parents[0] = -1
    return FootModel(parents=parents, joints=reg @ v, joint_dirs=np.einsum("jv,vck->jck", reg, dirs),
                     points=v[ids], point_dirs=dirs[ids], weights=w / w.sum(-1, keepdims=True), vertex_ids=ids)


def _rotations(rotvec: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle → (..., 3, 3) rotation matrices (Rodrigues, numpy only)."""
    angle = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    axis = rotvec / np.maximum(angle, 1e-12)
    x, y, z = np.moveaxis(axis, -1, 0)
    zero = np.zeros_like(x)
    k = np.stack([np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1), np.stack([-y, x, zero], -1)], -2)
    s, c = np.sin(angle)[..., None], np.cos(angle)[..., None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def forward_kinematics(fm: FootModel, track: MotionTrack) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Global rotations (N,22,3,3) (model axes → camera), joint positions (N,22,3) and sole points (N,2,2,3), camera
    frame, metres."""
    betas = track.betas.astype(np.float64)
    rest = fm.joints + np.einsum("jck,nk->njc", fm.joint_dirs, betas)  # (N,22,3)
    pts = fm.points + np.einsum("fpck,nk->nfpc", fm.point_dirs, betas)  # (N,2,2,3)
    pose = np.concatenate([track.global_orient[:, None], track.body_pose], 1).astype(np.float64)
    local = _rotations(pose)
    n = len(track)
    rot = np.zeros((n, _BODY, 3, 3))
    pos = np.zeros((n, _BODY, 3))
    rot[:, 0], pos[:, 0] = local[:, 0], rest[:, 0] + track.transl
    for j in range(1, _BODY):
        p = fm.parents[j]
        rot[:, j] = rot[:, p] @ local[:, j]
        pos[:, j] = pos[:, p] + np.einsum("nab,nb->na", rot[:, p], rest[:, j] - rest[:, p])
    # linear blend skinning of the sole points: Σ_k w_k (R_k (v − J_k) + p_k)
    rel = pts[:, :, :, None, :] - rest[:, None, None]  # (N,2,2,22,3)
    moved = np.einsum("njab,nfpjb->nfpja", rot, rel) + pos[:, None, None]
    return rot, pos, np.einsum("fpj,nfpja->nfpa", fm.weights, moved)


def pose_track(fm: FootModel, track: MotionTrack) -> tuple[np.ndarray, np.ndarray]:
    """Body joints and sole points of a track in the camera frame.

    Returns:
        joints (N,22,3) and sole points (N,2,2,3) [left, right] × [heel, toe], metres, OpenCV camera.
    """
    _, joints, soles = forward_kinematics(fm, track)
    return joints, soles


def _rotvec(m: np.ndarray) -> np.ndarray:
    """(...,3,3) rotation matrices → (...,3) axis-angle."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(m.reshape(-1, 3, 3)).as_rotvec().reshape(m.shape[:-2] + (3,))


_LEGS = ((1, 4, 7), (2, 5, 8))  # (hip, knee, ankle) joints of the left and the right leg


def leg_ik(fm: FootModel, track: MotionTrack, shifts: np.ndarray, iterations: int = 3,
           damping: float = 1e-3) -> MotionTrack:
    """Moves each foot by `shifts` by turning its hip and knee (damped least squares on a numeric Jacobian), and
    turns the ankle back so the foot keeps its orientation (a planted foot stays flat).

    Args:
        shifts: (N,2,3) metres, camera frame, per foot [left, right]; zero rows leave a leg untouched.

    Returns:
        The track with new hip, knee and ankle rotations (the root and the rest of the body unchanged).
    """
    rot0, pos0, _ = forward_kinematics(fm, track)
    body = track.body_pose.astype(np.float64).copy()
    moving = np.abs(shifts).sum(-1) > 0  # (N,2)
    eps = 1e-4
    for _ in range(iterations):
        current = track.replace(body_pose=body)
        _, pos, _ = forward_kinematics(fm, current)
        for f, (hip, knee, ankle) in enumerate(_LEGS):
            rows = moving[:, f]
            if not rows.any():
                continue
            residual = (pos0[:, ankle] + shifts[:, f] - pos[:, ankle])[rows]
            jac = np.zeros((int(rows.sum()), 3, 6))
            for k in range(6):
                bumped = body.copy()
                joint = (hip, knee)[k // 3] - 1
                delta = np.zeros(3)
                delta[k % 3] = eps
                bumped[:, joint] = _rotvec(_rotations(body[:, joint]) @ _rotations(delta))
                bumped_pos = forward_kinematics(fm, current.replace(body_pose=bumped))[1]
                jac[:, :, k] = (bumped_pos[rows, ankle] - pos[rows, ankle]) / eps
            jt = np.swapaxes(jac, 1, 2)
            # a stack of vectors as (n, 6, 1): numpy 2 reads a 2-D right-hand side as one matrix
            rhs = np.einsum("nka,na->nk", jt, residual)[..., None]
            step = np.linalg.solve(jt @ jac + damping * np.eye(6), rhs)[..., 0]
            for i, joint in enumerate((hip, knee)):
                turn = _rotations(step[:, 3 * i:3 * i + 3])
                body[rows, joint - 1] = _rotvec(_rotations(body[rows, joint - 1]) @ turn)
    rot, _, _ = forward_kinematics(fm, track.replace(body_pose=body))
    for f, (_, knee, ankle) in enumerate(_LEGS):  # ankle: back to the foot's original global orientation
        rows = moving[:, f]
        body[rows, ankle - 1] = _rotvec(np.swapaxes(rot[rows, knee], -1, -2) @ rot0[rows, ankle])
    return track.replace(body_pose=body)
