"""Train SMPLer-X (Cai et al., NeurIPS 2023) with torchrun: `main/train.py` + `common/base.py::Trainer` of SMPLer-X
(training_spec.md §6), on DDP with env:// initialisation instead of Slurm-only start-up.

Single process (CPU or one GPU):
    python -m training.train --config training/configs/smpler_x_s32.py
N GPUs on one node:
    torchrun --nproc_per_node N -m training.train --config training/configs/smpler_x_s32.py
Several nodes: training/launch/slurm.sh (srun + torchrun rendezvous). Resume:
    torchrun --nproc_per_node N -m training.train --resume output/train/last.pth.tar

DDP comes from the RANK/WORLD_SIZE/LOCAL_RANK variables (gloo on CPU, nccl on GPU); rank 0 alone logs and saves.
A checkpoint is the official container (`epoch`, `network` with `module.` keys, `optimizer`) that
`core.model.SMPLerX.from_checkpoint` loads, plus `config` (the network size), `train_config`, `step`, `scheduler`
and every rank's RNG state, so a resumed run reproduces the uninterrupted run's losses; resume rebuilds the run from
the saved `train_config`, not from the current flags.

Deliberate differences from the reference: the cosine schedule and the step are restored on resume (the reference
restarted the cosine from the saved LR over the whole run; `restore_schedule_on_resume=False` does too), every loss
key is emitted in every step (no `find_unused_parameters`), SyncBatchNorm only on GPU (one group per node as the
reference when torchrun's LOCAL_WORLD_SIZE divides the world, else global), optional bf16 autocast and gradient
clipping (off by default, as the reference), and the per-rank augmentation streams differ.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import torch
import torch.distributed as dist

from core.atomic import AtomicOutputs

from .configs.base import TrainConfig, load_config
from .losses import LossWeights, compute_losses, model_predictions

log = logging.getLogger("training.train")


# ---------------------------------------------------------------------------------------------- distributed
def setup_distributed() -> tuple[int, int, int, torch.device]:
    """(rank, world_size, local_rank, device) from torchrun's env vars; a plain process is rank 0 of 1."""
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    local = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, local, device


def _is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


# ---------------------------------------------------------------------------------------------- model
def model_config(cfg: TrainConfig):
    """The network's sizes (a variant or `model_size`) with the training's stochastic depth."""
    from core.model import ModelConfig, variant_config

    if cfg.variant == "custom":  # every ModelConfig size field may be given (embed_dim, depth, num_heads, box_width…)
        known = {f.name for f in fields(ModelConfig)} - {"name", "checkpoint_file", "drop_path_rate"}
        unknown = sorted(set(cfg.model_size) - known)
        if unknown:
            raise ValueError(f"model_size has unknown key(s) {unknown}; known: {sorted(known)}")
        return ModelConfig("custom", **{k: int(v) for k, v in cfg.model_size.items()},
                           drop_path_rate=cfg.drop_path_rate)
    return replace(variant_config(cfg.variant), drop_path_rate=cfg.drop_path_rate)


