"""The retargeting itself (numpy only): per-frame target rotations from the source's world deltas and the rest
alignments, the root translation with feet on the source's floor, and local pose-bone channels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import animate
from .kinematics import (Rig, contact_points, frame, leg_length, normalize, point_heights, rest_floor,
                         rest_heights, rigid_inv, sample_pose, swing, times)
from .mapping import TAIL, Mapping, Unit, resolve
from .presets import CHAINS, SOURCE_PRESET, load_preset


@dataclass
class Solution:
    """Retargeted channels of the target (numpy only; `write` turns them into an Action).

    Attributes:
        frames: (N,) frame numbers.
        quats: {bone: (N,4)} pose-bone rotation_quaternion (w, x, y, z), sign-continuous.
        locations: {bone: (N,3)} pose-bone location of the root bone.
        scale: target/source leg length ratio used for the translation.
        floor: world height of the source's floor.
        align: {bone: (3,3)} rest alignment A of each driven bone (live.py builds its helpers from it).
    """

    frames: np.ndarray
    quats: dict
    locations: dict
    scale: float
    floor: float
    align: dict = field(default_factory=dict)


def solve(source, target, mapping: Mapping, frames) -> Solution:
    """Compute the target's pose-bone channels for `frames` (see the module docstring)."""
    frames = np.asarray(frames, np.float64)
    src, tgt = Rig.of(source), Rig.of(target)
    s_names, s_mats = sample_pose(source, frames)
    s_idx = {n: i for i, n in enumerate(s_names)}
    s_rot = src.rot @ s_mats[:, :, :3, :3]  # bones are rigid (no animated scale): these are rotations
    s_head = s_mats[:, :, :, 3] @ src.world[:3].T
    s_rest_rot = np.array([src.rest_rot(n) for n in s_names])
    delta = s_rot @ np.swapaxes(s_rest_rot, -1, -2)  # world rotation relative to rest, per source bone

    align = {}  # target bone → rest alignment A (3,3)
    deltas = {}  # target bone → desired world delta (N,3,3)
    _fix_chain_fractions(mapping, tgt)
    for unit in _alignment_order(mapping.units):
        deltas[unit.target], align[unit.target] = _unit_delta(unit, src, tgt, s_idx, delta, s_head, align)

    tp = mapping.preset
    t_bones, _, _ = resolve(target, tp)
    sp = load_preset(SOURCE_PRESET)
    s_bones, _, _ = resolve(source, sp)
    quats, mats = _local_rotations(target, tgt, deltas, tp.get("follow", {}), len(frames))
    root = mapping.root

    # translation: source pelvis path, scaled by leg length, feet kept on the source's floor
    s_leg, t_leg = leg_length(src, s_bones), leg_length(tgt, t_bones)
    k = t_leg / s_leg if s_leg and t_leg else 1.0
    s_floor0, t_floor0 = rest_floor(source, src), rest_floor(target, tgt)
    s_points, t_points = contact_points(s_bones), contact_points(t_bones)
    pelvis = s_head[:, s_idx[s_bones["pelvis"]]]
    if s_points:  # where each contact point's floor would be, per frame; the floor is their low 5th percentile
        s_under = (point_heights(source, src, s_names, s_mats, s_points)
                   - (rest_heights(src, s_points) - s_floor0)).min(axis=1)
        floor = float(np.percentile(s_under, 5))
    else:
        floor = s_floor0
    want = pelvis[0] + k * (pelvis - pelvis[0])
    height_t = tgt.rest_head(root)[2] - t_floor0
    height_s = src.rest_head(s_bones["pelvis"])[2] - s_floor0
    want[:, 2] = floor + height_t + k * (pelvis[:, 2] - floor - height_s)
    r = tgt.index[root]
    shift = want - (mats[:, r, :, 3] @ tgt.world.T)[:, :3]  # from the root head with zero location
    if s_points and t_points:
        t_under = (point_heights(target, tgt, tgt.names, mats, t_points) + shift[:, 2:3]
                   - (rest_heights(tgt, t_points) - t_floor0)).min(axis=1)
        shift[:, 2] += floor + k * (s_under - floor) - t_under
    # pose = base · T(loc) · R(q), so the head moves by base[:3,:3] · loc; base rotation = pose rotation · R(q)ᵀ
    base = mats[:, r, :3, :3]
    if root in quats:
        base = base @ np.swapaxes(animate.quat_to_matrix(quats[root]), -1, -2)
    shift_arm = shift @ np.linalg.inv(tgt.world[:3, :3]).T
    loc = np.einsum("nba,nb->na", base, shift_arm)  # base is a rotation: its inverse is its transpose
    return Solution(frames=frames, quats={b: animate.continuous_quats(q) for b, q in quats.items()},
                    locations={root: loc}, scale=float(k), floor=floor, align=align)


def _alignment_order(units: list) -> list:
    """Units with every leaf after the unit whose alignment it reuses (a jaw after its head, …)."""
    done, order, todo = set(), [], list(units)
    while todo:
        ready = [u for u in todo if u.inherit is None or u.inherit in done
                 or u.inherit not in {v.target for v in todo}]
        if not ready:  # a cycle cannot come from the SMPL-X tree; keep the rest as they are
            ready = todo
        order += ready
        done |= {u.target for u in ready}
        todo = [u for u in todo if u.target not in done]
    return order


def _fix_chain_fractions(mapping: Mapping, tgt: Rig) -> None:
    """Each chain bone covers [u0, u1] of its chain: its cumulative share of the target chain's rest length."""
    for chain in CHAINS:
        units = [u for u in mapping.units if u.chain == chain and u.target_end is not None]
        if not units:
            continue
        points = [tgt.rest_head(u.target) for u in units] + [tgt.rest_head(units[-1].target_end)]
        lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
        cum = np.concatenate([[0.0], np.cumsum(lengths)]) / max(lengths.sum(), 1e-12)
        for i, unit in enumerate(units):
            unit.u0, unit.u1 = float(cum[i]), float(cum[i + 1])


