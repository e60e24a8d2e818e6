"""6D → axis-angle against scipy, including angles within 1e-3 rad of π and batches of exactly 3."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from core.model.rotation import matrix_to_quaternion, quaternion_to_axis_angle, rot6d_to_axis_angle


def _to_6d(mats: np.ndarray) -> torch.Tensor:
    # interleaved layout of the reference: view(-1, 3, 2) row-major over the first two columns
    return torch.from_numpy(mats[:, :, :2].reshape(-1, 6).astype(np.float64))


@pytest.mark.parametrize("n", [1, 3, 500])
def test_rot6d_matches_scipy(n):
    rots = Rotation.random(n, random_state=n)
    aa = rot6d_to_axis_angle(_to_6d(rots.as_matrix())).numpy()
    ref = rots.as_rotvec()
    np.testing.assert_allclose(Rotation.from_rotvec(aa).as_matrix(), rots.as_matrix(), atol=1e-9)
    assert np.all(np.linalg.norm(aa, axis=1) <= np.pi + 1e-9)
    np.testing.assert_allclose(aa, ref, atol=1e-8)


def test_near_pi_is_exact():
    axes = np.random.default_rng(0).normal(size=(200, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.pi - np.geomspace(1e-7, 1e-2, 200)
    rots = Rotation.from_rotvec(axes * angles[:, None])
    aa = rot6d_to_axis_angle(_to_6d(rots.as_matrix()).float()).double().numpy()
    diff = (Rotation.from_rotvec(aa).inv() * rots).magnitude()
    assert diff.max() < 1e-5


def test_unnormalised_6d_gram_schmidt():
    """Raw network outputs are not orthonormal: the conversion orthonormalises like the reference."""
    x = torch.randn(64, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    m = x.view(-1, 3, 2).numpy()
    b1 = m[:, :, 0] / np.linalg.norm(m[:, :, 0], axis=1, keepdims=True)
    a2 = m[:, :, 1] - (b1 * m[:, :, 1]).sum(1, keepdims=True) * b1
    b2 = a2 / np.linalg.norm(a2, axis=1, keepdims=True)
    mats = np.stack([b1, b2, np.cross(b1, b2)], axis=-1)
    np.testing.assert_allclose(rot6d_to_axis_angle(x).numpy(), Rotation.from_matrix(mats).as_rotvec(), atol=1e-9)


def test_identity_and_quaternion_route():
    q = matrix_to_quaternion(torch.eye(3, dtype=torch.float64)[None])
    np.testing.assert_allclose(q.numpy(), [[1, 0, 0, 0]])
    assert torch.equal(quaternion_to_axis_angle(q), torch.zeros(1, 3, dtype=torch.float64))
