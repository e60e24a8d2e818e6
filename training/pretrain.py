"""Pre-train the ViT encoder on 2D joint heat maps, as ViTPose does before SMPLer-X starts from it.

The official SMPLer-X never trains its encoder from scratch: it starts from ViTPose, whose COCO keypoint training
taught the patches where the joints are. Where no ViTPose weights can be had (the mannequin demo), this stage plays
that role on the training sets themselves: the encoder plus a 1×1-conv head predict, for each of SMPLer-X's 25 body
position joints, a heat map over the 16×12 patch grid, trained with a cross-entropy against a Gaussian around the
true joint (dense targets on every patch learn far faster than the soft-argmax coordinates of the full network).
The result is written as a ViTPose checkpoint (`state_dict` with `backbone.*` keys, the head under `keypoint_head.*`)
so that `pretrained_backbone` loads it exactly as it loads the real ViTPose weights:

    python -m training.pretrain --config training/configs/demo.py --steps 4000 -o vitpose_demo.pth
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import deque
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .configs.base import TrainConfig, load_config
from .losses import POS_JOINTS

log = logging.getLogger("training.pretrain")

NUM_BODY = 25  # SMPLer-X's body position joints: the first 25 of POS_JOINTS
SIGMA = 1.0  # heat-map Gaussian, in patches


class HeatmapNet(nn.Module):
    """SMPLer-X's encoder with a ViTPose-style simple head: patch features → one 2D heat map per body joint."""

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__()
        from core.model.vit import ViTEncoder

        from .train import model_config

        mcfg = model_config(cfg)
        self.backbone = ViTEncoder(mcfg)
        self.keypoint_head = nn.Conv2d(mcfg.embed_dim, NUM_BODY, kernel_size=1)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """(B,3,512,384) crops → (B,25,16,12) heat-map logits (the body input is the crop at half size)."""
        _, feat = self.backbone(crops[:, :, ::2, ::2])
        return self.keypoint_head(feat)


def heatmap_loss(logits: torch.Tensor, xy: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each joint's softmax over the grid against a normalised Gaussian at its true position.

    Args:
        logits: (B,J,H,W).
        xy: (B,J,2) joint positions in grid units, cell (i, j) at coordinate (j, i) (soft-argmax's convention).
        valid: (B,J) 1 where the joint lies inside the crop.
    """
    b, j, h, w = logits.shape
    gy, gx = torch.meshgrid(torch.arange(h, dtype=xy.dtype), torch.arange(w, dtype=xy.dtype), indexing="ij")
    d2 = (gx - xy[..., 0, None, None]) ** 2 + (gy - xy[..., 1, None, None]) ** 2
    target = torch.softmax((-0.5 * d2 / SIGMA ** 2).reshape(b, j, -1), dim=-1)
    ce = -(target * F.log_softmax(logits.reshape(b, j, -1), dim=-1)).sum(-1)
    return (ce * valid).sum() / valid.sum().clamp_min(1.0)


def soft_argmax_error(logits: torch.Tensor, xy: torch.Tensor, valid: torch.Tensor) -> float:
    """Mean distance (grid cells) between the heat maps' soft-argmax and the true joints, for the log."""
    from core.model.heads import soft_argmax_2d

    dist = torch.linalg.norm(soft_argmax_2d(logits) - xy, dim=-1)
    return float((dist * valid).sum() / valid.sum().clamp_min(1.0))


def pretrain(cfg: TrainConfig, steps: int, out: Path, batch_size: int = 16, lr: float = 1e-3) -> dict:
    """Train `HeatmapNet` for `steps` iterations on `cfg`'s training sets (its augmentation and sampling), cosine LR
    from `lr` to `cfg.min_lr`, and write the ViTPose-format checkpoint `out`.

    Returns:
        {"steps", "seconds", "error_cells"} (the soft-argmax error over the last 50 steps).
    """
    from dataclasses import replace

    from core.atomic import atomic_write

    from .train import build_loader

    torch.manual_seed(cfg.seed)
    data_cfg = replace(cfg, train_batch_size=batch_size, total_data_len=max(cfg.total_data_len, steps * batch_size))
    loader, sampler, sizes = build_loader(data_cfg, 0, 1)
    log.info("pre-training the encoder on %s: %d steps of %d", sizes, steps, batch_size)
    net = HeatmapNet(cfg).train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=cfg.min_lr)
    body = torch.as_tensor(POS_JOINTS[:NUM_BODY])
    step, errors, t0 = 0, deque(maxlen=50), time.time()
    while step < steps:
        sampler.set_epoch(step // sampler.batches_per_epoch, step % sampler.batches_per_epoch)
        for batch in loader:
            xy = batch["joint_img"][:, body, :2]
            valid = batch["joint_trunc"][:, body, 0]
            logits = net(batch["img"])
            loss = heatmap_loss(logits, xy, valid)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            errors.append(soft_argmax_error(logits.detach(), xy, valid))
            if step % cfg.print_iters == 0 or step == steps:
                log.info("step %d loss %.4f soft-argmax error %.3f cells lr %.2e", step, float(loss.detach()),
                         sum(errors) / len(errors), sched.get_last_lr()[0])
            if step >= steps:
                break
    state = {"state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()}}
    atomic_write(out, lambda fh: torch.save(state, fh))
    return {"steps": step, "seconds": time.time() - t0, "error_cells": sum(errors) / len(errors)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.pretrain", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="a training config (its data, size, augmentation and seed)")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("-o", "--out", required=True, help="the ViTPose-format checkpoint to write")
    p.add_argument("--data-root", help="override the config's data_root")
    p.add_argument("--body-model-dir", help="override the config's body_model_dir")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    over = {k: v for k, v in (("data_root", args.data_root), ("body_model_dir", args.body_model_dir)) if v}
    info = pretrain(load_config(args.config, **over), args.steps, Path(args.out), args.batch_size, args.lr)
    print(f"pre-trained {info['steps']} steps in {info['seconds']:.0f} s; soft-argmax error "
          f"{info['error_cells']:.2f} cells; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
