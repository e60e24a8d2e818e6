"""Evaluation metrics (training/metrics.py) against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from training import metrics


def _scipy_similarity(src, dst):
    """Procrustes with scale through scipy: R from orthogonal_procrustes on centred sets, scale by least squares."""
    s0, d0 = src - src.mean(0), dst - dst.mean(0)
    r, _ = orthogonal_procrustes(s0, d0)  # s0 @ r ≈ d0
    aligned = s0 @ r
    scale = (aligned * d0).sum() / (aligned ** 2).sum()
    return scale * aligned + dst.mean(0)


def test_rigid_align_matches_scipy():
    rng = np.random.default_rng(0)
    dst = rng.normal(size=(50, 3))
    src = 0.7 * Rotation.random(random_state=1).apply(dst) + [1, 2, 3] + rng.normal(0, 0.05, (50, 3))
    np.testing.assert_allclose(metrics.rigid_align(src, dst), _scipy_similarity(src, dst), atol=1e-9)
    exact = 1.3 * Rotation.random(random_state=2).apply(dst) - 4
    np.testing.assert_allclose(metrics.rigid_align(exact, dst), dst, atol=1e-9)


def test_anchored_and_pa_values():
    gt = np.zeros((4, 3))
    pred = gt + [0.01, 0, 0]
    pred[0] += [0, 0.002, 0]
    assert metrics.anchored(pred, gt, pred[1], gt[1]) == pytest.approx(0.5)  # 2 mm on one of 4 points
    assert metrics.pa(2 * Rotation.random(random_state=3).apply(np.random.default_rng(1).normal(size=(9, 3))),
                      np.random.default_rng(1).normal(size=(9, 3))) == pytest.approx(0.0, abs=1e-9)


def test_mesh_evaluator_on_mannequin(mannequin_dir):
    ev = metrics.MeshEvaluator.from_model_dir(mannequin_dir)
    from core.body import read_model_arrays

    gt = read_model_arrays(mannequin_dir)["v_template"].astype(np.float64)
    shifted = gt + [0.3, -0.1, 2.0]
    res = ev.evaluate(shifted, gt)
    assert all(v == pytest.approx(0.0, abs=1e-3) for v in res.values())  # float32 regressor rows: ~1e-5 mm
    rng = np.random.default_rng(0)
    noisy = gt + rng.normal(0, 0.01, gt.shape)
    res = ev.evaluate(noisy, gt)
    j = ev.j_regressor
    expect = np.linalg.norm(noisy - (j @ noisy)[0] + (j @ gt)[0] - gt, axis=1).mean() * 1000
    assert res["pve_all"] == pytest.approx(expect)
    lh = ev.lhand
    expect_l = np.linalg.norm(noisy[lh] - (j @ noisy)[20] + (j @ gt)[20] - gt[lh], axis=1).mean() * 1000
    rh = ev.rhand
    expect_r = np.linalg.norm(noisy[rh] - (j @ noisy)[21] + (j @ gt)[21] - gt[rh], axis=1).mean() * 1000
    assert res["pve_hand"] == pytest.approx((expect_l + expect_r) / 2)
    assert res["pa_pve_all"] <= res["pve_all"]
    assert set(res) >= {"pve_face", "pa_pve_face", "mpjpe_body", "pa_mpjpe_body", "mpjpe_hand", "pa_mpjpe_hand"}


def test_pw3d_protocol():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(24, 3))
    pred = np.concatenate([gt[:22] + [1.0, 0, 0], rng.normal(size=(33, 3))])  # translated SMPL-X joints
    pred[4] += [0.0, 0.014, 0.0]
    r = metrics.pw3d_errors(pred, gt)
    assert r["mpjpe_body"] == pytest.approx(14.0 / 14)


def test_matching_f1_and_mpe():
    gt = np.random.default_rng(0).uniform(0, 500, (3, 10, 2))
    pred = np.concatenate([gt[[2, 0]] + 1.0, np.full((1, 10, 2), 5000.0)])
    pairs, s = metrics.match_people(pred, gt, threshold=50)
    assert sorted(pairs) == [(0, 2), (1, 0)]
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == pytest.approx(2 / 3)
    assert metrics.normalised_error(100.0, s["f1"]) == pytest.approx(150.0)
    assert metrics.mpe({"AGORA": 1, "EgoBody": 2, "UBody": 3, "3DPW": 4, "EHF": 5}) == 3.0
    with pytest.raises(ValueError, match="EHF"):
        metrics.mpe({"AGORA": 1, "EgoBody": 2, "UBody": 3, "3DPW": 4})


def test_visible_vertices_only(mannequin_dir):
    ev = metrics.MeshEvaluator.from_model_dir(mannequin_dir)
    from core.body import read_model_arrays

    gt = read_model_arrays(mannequin_dir)["v_template"].astype(np.float64)
    pred = gt + np.random.default_rng(1).normal(0, 0.01, gt.shape)
    assert ev.evaluate(pred, gt, np.ones(len(gt), bool)) == ev.evaluate(pred, gt)
    vis = np.zeros(len(gt), bool)
    vis[ev.rhand] = True
    vis[:2000] = True
    vis[ev.lhand] = False
    res = ev.evaluate(pred, gt, vis)
    j = ev.j_regressor
    ids = np.flatnonzero(vis)
    expect = np.linalg.norm(pred[ids] - (j @ pred)[0] + (j @ gt)[0] - gt[ids], axis=1).mean() * 1000
    assert res["pve_all"] == pytest.approx(expect)
    rh = ev.rhand
    expect_r = np.linalg.norm(pred[rh] - (j @ pred)[21] + (j @ gt)[21] - gt[rh], axis=1).mean() * 1000
    assert res["pve_hand"] == pytest.approx(expect_r)  # the invisible left hand is left out
