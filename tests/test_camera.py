"""Per-crop virtual cameras and the one camera per video."""

import numpy as np

from core.camera import VideoCamera, crop_camera, to_video_camera


def _project(p, focal, princpt):
    return p[..., :2] / p[..., 2:] * focal + princpt


def test_crop_camera_is_reference_formula():
    focal, princpt = crop_camera(np.array([354.86563, 4.6375, 570.46875, 760.625]))
    np.testing.assert_allclose(focal, [5000 / 192 * 570.46875, 5000 / 256 * 760.625])
    np.testing.assert_allclose(princpt, [96 / 192 * 570.46875 + 354.86563, 128 / 256 * 760.625 + 4.6375])


def test_video_camera_keeps_root_pixel_and_size():
    rng = np.random.default_rng(0)
    cam = VideoCamera(focal=1400.0, princpt=(960.0, 540.0), width=1920, height=1080)
    boxes = np.column_stack([rng.uniform(0, 1500, 20), rng.uniform(0, 600, 20), rng.uniform(150, 400, 20), np.zeros(20)])
    boxes[:, 3] = boxes[:, 2] / 0.75
    cams = [crop_camera(b) for b in boxes]
    focal = np.array([c[0] for c in cams]); princpt = np.array([c[1] for c in cams])
    t = np.column_stack([rng.normal(0, 0.2, 20), rng.normal(0, 0.2, 20), rng.uniform(5, 40, 20)])
    t2 = to_video_camera(t, focal, princpt, cam)
    np.testing.assert_allclose(_project(t2, cam.focal, cam.princpt), _project(t, focal, princpt), atol=1e-6)
    bone = np.array([0.0, 0.5, 0.0])  # a 0.5 m vertical segment at the root depth keeps its pixel length
    len_crop = np.linalg.norm(_project(t + bone, focal, princpt) - _project(t, focal, princpt), axis=1)
    len_video = np.linalg.norm(_project(t2 + bone, cam.focal, cam.princpt) - _project(t2, cam.focal, cam.princpt),
                               axis=1)
    np.testing.assert_allclose(len_video, len_crop, rtol=1e-9)


def test_walking_towards_camera_depth_is_continuous():
    """A person walking from 8 m to 3 m: per-crop depth is nearly constant, the video camera's depth follows."""
    cam = VideoCamera(focal=1000.0, princpt=(640.0, 360.0), width=1280, height=720)
    true_z = np.linspace(8.0, 3.0, 60)
    height_px = cam.focal * 1.7 / true_z  # a 1.7 m person
    boxes = np.column_stack([640 - 0.375 * height_px * 1.25, 360 - 0.5 * height_px * 1.25,
                             0.75 * height_px * 1.25, height_px * 1.25])
    focal = np.array([crop_camera(b)[0] for b in boxes]); princpt = np.array([crop_camera(b)[1] for b in boxes])
    # what the network predicts: the person fills every crop alike, so its crop depth is the same each frame
    t_crop = np.column_stack([np.zeros(60), np.zeros(60), np.full(60, focal[0, 0] * true_z[0] / cam.focal)])
    z = to_video_camera(t_crop, focal, princpt, cam)[:, 2]
    np.testing.assert_allclose(z, true_z, rtol=1e-6)
    assert np.abs(np.diff(z, 2)).max() < 1e-2
