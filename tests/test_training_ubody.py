"""UBody evaluation protocol of SMPLer-X (issue 15, item 2) and its test-frame selection.

The expected values are the reference's formulas (`data/UBody/UBody.py::evaluate`), re-derived here from their
description: the GT mesh projected with the virtual camera (focal 5000, principal point (96,128) in the 192×256 body
input) through the crop → image affine decides visibility (0 < x < W, 0 < y < H); Procrustes and the pelvis / wrist
/ neck anchors use every vertex (joint) and only the error average is restricted to the visible ones.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from training import synthetic
from training.metrics import MeshEvaluator

T_PRED = np.array([0.02, 0.25, 40.0])  # a predicted camera translation that frames the body in the crop
BB2IMG = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # crop pixels are image pixels
IMG_SHAPE = (400, 384)  # the crop is 512 high: the legs fall below the image


@pytest.fixture(scope="module")
def ev(mannequin_dir):
    return MeshEvaluator.from_model_dir(mannequin_dir)


@pytest.fixture(scope="module")
def gt_mesh(mannequin_dir):
    """A standing mannequin in the OpenCV camera frame, placed at the predicted translation."""
    from core.body import read_model_arrays

    v = read_model_arrays(mannequin_dir)["v_template"].astype(np.float64)
    v = v * np.array([1.0, -1.0, -1.0])  # Y up → OpenCV (y down, z forward)
    return v - v.mean(0) + T_PRED


def _visible(points, t=T_PRED, bb2img=BB2IMG, shape=IMG_SHAPE):
    """Reference visibility: virtual pinhole of the body input, ×2 into the 384×512 crop, affine to the image."""
    x = points[:, 0] / (points[:, 2] + 1e-4) * 5000 + 96
    y = points[:, 1] / (points[:, 2] + 1e-4) * 5000 + 128
    uv = np.stack([x * 2, y * 2, np.ones_like(x)], 1) @ bb2img.T
    h, w = shape
    return (uv[:, 0] > 0) & (uv[:, 0] < w) & (uv[:, 1] > 0) & (uv[:, 1] < h)


def _procrustes(src, dst):
    """Similarity of src onto dst: Kabsch rotation with the reflection fix (as the reference's
    `rigid_transform_3D`), scale = trace term / variance of src."""
    a, b = src - src.mean(0), dst - dst.mean(0)
    u, sig, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T  # b ≈ s · r · a
    s = (sig * np.array([1.0, 1.0, d])).sum() / (a ** 2).sum()
    return s * a @ r.T + dst.mean(0)


def _err(a, b, m):
    return np.linalg.norm(a - b, axis=1)[m].mean() * 1000


def _hand21(ev, verts, left):
    j = ev.j_regressor @ verts
    return ev.hand_joints(verts, j, left)


def _reference(ev, pred, gt):
    """Every UBody number of one sample by the reference's formulas (with T_PRED, BB2IMG and IMG_SHAPE)."""
    vis = _visible(gt)
    jp, jg = ev.j_regressor @ pred, ev.j_regressor @ gt
    out = {"pa_pve_all": _err(_procrustes(pred, gt), gt, vis),
           "pve_all": _err(pred - jp[0] + jg[0], gt, vis)}
    pa_h, pve_h, pa_j = [], [], []
    for ids, wrist, left in ((ev.lhand, 20, True), (ev.rhand, 21, False)):
        if vis[ids].any():
            pa_h.append(_err(_procrustes(pred[ids], gt[ids]), gt[ids], vis[ids]))
            pve_h.append(_err(pred[ids] - jp[wrist] + jg[wrist], gt[ids], vis[ids]))
        jv = _visible(_hand21(ev, gt - T_PRED, left) + T_PRED)
        if jv.any():
            p21, g21 = _hand21(ev, pred, left), _hand21(ev, gt, left)
            pa_j.append(_err(_procrustes(p21, g21), g21, jv))
    for k, v in (("pa_pve_hand", pa_h), ("pve_hand", pve_h), ("pa_mpjpe_hand", pa_j)):
        if v:
            out[k] = float(np.mean(v))
    f = ev.face
    if vis[f].any():
        out["pa_pve_face"] = _err(_procrustes(pred[f], gt[f]), gt[f], vis[f])
        out["pve_face"] = _err(pred[f] - jp[12] + jg[12], gt[f], vis[f])
    jv = _visible(ev.j14 @ (gt - T_PRED) + T_PRED)
    p14, g14 = ev.j14 @ pred, ev.j14 @ gt
    out["pa_mpjpe_body"] = _err(_procrustes(p14, g14), g14, jv)
    return out


