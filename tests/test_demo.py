"""The shipped mannequin demo: its files, its ground truth against the video, and the demo network's accuracy.

The accuracy bound comes from a measured run (see `test_demo_network_tracks_the_true_motion`); the ground-truth
check renders the true motion independently (smplx forward of the mannequin + rasteriser) and compares it with the
decoded video frames.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

ASSETS = Path(__file__).resolve().parents[1] / "assets"
CHECKPOINT = ASSETS / "demo_smpler_x.pth.tar"
VIDEO = ASSETS / "sample.mp4"
MOTION = ASSETS / "sample_motion.npz"

pytestmark = pytest.mark.timeout(300)


def _need(*paths: Path) -> None:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        pytest.fail(f"demo asset(s) missing: {missing} (python -m training.demo build-all)")


def test_asset_sizes():
    _need(CHECKPOINT, VIDEO, MOTION)
    assert CHECKPOINT.stat().st_size <= 40 * 2**20
    assert VIDEO.stat().st_size <= 5 * 2**20


def test_checkpoint_loads_as_smplerx(mannequin_dir):
    import torch

    from core.model import SMPLerX

    _need(CHECKPOINT)
    model = SMPLerX.from_checkpoint(CHECKPOINT, mannequin_dir)
    assert (model.cfg.embed_dim, model.cfg.depth, model.cfg.num_heads, model.cfg.box_width) == (128, 4, 4, 32)
    out = model.forward_crops(torch.rand(1, 3, 512, 384))
    assert out["smplx_body_pose"].shape == (1, 63) and out["smplx_mesh_cam"].shape == (1, 10475, 3)
    assert torch.isfinite(out["smplx_mesh_cam"]).all()


def test_ground_truth_matches_video(mannequin_dir):
    """The true motion, rendered as a silhouette, covers the person the video shows (foreground vs the median
    background) in several frames."""
    import torch

    from core.body import load_body_model, read_model_arrays
    from core.motion import MotionClip
    from core.render import rasterize
    from core.video import open_video

    _need(VIDEO, MOTION)
    clip = MotionClip.load(MOTION)
    source = open_video(VIDEO)
    frames = [f.image for f in source]
    assert (len(frames), clip.num_frames) == (100, 100)
    assert clip.fps == pytest.approx(source.fps) and tuple(clip.image_size) == (640, 360)
    assert not clip.hands_include_mean and len(clip.tracks) == 1
    background = np.median(np.stack(frames), axis=0)
    track = clip.tracks[0]
    body = load_body_model(mannequin_dir, "neutral")
    faces = read_model_arrays(mannequin_dir)["f"]
    for i in (0, 37, 80):
        params = {k: torch.from_numpy(np.asarray(v[i:i + 1], np.float32).reshape(1, -1))
                  for k, v in track.smplx_params().items()}
        with torch.no_grad():
            verts = body(**params).vertices[0].numpy()
        face_id, _, _ = rasterize(verts, faces, clip.focal, clip.princpt, clip.image_size)
        rendered = face_id >= 0
        seen = np.abs(frames[i].astype(float) - background).max(-1) > 40
        iou = (rendered & seen).sum() / (rendered | seen).sum()
        assert rendered.sum() > 3000
        assert iou > 0.6, f"frame {i}: silhouette IoU {iou:.2f}"


def test_compare_to_truth_hand_computed():
    from scipy.spatial.transform import Rotation

    from core.demo import compare_to_truth

    rng = np.random.default_rng(0)
    true = rng.normal(0, 0.3, (5, 55, 3))
    shifted = true + np.array([0.1, 0.0, 0.0])  # 100 mm along x
    e = compare_to_truth(shifted, true)
    assert e["mpjpe"] == pytest.approx(0, abs=1e-6) and e["pa_mpjpe"] == pytest.approx(0, abs=1e-6)
    assert e["root_error"] == pytest.approx(100.0) and e["accel_error"] == pytest.approx(0, abs=1e-6)
    rot = Rotation.from_rotvec([0.0, 0.4, 0.0]).as_matrix()
    similar = 1.3 * true @ rot.T + 0.5
    e = compare_to_truth(similar, true)
    assert e["pa_mpjpe"] == pytest.approx(0, abs=1e-6)
    moved = true.copy()
    moved[:, 5] += np.array([0.0, 0.022, 0.0])  # one body joint of 22 off by 22 mm
    assert compare_to_truth(moved, true)["mpjpe"] == pytest.approx(1.0)


def test_demo_needs_both_video_and_model_dir(tmp_path):
    from core.demo import run_demo

    with pytest.raises(ValueError, match="go together"):
        run_demo(argparse.Namespace(video="x.mp4", model_dir=None, out=str(tmp_path)))


def test_demo_network_tracks_the_true_motion(mannequin_dir):
    """25 frames (every 4th of the sample) through the real pipeline: static-camera detector, the demo network,
    one camera with the video's focal, smoothing; then the errors against the true motion."""
    from core.body import load_body_model
    from core.demo import compare_to_truth
    from core.model import SMPLerX
    from core.motion import MotionClip
    from core.pipeline import ConvertOptions, convert_video
    from core.report import track_joints

    _need(CHECKPOINT, VIDEO, MOTION)
    truth = MotionClip.load(MOTION)
    model = SMPLerX.from_checkpoint(CHECKPOINT, mannequin_dir)
    opts = ConvertOptions(model_dir=mannequin_dir, checkpoint=CHECKPOINT, detector="static-camera",
                          device="cpu", people="largest", stride=4, focal=float(truth.focal[0]), detect_every=1)
    clip = convert_video(VIDEO, opts, model=model).clip  # detector on every sample: this measures the network
    # (sparse detection has its own accuracy guard in test_propagate; at stride 4 it measured 72.7 / 69.9 mm here)
    assert len(clip.tracks) == 1
    pred = clip.tracks[0]
    assert set(pred.frames.tolist()) <= set(range(0, 100, 4)) and len(pred) >= 20
    true = truth.tracks[0].select(pred.frames)
    body = load_body_model(mannequin_dir, "neutral")
    err = compare_to_truth(track_joints(body, clip, pred), track_joints(body, truth, true))
    # measured with the shipped checkpoint (heat-map pre-training + 10,000 steps): MPJPE 69.5 mm, PA-MPJPE 66.4 mm,
    # pelvis 178.3 mm (with the ground stage: 70.2 / 67.3 / 169.5). A constant standing pose at the true position scores MPJPE 80.8, PA-MPJPE 69.8 on the whole
    # video, so the first two bounds ask the network to beat that guess; a broken crop, camera or checkpoint gives
    # 300+ mm (MPJPE 612 / pelvis 1358 mm for random weights), and the previous, 4,000-step checkpoint (90.8 / 82.2 /
    # 167.0) fails them.
    assert err["mpjpe"] < 80.0
    assert err["pa_mpjpe"] < 69.8
    assert err["root_error"] < 230.0