def load_vitpose(model: torch.nn.Module, path: str | Path) -> None:
    """Initialise the encoder from a ViTPose checkpoint (`state_dict` with `backbone.*` keys), as `get_model`.

    The task tokens are new (kept at their init); any other missing or mis-shaped key is an error that names it.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"ViTPose checkpoint {path} not found (download vitpose_{{small,base,large,huge}}.pth "
                                f"from the ViTPose releases, or set pretrained_backbone to '')")
    obj = torch.load(path, map_location="cpu", weights_only=True)
    sd = obj.get("state_dict", obj)
    enc = model.encoder.state_dict()
    mapped = {k[len("backbone."):]: v for k, v in sd.items() if k.startswith("backbone.")}
    missing = sorted(k for k in enc if k not in mapped and k != "task_tokens")
    bad = sorted(k for k in mapped if k in enc and tuple(mapped[k].shape) != tuple(enc[k].shape))
    if missing or bad or not mapped:
        raise ValueError(f"{path}: not a ViTPose backbone of this size (missing {missing[:5]}, shape mismatch "
                         f"{bad[:5]}, {len(mapped)} backbone keys)")
    model.encoder.load_state_dict({k: v for k, v in mapped.items() if k in enc}, strict=False)
    log.info("encoder initialised from %s (%d tensors; task_tokens new)", path, len(enc) - 1)
    _init_body_heatmaps(model, sd, path)


def _init_body_heatmaps(model: torch.nn.Module, sd: dict, path: Path) -> None:
    """A `training.pretrain` checkpoint also holds 2D heat maps of SMPLer-X's own 25 body joints: start the body
    position net from them, each joint's 1×1 conv repeated over the depth bins — the same 2D heat maps (a softmax
    over a constant depth axis) with a flat depth. A real ViTPose head (COCO joints, deconvolutions) does not fit
    and is left out, as in the reference."""
    conv = model.body_position_net.conv[0]
    w, b = sd.get("keypoint_head.weight"), sd.get("keypoint_head.bias")
    joints, depth = model.body_position_net.num_joints, model.body_position_net.hm_shape[0]
    if w is None or b is None or tuple(w.shape) != (joints, conv.in_channels, 1, 1):
        return
    with torch.no_grad():
        conv.weight.copy_(w.repeat_interleave(depth, dim=0))
        conv.bias.copy_(b.repeat_interleave(depth, dim=0))
    log.info("body position net initialised from the heat maps of %s", path)


def build_model(cfg: TrainConfig, device: torch.device):
    from core.model import SMPLerX

    model = SMPLerX.build(model_config(cfg), cfg.body_model_dir, device="cpu")
    if cfg.pretrained_backbone and not cfg.init_checkpoint:
        load_vitpose(model, cfg.pretrained_backbone)
    if cfg.init_checkpoint:
        from core.model import read_checkpoint

        sd, _, _ = read_checkpoint(cfg.init_checkpoint)
        own = model.state_dict()
        model.load_state_dict({**{k: v for k, v in own.items() if k.startswith("smplx_layer.")}, **sd}, strict=True)
    for p in model.smplx_layer.parameters():  # the body model's default params are not trained
        p.requires_grad_(False)
    if cfg.bf16:
        model.compute_dtype = torch.bfloat16
    return model.to(device).train()


def param_groups(model: torch.nn.Module, cfg: TrainConfig) -> list[dict]:
    """The trainable parameters: one group at `lr` (the reference), or the encoder at `lr × encoder_lr_scale` and
    the heads at `lr` — fine-tuning practice when the encoder comes pretrained and the heads start from scratch."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if cfg.encoder_lr_scale == 1.0:
        return [{"params": [p for _, p in trainable]}]
    encoder = [p for n, p in trainable if n.startswith("encoder.")]
    heads = [p for n, p in trainable if not n.startswith("encoder.")]
    return [{"params": heads}, {"params": encoder, "lr": cfg.lr * cfg.encoder_lr_scale}]


# ---------------------------------------------------------------------------------------------- data
def build_loader(cfg: TrainConfig, rank: int, world: int):
    from torch.utils.data import DataLoader

    from .datasets.base import SampleDataset
    from .datasets.registry import build_source
    from .fidelity import DataFlags
    from .sampling import MixedDataset, PlanSampler

    flags = DataFlags.from_config(cfg)
    sets = [SampleDataset(build_source(n, cfg.data_root, "train", cfg.body_model_dir, cfg.sample_intervals.get(n),
                                       flags), cfg.body_model_dir, train=True, augment=not cfg.no_aug, flags=flags)
            for n in cfg.trainsets]
    mixed = MixedDataset(sets, cfg.seed)
    sampler = PlanSampler(mixed.lengths, cfg.data_strategy, cfg.total_data_len, cfg.dataset_weights or None,
                          cfg.seed, rank, world, cfg.train_batch_size, cfg.resample_each_epoch)
    loader = DataLoader(mixed, batch_size=cfg.train_batch_size, sampler=sampler, num_workers=cfg.num_workers,
                        pin_memory=torch.cuda.is_available(), drop_last=True,
                        persistent_workers=cfg.num_workers > 0)
    return loader, sampler, {s.name: len(s) for s in sets}


def node_groups(world: int, per_node: int) -> list[list[int]]:
    """Ranks of each node, the reference's SyncBN groups (`get_process_groups`); one global group when the
    per-node count is unknown or does not divide the world."""
    if per_node <= 0 or per_node >= world or world % per_node:
        return [list(range(world))]
    return [list(range(n, n + per_node)) for n in range(0, world, per_node)]


def syncbn_group(cfg: TrainConfig, rank: int, world: int):
    """This rank's SyncBN process group: per node (torchrun's LOCAL_WORLD_SIZE) or None for the global group."""
    if not cfg.syncbn_per_node:
        return None
    groups = node_groups(world, int(os.environ.get("LOCAL_WORLD_SIZE", world)))
    if len(groups) == 1:
        return None
    handles = [dist.new_group(g) for g in groups]  # every rank creates every group, as new_group requires
    return handles[next(i for i, g in enumerate(groups) if rank in g)]


