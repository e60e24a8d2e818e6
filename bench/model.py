"""SMPLer-X network throughput: crops/s per size and batch, FLOPs per crop, fraction of the matmul peak.

    python bench/model.py                       # S32 on CPU, batch 1 and 8 (the issue's figures)
    python bench/model.py --variants s32 b32 --batches 1 8 32 --device cuda

FLOPs are counted with torch.utils.flop_counter (matmuls and convolutions, the network only, no SMPL-X layer).
The peak is a 2048² matmul in the same dtype measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import matmul_peak_gflops, peak_memory_mb, print_table, time_call, write_results  # noqa: E402
from core.model import SMPLerX  # noqa: E402

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def flops_per_crop(model: SMPLerX, device: str) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 3, 512, 384, device=device)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


def measure(variants: list[str], batches: list[int], dtypes: list[str], device: str, seconds: float,
            peaks: dict[str, float]) -> list[dict]:
    """One row per (size, precision, batch): crops/s, FLOPs, achieved GFLOP/s and the fraction of `peaks`."""
    rows = []
    for variant in variants:
        torch.manual_seed(0)
        model = SMPLerX.build(variant, None, device=device)
        flops = flops_per_crop(model, device)
        for dtype in dtypes:
            model.compute_dtype = DTYPES[dtype]
            for batch in batches:
                x = torch.rand(batch, 3, 512, 384, device=device)
                with torch.inference_mode():
                    sec = time_call(lambda: model(x), device, min_seconds=seconds)
                crops = batch / sec
                rows.append({"variant": variant, "device": device, "dtype": dtype, "batch": batch,
                             "ms_per_crop": 1000 * sec / batch, "crops_per_s": crops,
                             "gflop_per_crop": flops / 1e9, "achieved_gflops": crops * flops / 1e9,
                             "peak_gflops": peaks[dtype], "fraction_of_peak": crops * flops / 1e9 / peaks[dtype],
                             "peak_mem_mb": peak_memory_mb(device)})
        del model
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", default=["s32"])
    p.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtypes", nargs="+", default=None, help="default: float32 on CPU; float32 bfloat16 on CUDA")
    p.add_argument("--seconds", type=float, default=4.0, help="minimum timed seconds per row")
    args = p.parse_args(argv)
    dtypes = args.dtypes or (["float32", "bfloat16"] if args.device.startswith("cuda") else ["float32"])
    peaks = {d: matmul_peak_gflops(args.device, DTYPES[d]) for d in dtypes}
    rows = measure(args.variants, args.batches, dtypes, args.device, args.seconds, peaks)
    print_table(rows, [("variant", "size", 5), ("device", "device", 6), ("dtype", "dtype", 9), ("batch", "batch", 5),
                       ("ms_per_crop", "ms/crop", 9), ("crops_per_s", "crops/s", 8), ("gflop_per_crop", "GFLOP", 7),
                       ("achieved_gflops", "GFLOP/s", 8), ("peak_gflops", "peak", 7),
                       ("fraction_of_peak", "of peak", 8), ("peak_mem_mb", "mem MB", 8)])
    dev = "cuda" if args.device.startswith("cuda") else args.device
    print(write_results(f"model-{dev}", rows, args.device))
    return 0


if __name__ == "__main__":
    sys.exit(main())
