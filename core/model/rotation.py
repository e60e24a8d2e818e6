"""Rotation conversions of SMPLer-X's output heads (model_spec.md §3.10).

6D → matrix is the reference's Gram–Schmidt on an interleaved (3,2) layout; matrix → axis-angle goes through
quaternions with the same four branches as torchgeometry 0.1.2, because a naive acos/sin log map loses up to
3e-3 rad within 0.01 rad of π.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["rot6d_to_matrix", "matrix_to_quaternion", "quaternion_to_axis_angle", "rot6d_to_axis_angle"]


def rot6d_to_matrix(x: torch.Tensor) -> torch.Tensor:
    """6D rotation → rotation matrix.

    Args:
        x: (..., 6); read row-major as a 3×2 matrix, so the two columns are (v0, v2, v4) and (v1, v3, v5).

    Returns:
        (..., 3, 3) rotation matrices whose columns are b1, b2, b3.
    """
    m = x.reshape(*x.shape[:-1], 3, 2)
    a1, a2 = m[..., 0], m[..., 1]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)  # the reference omits dim and breaks when 3 rotations are converted at once
    return torch.stack((b1, b2, b3), dim=-1)


def matrix_to_quaternion(rot: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Rotation matrix → unit quaternion (w, x, y, z), branch selection as torchgeometry 0.1.2.

    Args:
        rot: (N, 3, 3) rotation matrices.

    Returns:
        (N, 4) quaternions.
    """
    r = rot.transpose(1, 2)
    m00, m01, m02 = r[:, 0, 0], r[:, 0, 1], r[:, 0, 2]
    m10, m11, m12 = r[:, 1, 0], r[:, 1, 1], r[:, 1, 2]
    m20, m21, m22 = r[:, 2, 0], r[:, 2, 1], r[:, 2, 2]
    t0 = 1 + m00 - m11 - m22
    t1 = 1 - m00 + m11 - m22
    t2 = 1 - m00 - m11 + m22
    t3 = 1 + m00 + m11 + m22
    q0 = torch.stack((m12 - m21, t0, m01 + m10, m20 + m02), -1)
    q1 = torch.stack((m20 - m02, m01 + m10, t1, m12 + m21), -1)
    q2 = torch.stack((m01 - m10, m20 + m02, m12 + m21, t2), -1)
    q3 = torch.stack((t3, m12 - m21, m20 - m02, m01 - m10), -1)
    d2 = m22 < eps
    d0_d1 = m00 > m11
    d0_nd1 = m00 < -m11
    c0 = (d2 & d0_d1).unsqueeze(-1)
    c1 = (d2 & ~d0_d1).unsqueeze(-1)
    c2 = (~d2 & d0_nd1).unsqueeze(-1)
    c3 = (~d2 & ~d0_nd1).unsqueeze(-1)
    q = q0 * c0 + q1 * c1 + q2 * c2 + q3 * c3
    t = t0.unsqueeze(-1) * c0 + t1.unsqueeze(-1) * c1 + t2.unsqueeze(-1) * c2 + t3.unsqueeze(-1) * c3
    return q / torch.sqrt(t) * 0.5


def quaternion_to_axis_angle(q: torch.Tensor) -> torch.Tensor:
    """Unit quaternion (w, x, y, z) → axis-angle with the angle in [0, π] (ceres-style, stable near 0 and π).

    Args:
        q: (..., 4).

    Returns:
        (..., 3) axis × angle, radians.
    """
    v = q[..., 1:]
    sin_sq = (v * v).sum(-1)
    sin_t = torch.sqrt(sin_sq)
    cos_t = q[..., 0]
    two_theta = 2.0 * torch.where(cos_t < 0.0, torch.atan2(-sin_t, -cos_t), torch.atan2(sin_t, cos_t))
    k = torch.where(sin_sq > 0.0, two_theta / sin_t, torch.full_like(sin_t, 2.0))
    return v * k.unsqueeze(-1)


def rot6d_to_axis_angle(x: torch.Tensor) -> torch.Tensor:
    """6D → axis-angle as the reference's `rot6d_to_axis_angle`, NaN replaced by 0.

    Args:
        x: (N, 6) raw head outputs.

    Returns:
        (N, 3) axis-angle, radians.
    """
    rot = rot6d_to_matrix(x.reshape(-1, 6))
    aa = quaternion_to_axis_angle(matrix_to_quaternion(rot))
    return torch.where(torch.isnan(aa), torch.zeros_like(aa), aa)