# ---------------------------------------------------------------------------------------------- checkpoints
def _rng_state() -> dict:
    st = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state()
    return st


def save_checkpoint(path: Path, model, optimizer, scheduler, cfg: TrainConfig, epoch: int, step: int) -> None:
    """Collective: gathers every rank's RNG state; rank 0 writes atomically (temp file, then rename)."""
    from core.model import ours_to_official

    states = [None] * (dist.get_world_size() if _is_dist() else 1)
    if _is_dist():
        dist.all_gather_object(states, _rng_state())
    else:
        states[0] = _rng_state()
    if not _is_dist() or dist.get_rank() == 0:
        sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        obj = {"epoch": int(epoch), "network": ours_to_official(sd), "optimizer": optimizer.state_dict(),
               "config": model.cfg.to_dict(), "train_config": cfg.to_dict(), "step": int(step),
               "scheduler": scheduler.state_dict(), "rng": states}
        last = path.parent / "last.pth.tar"
        with AtomicOutputs() as out:  # the step file and last.pth.tar appear together
            torch.save(obj, out.path(path))
            if path != last:
                torch.save(obj, out.path(last))
    if _is_dist():
        dist.barrier()


def load_resume(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint to resume {path} not found")
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for k in ("network", "optimizer", "train_config", "step", "scheduler"):
        if k not in obj:
            raise ValueError(f"{path}: not a resumable training checkpoint (no '{k}')")
    return obj


def resume_schedule(cfg: TrainConfig, optimizer, scheduler, state: dict, total_steps: int):
    """The LR schedule of a resumed run; `scheduler` was built on the fresh optimizer before it got its saved state.

    `restore_schedule_on_resume`: the saved cosine continues where it stopped. Otherwise the reference's behaviour
    (`common/base.py` builds the scheduler before loading the optimizer and never restores it): a new cosine over
    the whole run whose recursive update starts from the LR saved in the optimizer, so the LR falls along a fresh,
    full-length cosine from there instead of the remaining part of the old one.
    """
    if cfg.restore_schedule_on_resume:
        scheduler.load_state_dict(state)
    return scheduler


# ---------------------------------------------------------------------------------------------- loop
class _Logger:
    """Rank-0 text log, JSON-lines loss log and TensorBoard."""

    def __init__(self, out: Path, enabled: bool) -> None:
        self.enabled = enabled
        self.tb = self.handler = None
        if enabled:
            (out / "log").mkdir(parents=True, exist_ok=True)
            self.handler = logging.FileHandler(out / "log" / "train_logs.txt")
            self.handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            log.addHandler(self.handler)
            self.jsonl = open(out / "log" / "losses.jsonl", "a")
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out / "tb"))
            except ImportError:
                log.warning("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)")

    def write(self, step: int, epoch: int, lr: float, losses: dict[str, float], sec_per_it: float) -> None:
        if not self.enabled:
            return
        self.jsonl.write(json.dumps({"step": step, "epoch": epoch, "lr": lr, **losses}) + "\n")
        self.jsonl.flush()
        if self.tb is not None:
            for k, v in losses.items():
                self.tb.add_scalar(f"loss/{k}", v, step)
            self.tb.add_scalar("lr", lr, step)
        log.info("epoch %d step %d lr %.3g %.2fs/it %s", epoch, step, lr, sec_per_it,
                 " ".join(f"{k} {v:.4f}" for k, v in losses.items()))

    def close(self) -> None:
        if self.enabled:
            log.removeHandler(self.handler)
            self.handler.close()
            self.jsonl.close()
            if self.tb is not None:
                self.tb.close()


def _reduce(losses: dict[str, torch.Tensor]) -> dict[str, float]:
    """Mean over ranks of every loss (the same keys on every rank) plus the total."""
    keys = sorted(losses)
    vec = torch.stack([losses[k].detach().float() for k in keys])
    if _is_dist():
        vec = vec.to("cuda" if dist.get_backend() == "nccl" else "cpu")
        dist.all_reduce(vec)
        vec /= dist.get_world_size()
    out = {k: float(v) for k, v in zip(keys, vec.cpu())}
    out["total"] = float(sum(out.values()))
    return out