@pytest.mark.slow
def test_build_all_rebuilds_every_demo_asset(tmp_path):
    """The one rebuild command at toy sizes: sample video + truth, both synthetic sets, both training stages, the
    shipped-format checkpoint (loadable by core) and a card whose held-out numbers are the evaluation's."""
    import json

    from core.model import SMPLerX
    from core.motion import MotionClip
    from training.demo import main

    work, assets = tmp_path / "work", tmp_path / "assets"
    assert main(["build-all", "--work", str(work), "--assets", str(assets), "--train-size", "9",
                 "--heldout-size", "3", "--steps", "2", "--pretrain-steps", "2"]) == 0
    assert {p.name for p in assets.iterdir()} >= {"sample.mp4", "sample_motion.npz", "demo_smpler_x.pth.tar",
                                                  "demo_card.json"}
    assert MotionClip.load(assets / "sample_motion.npz").num_frames == 100
    model = SMPLerX.from_checkpoint(assets / "demo_smpler_x.pth.tar", None)
    assert model.cfg.embed_dim == 128
    card = json.loads((assets / "demo_card.json").read_text())
    assert card["training"]["stage2_smplerx_steps"] == 2
    assert card["training"]["stage1_encoder_heatmaps"]["steps"] == 2
    assert card["heldout_synthetic_mm"]["num_samples"] == 3
    assert card["trained_on"]["train_images"] == 9