def _polyline(src: Rig, s_head: np.ndarray, s_idx: dict, bones: list, end: str) -> tuple:
    """Rest (P,3) and posed (N,P,3) points of a source chain (heads of `bones`, then `end`), and cumulative
    fractions (P,)."""
    rest, cum = rest_polyline(src, bones, end)
    posed = s_head[:, [s_idx[n] for n in list(bones) + [end]]]
    return rest, posed, cum


def rest_polyline(src: Rig, bones: list, end: str) -> tuple:
    """Rest (P,3) points of a source chain (heads of `bones`, then `end`) and their cumulative fractions (P,)."""
    rest = np.array([src.rest_head(n) for n in list(bones) + [end]])
    lengths = np.linalg.norm(np.diff(rest, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(lengths)]) / max(lengths.sum(), 1e-12)
    return rest, cum


def _at(points: np.ndarray, cum: np.ndarray, u: float) -> np.ndarray:
    """Point at fraction u along a polyline (points (...,P,3))."""
    k = int(np.clip(np.searchsorted(cum, u, side="right") - 1, 0, len(cum) - 2))
    w = (u - cum[k]) / max(cum[k + 1] - cum[k], 1e-12)
    return (1 - w) * points[..., k, :] + w * points[..., k + 1, :]


def _unit_delta(unit: Unit, src: Rig, tgt: Rig, s_idx: dict, delta: np.ndarray, s_head: np.ndarray,
                align: dict) -> tuple:
    """(desired world delta (N,3,3), rest alignment A (3,3)) of one target bone."""
    if unit.source_end is None:  # leaf: rigid with its mapped parent's alignment (none: copy the world delta)
        a = align.get(unit.inherit, np.eye(3))
        return delta[:, s_idx[unit.source_bones[0]]] @ a, a
    rest, posed, cum = _polyline(src, s_head, s_idx, unit.source_bones, unit.source_end)
    d_s0 = _at(rest, cum, unit.u1) - _at(rest, cum, unit.u0)
    end = tgt.rest_tail(unit.target) if unit.target_end == TAIL else tgt.rest_head(unit.target_end)
    d_t0 = end - tgt.rest_head(unit.target)
    if unit.side is not None:
        (sa, sb), (ta, tb) = unit.side
        a = frame(d_s0, src.rest_head(sb) - src.rest_head(sa)) @ frame(
            d_t0, tgt.rest_head(tb) - tgt.rest_head(ta)).T
    else:
        a = swing(d_t0, d_s0)
    mid = 0.5 * (unit.u0 + unit.u1)
    k = int(np.clip(np.searchsorted(cum, mid, side="right") - 1, 0, len(unit.source_bones) - 1))
    base = delta[:, s_idx[unit.source_bones[k]]] @ a
    if len(unit.source_bones) == 1 and unit.u0 == 0.0 and unit.u1 == 1.0:
        return base, a  # one source segment: its delta already carries the direction exactly
    d_s = _at(posed, cum, unit.u1) - _at(posed, cum, unit.u0)
    return swing(base @ normalize(d_t0), d_s) @ base, a


def _follow_order(tgt: Rig, follow: dict) -> list:
    """Bone indices with every parent and every followed bone before the bones that depend on them."""
    done, order = set(), []

    def visit(i: int, stack: tuple = ()) -> None:
        if i in done:
            return
        if i in stack:
            raise ValueError(f"retarget preset: \"follow\" makes a loop through {tgt.names[i]!r}")
        deps = [tgt.parent[i]] + [tgt.index[f] for f in [follow.get(tgt.names[i])] if f in tgt.index]
        for d in deps:
            if d >= 0:
                visit(d, stack + (i,))
        done.add(i)
        order.append(i)

    for i in range(len(tgt.names)):
        visit(i)
    return order


def _local_rotations(target, tgt: Rig, deltas: dict, follow: dict, n: int) -> tuple:
    """Pose-bone quaternions of the driven bones and every bone's armature-space pose (N,B,4,4) with zero
    locations. Undriven bones keep a rest basis; a bone in `follow` moves with that bone instead of its parent."""
    inv_obj = tgt.rot.T
    mats = np.empty((n, len(tgt.names), 4, 4))
    quats = {}
    for i in _follow_order(tgt, follow):
        name = tgt.names[i]
        p = tgt.parent[i]
        if p < 0:
            parent, parent_rest = np.broadcast_to(np.eye(4), (n, 4, 4)), np.eye(4)
        else:
            parent, parent_rest = mats[:, p], tgt.rest[p]
        lead = follow.get(name)
        if lead in tgt.index and p >= 0:
            f = tgt.index[lead]
            parent = times(mats[:, f], rigid_inv(tgt.rest[f]) @ parent_rest)
        base = times(parent, rigid_inv(parent_rest) @ tgt.rest[i])  # pose with a rest (identity) basis
        mats[:, i] = base
        if name in deltas:
            rest_rot = tgt.rest[i][:3, :3] / np.linalg.norm(tgt.rest[i][:3, :3], axis=0)
            want = inv_obj @ deltas[name] @ tgt.rot @ rest_rot  # desired armature-space orientation
            basis = np.swapaxes(base[:, :3, :3], -1, -2) @ want
            quats[name] = animate.matrix_to_quat(basis)
            mats[:, i, :3, :3] = base[:, :3, :3] @ basis
    return quats, mats