def train(cfg: TrainConfig, resume: dict | None = None) -> Path:
    """Run (or continue) a training; returns the output directory."""
    rank, world, local, device = setup_distributed()
    out = Path(cfg.output_dir)
    logger = _Logger(out, rank == 0)
    torch.manual_seed(cfg.seed + rank)
    loader, sampler, sizes = build_loader(cfg, rank, world)
    if rank == 0:
        log.info("datasets %s; %d ranks × batch %d; %d iterations per epoch", sizes, world, cfg.train_batch_size,
                 sampler.batches_per_epoch)
    model = build_model(cfg, device)
    if cfg.syncbn and world > 1 and device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model, syncbn_group(cfg, rank, world))
    net = (torch.nn.parallel.DistributedDataParallel(model, device_ids=[local] if device.type == "cuda" else None)
           if world > 1 else model)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(param_groups(model, cfg), lr=cfg.lr, weight_decay=cfg.weight_decay)
    per_epoch = sampler.batches_per_epoch
    total_steps = cfg.end_epoch * per_epoch
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=cfg.min_lr)
    step = 0
    if resume is not None:
        from core.model import official_to_ours

        sd = official_to_ours(resume["network"])
        own = model.state_dict()
        model.load_state_dict({**{k: v for k, v in own.items() if k.startswith("smplx_layer.")}, **sd}, strict=True)
        optimizer.load_state_dict(resume["optimizer"])
        scheduler = resume_schedule(cfg, optimizer, scheduler, resume["scheduler"], total_steps)
        step = int(resume["step"])
        rng = resume["rng"]
        if len(rng) == world:
            torch.set_rng_state(rng[rank]["torch"])
            if device.type == "cuda" and "cuda" in rng[rank]:
                torch.cuda.set_rng_state(rng[rank]["cuda"])
        log.info("resumed at step %d", step)
    weights = LossWeights(smplx_pose=cfg.smplx_pose_weight, smplx_shape=cfg.smplx_shape_weight,
                          joint_cam=cfg.smplx_kps_3d_weight, smplx_joint_cam=cfg.smplx_kps_3d_weight,
                          joint_proj=cfg.smplx_kps_2d_weight, joint_img=cfg.net_kps_2d_weight,
                          smplx_joint_img=cfg.net_kps_2d_weight)
    last_step = total_steps if cfg.max_iters <= 0 else min(total_steps, cfg.max_iters)
    progress = None
    if rank == 0:
        from tqdm import tqdm

        progress = tqdm(total=last_step, initial=step, desc="train", disable=not sys.stderr.isatty())
    t0, logged = time.time(), step
    while step < last_step:
        epoch, start = divmod(step, per_epoch)
        sampler.set_epoch(epoch, start)
        for batch in loader:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            img = batch["img"]
            raw = net(img)
            pred = model_predictions(model, raw, img.shape[0])
            losses = compute_losses(pred, batch, weights)
            loss = sum(losses.values())
            if not math.isfinite(float(loss.detach())):
                raise FloatingPointError(f"loss is {float(loss.detach())} at step {step + 1}: {losses}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optimizer.step()
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            step += 1
            if step % cfg.print_iters == 0 or step == last_step:
                red = _reduce(losses)
                logger.write(step, epoch, lr, red, (time.time() - t0) / (step - logged))
                t0, logged = time.time(), step
            if progress is not None:
                progress.update(1)
            end_of_epoch = step % per_epoch == 0
            if (cfg.save_iters and step % cfg.save_iters == 0) or end_of_epoch or step == last_step:
                name = f"snapshot_{epoch}.pth.tar" if end_of_epoch else f"step_{step}.pth.tar"
                save_checkpoint(out / "model_dump" / name, model, optimizer, scheduler, cfg, epoch, step)
            if step >= last_step:
                break
    if progress is not None:
        progress.close()
    logger.close()
    if _is_dist():
        dist.destroy_process_group()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="override file, e.g. training/configs/smpler_x_s32.py")
    p.add_argument("--resume", help="checkpoint to continue (its saved training config is used)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="config fields to override (values are Python literals, e.g. max_iters=100)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if int(os.environ.get("RANK", 0)) == 0 else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    import ast

    extra = {}
    for item in args.set:
        k, _, v = item.partition("=")
        try:
            extra[k] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            extra[k] = v
    resume = None
    if args.resume:
        resume = load_resume(args.resume)
        cfg = replace(TrainConfig.from_dict(resume["train_config"]), **extra)
    elif args.config:
        cfg = load_config(args.config, **extra)
    else:
        p.error("give --config or --resume")
    try:
        train(cfg, resume)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
