"""The trainer (training/train.py): 2-process torchrun (gloo) on synthetic data, exact resume, checkpoint format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "training" / "configs" / "tiny_cpu.py"


@pytest.fixture(scope="module")
def data_root(tmp_path_factory, mannequin_dir) -> Path:
    from training.synthetic import write_humandata

    root = tmp_path_factory.mktemp("train_data")
    write_humandata(root, "UP3D", mannequin_dir, n=4, seed=21)
    write_humandata(root, "LSPET", mannequin_dir, n=4, seed=22, kind="smpl", with_3d=False, compressed=True)
    return root


def _losses(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log" / "losses.jsonl").read_text().splitlines()]


def _args(data_root, mannequin_dir, out, **kw):
    sets = {"data_root": str(data_root), "body_model_dir": str(mannequin_dir), "output_dir": str(out), **kw}
    return ["--config", str(CONFIG), "--set"] + [f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                                                  for k, v in sets.items()]


@pytest.mark.slow
def test_torchrun_two_processes_lowers_the_loss(data_root, mannequin_dir, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "training.train"] + _args(data_root, mannequin_dir, out, total_data_len=8, end_epoch=5,
                                            no_aug=True, lr=2e-3, min_lr=2e-3)
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = _losses(out)
    assert [r["step"] for r in rows] == list(range(1, 11))  # 8 samples / (2 ranks × 2) = 2 steps per epoch
    first = sum(r["total"] for r in rows[:2]) / 2
    last = sum(r["total"] for r in rows[-2:]) / 2
    assert last < 0.8 * first, [round(r["total"], 2) for r in rows]
    ck = torch.load(out / "model_dump" / "snapshot_4.pth.tar", map_location="cpu", weights_only=True)
    assert ck["epoch"] == 4 and ck["step"] == 10 and len(ck["rng"]) == 2
    assert all(k.startswith("module.") for k in ck["network"])
    assert not any("smplx_layer" in k for k in ck["network"])


def test_resume_reproduces_the_uninterrupted_run(data_root, mannequin_dir, tmp_path):
    from training.train import main

    full, part = tmp_path / "full", tmp_path / "part"
    assert main(_args(data_root, mannequin_dir, full, max_iters=3)) == 0
    assert main(_args(data_root, mannequin_dir, part, max_iters=1)) == 0
    assert main(["--resume", str(part / "model_dump" / "last.pth.tar"), "--set", "max_iters=3"]) == 0
    a, b = _losses(full), _losses(part)
    assert [r["step"] for r in b] == [1, 2, 3]
    for ra, rb in zip(a, b):
        assert ra["lr"] == pytest.approx(rb["lr"], rel=1e-12)
        for k in ra:
            assert ra[k] == pytest.approx(rb[k], rel=1e-5, abs=1e-6), (ra["step"], k)

    from core.model import SMPLerX

    model = SMPLerX.from_checkpoint(part / "model_dump" / "last.pth.tar", mannequin_dir)
    ck = torch.load(full / "model_dump" / "last.pth.tar", map_location="cpu", weights_only=True)
    w = ck["network"]["module.encoder.blocks.0.attn.qkv.weight"]
    assert torch.equal(model.encoder.blocks[0].attn.qkv.weight, w)
    out = model.forward_crops(torch.rand(1, 3, 512, 384))
    assert out["smplx_body_pose"].shape == (1, 63) and torch.isfinite(out["smplx_mesh_cam"]).all()


def test_bad_config_key_is_named(tmp_path):
    from training.configs.base import load_config

    with pytest.raises(ValueError, match="no_such_key"):
        load_config(CONFIG, no_such_key=1)
    cfg = load_config(ROOT / "training" / "configs" / "smpler_x_h32.py")
    assert cfg.train_batch_size == 16 and cfg.variant == "h32" and len(cfg.trainsets) == 32
    ft = load_config(ROOT / "training" / "configs" / "ft_agora.py")
    assert ft.variant == "h32" and ft.end_epoch == 5 and ft.min_lr == 5e-7
    from training.datasets import DATA, LOADERS

    files = sorted((ROOT / "training" / "configs").glob("*.py"))
    assert len([f for f in files if f.name.startswith("smpler_x_")]) == 16
    for f in files:
        if f.name not in ("__init__.py", "base.py"):
            cfg = load_config(f)
            assert set(cfg.trainsets) <= set(DATA) | set(LOADERS), f.name
    s5 = load_config(ROOT / "training" / "configs" / "smpler_x_l5.py")
    assert s5.total_data_len == 750_000 and s5.lr == 2e-5 and len(s5.trainsets) == 5


def test_vitpose_initialisation(tmp_path, mannequin_dir):
    from core.model import ModelConfig, SMPLerX
    from training.train import load_vitpose

    src = SMPLerX.build(ModelConfig("custom", 96, 2, 4), mannequin_dir)
    sd = {"backbone." + k: v for k, v in src.encoder.state_dict().items() if k != "task_tokens"}
    sd["keypoint_head.final_layer.weight"] = torch.zeros(17, 96, 1, 1)  # the ViTPose head is ignored
    path = tmp_path / "vitpose_tiny.pth"
    torch.save({"state_dict": sd}, path)
    dst = SMPLerX.build(ModelConfig("custom", 96, 2, 4), mannequin_dir)
    tokens = dst.encoder.task_tokens.detach().clone()
    load_vitpose(dst, path)
    assert torch.equal(dst.encoder.blocks[1].mlp.fc2.weight, src.encoder.blocks[1].mlp.fc2.weight)
    assert torch.equal(dst.encoder.task_tokens, tokens)  # new, not in ViTPose
    wrong = SMPLerX.build(ModelConfig("custom", 64, 2, 4), mannequin_dir)
    with pytest.raises(ValueError, match="not a ViTPose backbone of this size"):
        load_vitpose(wrong, path)


def test_encoder_lr_scale_splits_the_parameters(mannequin_dir):
    from training.configs.base import load_config
    from training.train import build_model, param_groups

    cfg = load_config(CONFIG, body_model_dir=str(mannequin_dir), lr=1e-3, encoder_lr_scale=0.1)
    model = build_model(cfg, torch.device("cpu"))
    heads, encoder = param_groups(model, cfg)
    assert "lr" not in heads and encoder["lr"] == pytest.approx(1e-4)
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert {id(p) for p in encoder["params"]} == {id(p) for p in model.encoder.parameters()}
    assert {id(p) for p in heads["params"]} | {id(p) for p in encoder["params"]} == trainable
    assert len(heads["params"]) + len(encoder["params"]) == len(trainable)
    (single,) = param_groups(model, load_config(CONFIG, body_model_dir=str(mannequin_dir)))
    assert len(single["params"]) == len(trainable)
