"""A joints-only copy of an smplx SMPL-X layer: the same 144 output joints for a fraction of the cost.

The per-sample target pipeline (`training.targets`) needs the model's joints, never its 10,475 vertices, yet
SMPLer-X ran the full vertex skinning once per sample in the DataLoader (training_spec.md §9: the data pipeline is
the bottleneck). The output joints only read a few hundred vertices (the 21 vertex joints and the landmark faces)
plus the skeleton `J_regressor · v_shaped`. This module builds an smplx layer whose template holds just those
vertices plus 55 *virtual vertices* placed at the regressed joints (their shape directions are
`J_regressor · shapedirs`), with a `J_regressor` that picks the virtual vertices: smplx's own forward then yields
the same joints (to float rounding) with ~25× fewer vertices.
"""

from __future__ import annotations

import copy

import torch


def joints_only(layer):
    """A deep copy of an smplx SMPL-X module reduced to the vertices its output joints depend on.

    Args:
        layer: an `smplx.SMPLX` module (any batch size, use_face_contour on or off).
    Returns:
        a module with the same forward signature; `.joints` (B,144,3) equal to the original's; `.vertices` are
        the reduced set (meaningless as a mesh).
    """
    m = copy.deepcopy(layer)
    faces = m.faces_tensor
    needed_faces = [m.lmk_faces_idx.reshape(-1)]
    if hasattr(m, "dynamic_lmk_faces_idx"):
        needed_faces.append(m.dynamic_lmk_faces_idx.reshape(-1))
    ids = torch.unique(torch.cat([m.vertex_joint_selector.extra_joints_idxs,
                                  faces[torch.cat(needed_faces)].reshape(-1)]))
    n_keep, n_j = len(ids), m.J_regressor.shape[0]
    remap = torch.zeros(m.v_template.shape[0], dtype=torch.long)
    remap[ids] = torch.arange(n_keep)
    jr = m.J_regressor
    with torch.no_grad():
        v_t = torch.cat([m.v_template[ids], jr @ m.v_template])
        shapedirs = torch.cat([m.shapedirs[ids], torch.einsum("jv,vck->jck", jr, m.shapedirs)])
        expr = torch.cat([m.expr_dirs[ids], torch.einsum("jv,vck->jck", jr, m.expr_dirs)])
        p = m.posedirs.reshape(m.posedirs.shape[0], -1, 3)
        posedirs = torch.cat([p[:, ids], torch.zeros(p.shape[0], n_j, 3, dtype=p.dtype)], 1).reshape(p.shape[0], -1)
        weights = torch.cat([m.lbs_weights[ids], torch.eye(n_j, m.lbs_weights.shape[1], dtype=m.lbs_weights.dtype)])
        new_jr = torch.cat([torch.zeros(n_j, n_keep, dtype=jr.dtype), torch.eye(n_j, dtype=jr.dtype)], 1)
    m.v_template, m.shapedirs, m.expr_dirs, m.posedirs = v_t, shapedirs, expr, posedirs
    m.lbs_weights, m.J_regressor = weights, new_jr
    m.faces_tensor = remap[faces]
    m.vertex_joint_selector.extra_joints_idxs = remap[m.vertex_joint_selector.extra_joints_idxs]
    return m