def test_constructed_case_is_partly_out_of_frame(gt_mesh, ev):
    vis = _visible(gt_mesh)
    assert 0.3 < vis.mean() < 0.95  # the legs are out, the head and hands are in
    assert vis[ev.face].all()


def test_error_only_on_out_of_frame_vertices(gt_mesh, ev):
    """Procrustes on all vertices: an error confined to invisible vertices still moves the visible ones."""
    vis = _visible(gt_mesh)
    pred = gt_mesh.copy()
    pred[~vis] += np.array([0.25, -0.1, 0.3])
    got = ev.evaluate_ubody(pred, gt_mesh, T_PRED, BB2IMG, IMG_SHAPE)
    want = _reference(ev, pred, gt_mesh)
    assert want["pa_pve_all"] > 10.0  # the visible vertices are not at zero error under the reference
    assert sorted(got) == sorted(want)
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-6, abs=1e-6), k


def test_random_error_everywhere(gt_mesh, ev):
    rng = np.random.default_rng(5)
    pred = gt_mesh + rng.normal(0, 0.02, gt_mesh.shape) + np.array([0.1, 0.0, 0.5])
    got = ev.evaluate_ubody(pred, gt_mesh, T_PRED, BB2IMG, IMG_SHAPE)
    want = _reference(ev, pred, gt_mesh)
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-6, abs=1e-6), k


def test_hand_out_of_frame_is_left_out(gt_mesh, ev):
    """A hand whose vertices all project outside the image does not enter the hand means."""
    v = _visible(gt_mesh)
    assert v[ev.lhand].any() and v[ev.rhand].any()
    # narrow the image so that only one hand stays in: the mannequin's left hand is at +x (image right)
    xs = gt_mesh[:, 0] / (gt_mesh[:, 2] + 1e-4) * 5000 * 2 + 192
    cut = (xs[ev.lhand].min() + xs[ev.rhand].max()) / 2 if xs[ev.lhand].min() > xs[ev.rhand].max() else \
        (xs[ev.rhand].min() + xs[ev.lhand].max()) / 2
    shape = (400, int(cut))
    rng = np.random.default_rng(6)
    pred = gt_mesh + rng.normal(0, 0.01, gt_mesh.shape)
    got = ev.evaluate_ubody(pred, gt_mesh, T_PRED, BB2IMG, shape)
    vis = _visible(gt_mesh, shape=shape)
    inside = [ids for ids in (ev.lhand, ev.rhand) if vis[ids].any()]
    assert len(inside) == 1
    ids = inside[0]
    assert got["pa_pve_hand"] == pytest.approx(_err(_procrustes(pred[ids], gt_mesh[ids]), gt_mesh[ids], vis[ids]),
                                               rel=1e-6)


def _ubody_layout(root, mannequin_dir, n=6):
    """Synthetic UBody with one crowd annotation, one without keypoints and one missing image."""
    synthetic.write_ubody(root, mannequin_dir, n=n, seed=41, scenes=("Magic_show",))
    kp_path = root / "UBody" / "annotations" / "Magic_show" / "keypoint_annotation.json"
    db = json.loads(kp_path.read_text())
    db["annotations"][1]["iscrowd"] = 1
    db["annotations"][3]["num_keypoints"] = 0
    kp_path.write_text(json.dumps(db))
    missing = db["images"][5]["file_name"]
    (root / "UBody" / "images" / "Magic_show" / missing).unlink()
    return db


def test_selection_counts_before_filters(tmp_path, mannequin_dir):
    """1-based counter over all annotations, then the split and the crowd / keypoint / image filters."""
    from training.datasets.osx import UBody

    db = _ubody_layout(tmp_path, mannequin_dir, n=8)
    names = [im["file_name"] for im in db["images"]]
    for split, step in (("test", 1), ("test", 2), ("train", 2), ("train", 3)):
        want = []
        for count, ann in enumerate(db["annotations"], start=1):
            name = names[ann["image_id"]]
            is_test = "video1" in name
            if count % step or is_test != (split == "test") or ann["iscrowd"] or ann["num_keypoints"] == 0 \
                    or ann["image_id"] == 5:
                continue
            want.append(name)
        got = [r["img_path"].split("Magic_show/", 1)[1] for r in UBody(tmp_path, split, interval=step).records]
        assert got == want, (split, step)
    # interval 2 keeps the 2nd, 4th, … annotations (indices 1, 3, 5, 7: all test videos here); 1 is a crowd, 3 has no
    # keypoints, 5 has no image: only 7 is left (counting after the filters would have kept two)
    assert len(UBody(tmp_path, "test", interval=2).records) == 1
