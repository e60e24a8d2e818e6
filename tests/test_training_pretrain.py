"""The encoder's heat-map pre-training (training/pretrain.py): its loss against hand-computed values, and a run on
synthetic data whose checkpoint the trainer's ViTPose loader accepts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "training" / "configs" / "tiny_cpu.py"


def _gaussian(h: int, w: int, x: float, y: float, sigma: float = 1.0) -> torch.Tensor:
    """(h*w,) normalised Gaussian written out cell by cell."""
    vals = [math.exp(-((j - x) ** 2 + (i - y) ** 2) / (2 * sigma ** 2)) for i in range(h) for j in range(w)]
    total = sum(vals)
    return torch.tensor([v / total for v in vals], dtype=torch.float64)


def test_heatmap_loss_is_cross_entropy_against_a_gaussian():
    from training.pretrain import heatmap_loss

    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    xy = torch.tensor([[[1.0, 2.0], [3.5, 0.5], [0.0, 0.0]], [[4.0, 3.0], [2.2, 1.7], [1.0, 1.0]]], dtype=torch.float64)
    valid = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]], dtype=torch.float64)
    expected, n = 0.0, 0
    for b in range(2):
        for j in range(3):
            if valid[b, j]:
                q = _gaussian(4, 5, float(xy[b, j, 0]), float(xy[b, j, 1]))
                logp = torch.log_softmax(logits[b, j].reshape(-1), 0)
                expected += float(-(q * logp).sum())
                n += 1
    assert float(heatmap_loss(logits, xy, valid)) == pytest.approx(expected / n, rel=1e-10)


def test_heatmap_loss_is_least_at_the_target():
    """Logits equal to the target's log-probabilities give the target's entropy; a peak one cell away costs more."""
    from training.pretrain import heatmap_loss

    q = _gaussian(6, 5, 2.0, 3.0).reshape(1, 1, 6, 5)
    xy, valid = torch.tensor([[[2.0, 3.0]]], dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64)
    entropy = float(-(q * q.log()).sum())
    assert float(heatmap_loss(q.log(), xy, valid)) == pytest.approx(entropy, rel=1e-9)
    shifted = _gaussian(6, 5, 3.0, 3.0).reshape(1, 1, 6, 5)
    assert float(heatmap_loss(shifted.log(), xy, valid)) > entropy + 0.1


def test_soft_argmax_error_in_cells():
    from training.pretrain import soft_argmax_error

    logits = torch.full((1, 2, 6, 5), -1e4)
    logits[0, 0, 3, 2] = 0.0  # joint 0 peaks at (x=2, y=3)
    logits[0, 1, 1, 4] = 0.0  # joint 1 peaks at (x=4, y=1)
    xy = torch.tensor([[[2.0, 3.0], [1.0, 5.0]]])  # joint 1 is 3-4-5 away
    assert soft_argmax_error(logits, xy, torch.ones(1, 2)) == pytest.approx(2.5)
    assert soft_argmax_error(logits, xy, torch.tensor([[1.0, 0.0]])) == pytest.approx(0.0)


def test_pretrain_writes_a_vitpose_checkpoint_the_trainer_loads(tmp_path, mannequin_dir):
    from training.configs.base import load_config
    from training.pretrain import main
    from training.synthetic import write_humandata
    from training.train import build_model, load_vitpose

    write_humandata(tmp_path / "data", "UP3D", mannequin_dir, n=4, seed=31)
    write_humandata(tmp_path / "data", "LSPET", mannequin_dir, n=4, seed=32, kind="smpl", with_3d=False)
    out = tmp_path / "vitpose.pth"
    assert main(["--config", str(CONFIG), "--steps", "2", "--batch-size", "2", "-o", str(out),
                 "--data-root", str(tmp_path / "data"), "--body-model-dir", str(mannequin_dir)]) == 0
    sd = torch.load(out, map_location="cpu", weights_only=True)["state_dict"]
    assert "backbone.patch_embed.proj.weight" in sd and "keypoint_head.weight" in sd
    cfg = load_config(CONFIG, data_root=str(tmp_path / "data"), body_model_dir=str(mannequin_dir))
    model = build_model(cfg, torch.device("cpu"))
    load_vitpose(model, out)
    assert torch.equal(model.encoder.blocks[0].attn.qkv.weight, sd["backbone.blocks.0.attn.qkv.weight"])


def test_pretrained_heatmaps_seed_the_body_position_net(tmp_path, mannequin_dir):
    """The position net started from a pretrain checkpoint gives the pretrained 2D heat maps (its depth-summed
    softmax equals the head's softmax) and a flat depth (z at the middle bin)."""
    from training.configs.base import load_config
    from training.pretrain import HeatmapNet
    from training.train import build_model, load_vitpose

    cfg = load_config(CONFIG, body_model_dir=str(mannequin_dir))
    torch.manual_seed(3)
    net = HeatmapNet(cfg).eval()
    with torch.no_grad():
        net.keypoint_head.weight.mul_(20.0)  # peaked maps, so a wrong mapping would show
    path = tmp_path / "pre.pth"
    torch.save({"state_dict": net.state_dict()}, path)
    model = build_model(cfg, torch.device("cpu")).eval()
    load_vitpose(model, path)
    crops = torch.rand(2, 3, 512, 384)
    with torch.no_grad():
        logits = net(crops)
        _, feat = model.encoder(crops[:, :, ::2, ::2])
        prob, coords = model.body_position_net(feat)
    b, j, h, w = logits.shape
    expected = torch.softmax(logits.reshape(b, j, -1), -1).reshape(b, j, h, w)
    assert torch.allclose(prob.sum(2), expected, atol=1e-6)
    assert torch.allclose(coords[..., 2], torch.full((b, j), 7.5), atol=1e-4)
