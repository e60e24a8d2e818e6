"""Training throughput: data-pipeline samples/s (load, augment, crop, SMPL-X targets; one thread, as a DataLoader
worker) and optimiser steps/s.

    python bench/train.py                                  # CPU: data pipeline + tiny and S32 steps, batch 2
    python bench/train.py --device cuda --variants s32 h32 --batches 16 32 --bf16

The data is synthetic (the mannequin body model, HumanData files written to a temporary folder). A training step is
forward + SMPL-X layer + all losses + backward + Adam, as in training/train.py, on one process.
Writes bench/results/train-<device>.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import peak_memory_mb, print_table, time_call, write_results  # noqa: E402


def bench_data(root: Path, model_dir: Path, n: int) -> list[dict]:
    from training.augment import crop_image, sample_aug
    from training.datasets import DATA, HumanData, SampleDataset
    from training.datasets.base import body_model, load_image
    from training.targets import build_targets

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread per sample, as inside a DataLoader worker
    src = HumanData(DATA["UP3D"], root, "train", model_dir, interval=1)
    ds = SampleDataset(src, model_dir)
    rng = np.random.default_rng(0)
    ds.sample(0, rng)  # warm-up: body model load
    rec = src.record(0)
    img = load_image(rec["img_path"])
    aug = sample_aug(rng)
    _, img2bb, _ = crop_image(img, rec["bbox"], aug)
    bm = body_model(model_dir)
    parts = {
        "data: image read": lambda: load_image(rec["img_path"]),
        "data: augment+crop": lambda: crop_image(img, rec["bbox"], aug),
        "data: targets (SMPL-X)": lambda: build_targets(rec, aug, img2bb, bm),
        "data: whole sample": lambda: ds.sample(int(rng.integers(n)), rng),
    }
    rows = []
    for name, fn in parts.items():
        sec = time_call(fn, "cpu", warmup=2, min_runs=10, min_seconds=2.0)
        rows.append({"stage": name, "device": "cpu", "batch": 1, "ms": sec * 1000, "per_s": 1 / sec,
                     "peak_mb": peak_memory_mb("cpu")})
    torch.set_num_threads(threads)
    return rows


def bench_steps(root: Path, model_dir: Path, variants: list[str], batches: list[int], device: str,
                bf16: bool) -> list[dict]:
    from core.model import ModelConfig, SMPLerX
    from training.datasets import DATA, HumanData, SampleDataset
    from training.losses import compute_losses, model_predictions

    ds = SampleDataset(HumanData(DATA["UP3D"], root, "train", model_dir, interval=1), model_dir)
    rng = np.random.default_rng(0)
    rows = []
    for variant in variants:
        cfg = ModelConfig("tiny", 96, 2, 4, box_width=64) if variant == "tiny" else variant  # = configs/tiny_cpu.py
        model = SMPLerX.build(cfg, model_dir, device=device).train()
        for p in model.smplx_layer.parameters():
            p.requires_grad_(False)
        if bf16:
            model.compute_dtype = torch.bfloat16
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-5)
        for b in batches:
            samples = [ds.sample(i % len(ds), rng) for i in range(b)]
            batch = {k: torch.as_tensor(np.stack([s[k] for s in samples])).to(device) for k in samples[0]}

            def step():
                out = model(batch["img"])
                loss = sum(compute_losses(model_predictions(model, out, b), batch).values())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            sec = time_call(step, device, warmup=2, min_runs=3, min_seconds=3.0)
            rows.append({"stage": f"train step {variant}" + (" bf16" if bf16 else ""), "device": device, "batch": b,
                         "ms": sec * 1000, "per_s": 1 / sec, "samples_per_s": b / sec,
                         "peak_mb": peak_memory_mb(device)})
        del model, opt
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--variants", nargs="+", default=["tiny", "s32"])
    p.add_argument("--batches", nargs="+", type=int, default=[2])
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--skip-data", action="store_true")
    args = p.parse_args(argv)
    from core.body import write_mannequin
    from training.synthetic import write_humandata

    with tempfile.TemporaryDirectory() as tmp:
        md, root = Path(tmp) / "model", Path(tmp) / "data"
        write_mannequin(md)
        write_humandata(root, "UP3D", md, n=16, seed=0)
        t = time.perf_counter()
        rows = [] if args.skip_data else bench_data(root, md, 16)
        rows += bench_steps(root, md, args.variants, args.batches, args.device, args.bf16)
    print_table(rows, [("stage", "stage", 26), ("device", "device", 8), ("batch", "batch", 6), ("ms", "ms", 9),
                       ("per_s", "per s", 9), ("samples_per_s", "samples/s", 10), ("peak_mb", "peak MB", 9)])
    dev = "cpu" if args.device == "cpu" else "cuda"
    path = write_results(f"train-{dev}", rows, args.device, {"bench_seconds": time.perf_counter() - t})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
