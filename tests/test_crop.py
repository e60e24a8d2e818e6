"""Box processing and the affine crop: hand-computed boxes, the round trip, exact bilinear sampling."""

import numpy as np
import pytest
import torch

from core.crop import apply_affine, crop_image, crop_people, crop_transform, process_bbox, warp_affine


def test_process_bbox_by_hand():
    # 100×300 box at (10, 20) in a 1000×1000 image: sanitised to 99×299, widened to 0.75·299, then ×1.25
    box = process_bbox(np.array([10.0, 20.0, 100.0, 300.0]), 1000, 1000)
    w, h = 0.75 * 299 * 1.25, 299 * 1.25
    cx, cy = 10 + 99 / 2, 20 + 299 / 2
    np.testing.assert_allclose(box, [cx - w / 2, cy - h / 2, w, h], rtol=1e-6)
    assert box.dtype == np.float32


def test_process_bbox_wide_box_and_outside():
    box = process_bbox(np.array([0.0, 0.0, 401.0, 101.0]), 1000, 1000)
    assert box[2] / box[3] == pytest.approx(0.75) and box[2] == pytest.approx(400 * 1.25)
    assert process_bbox(np.array([2000.0, 10.0, 50.0, 150.0]), 1000, 1000) is None


def test_transform_round_trip_and_centre():
    box = np.array([354.86563, 4.6375, 570.46875, 760.625], dtype=np.float32)
    fwd, inv = crop_transform(box), crop_transform(box, inverse=True)
    centre = box[:2] + box[2:] / 2
    np.testing.assert_allclose(apply_affine(centre[None], fwd), [[192, 256]], atol=1e-3)
    pts = np.random.default_rng(0).uniform(0, 500, size=(50, 2))
    np.testing.assert_allclose(apply_affine(apply_affine(pts, fwd), inv), pts, atol=1e-3)
    batch = crop_people(np.zeros((720, 1280, 3), np.uint8), np.array([[500.3, 80.7, 780.9, 690.2]]))
    np.testing.assert_allclose(batch.crop_to_image(batch.image_to_crop(pts, 0), 0), pts, atol=1e-3)


def test_warp_is_exact_bilinear():
    """A linear ramp image is reproduced exactly by bilinear sampling at the mapped coordinates."""
    h, w = 60, 80
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xs * 2.0, ys * 3.0, xs + ys], axis=-1)
    mat = np.array([[[0.5, 0.1, 3.0], [-0.05, 0.6, 2.0]]], dtype=np.float32)
    out = warp_affine(torch.from_numpy(img), mat, (40, 30))[0].numpy()
    inv = np.linalg.inv(np.vstack([mat[0], [0, 0, 1]]))[:2]
    oy, ox = np.mgrid[0:30, 0:40]
    src = np.einsum("ij,hwj->hwi", inv, np.stack([ox, oy, np.ones_like(ox)], -1))
    inside = (src[..., 0] >= 0) & (src[..., 0] <= w - 1) & (src[..., 1] >= 0) & (src[..., 1] <= h - 1)
    np.testing.assert_allclose(out[0][inside], 2 * src[..., 0][inside], atol=2e-3)
    np.testing.assert_allclose(out[1][inside], 3 * src[..., 1][inside], atol=2e-3)


def test_outside_frame_is_black_and_flip_mirrors():
    img = np.full((100, 100, 3), 200, np.uint8)
    img[:, :50] = 10
    crop, _, _ = crop_image(img, np.array([-50.0, 0.0, 75.0, 100.0], np.float32), out_wh=(60, 80))
    assert crop[40, 0].max() == 0  # left of the frame
    # flip: the reference mirrors the image (x → W−1−x) and the box centre with it, so crop pixel j of the
    # flipped crop shows original x = cx − (j − W'/2)·s; checked on a ramp whose value is x
    ramp = np.repeat(np.arange(100, dtype=np.float32)[None, :, None], 100, axis=0).repeat(3, axis=2)
    box = np.array([20.0, 10.0, 60.0, 80.0], np.float32)
    flipped, _, _ = crop_image(ramp, box, out_wh=(60, 80), flip=True)
    cx, s = 20.0 + 30.0, 60.0 / 60
    np.testing.assert_allclose(flipped[40, :, 0], cx - (np.arange(60) - 30) * s, atol=1e-3)
