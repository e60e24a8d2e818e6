"""Issue 7's GPU figures: crops/s per size, batch and precision, MFU against the measured bf16 matmul peak,
bf16-vs-fp32 output differences, and end-to-end frames/s on a 1080p clip.

    python bench/gpu.py                                   # on a CUDA machine: s32 h32, batches 1 8 32 128
    python bench/gpu.py --device cpu --variants s32 --batches 1 --e2e-frames 0   # runs anywhere (slow)

MFU = achieved FLOP/s (torch.utils.flop_counter count × crops/s) / the bf16 (or fp32) matmul peak measured in the
same run. The output difference of bf16 against fp32 is reported per output as the max absolute difference on the
same random crops; the parity README's tolerances ×10 are the acceptance bound.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import matmul_peak_gflops, print_table, write_results  # noqa: E402
from bench.model import DTYPES, measure  # noqa: E402
from core.model import SMPLerX  # noqa: E402

# parity README §6 tolerances, ×10 for bf16
BOUNDS = {"smplx_root_pose": 1e-3, "smplx_body_pose": 1e-3, "smplx_jaw_pose": 1e-3, "smplx_shape": 1e-3,
          "smplx_expr": 1e-3, "cam_trans": 1e-3, "smplx_lhand_pose": 5e-2, "smplx_rhand_pose": 5e-2,
          "lhand_bbox": 5e-2, "rhand_bbox": 5e-2, "face_bbox": 5e-2, "joint_img": 5e-2}


def precision_diff(model: SMPLerX, device: str, dtype: str, n: int = 8) -> dict[str, float]:
    """Max |half − fp32| per output on the same random crops (same weights)."""
    x = torch.rand(n, 3, 512, 384, generator=torch.Generator().manual_seed(0)).to(device)
    model.compute_dtype = torch.float32
    with torch.inference_mode():
        ref = model(x)
        model.compute_dtype = DTYPES[dtype]
        out = model(x)
    model.compute_dtype = torch.float32
    return {k: (out[k].float() - ref[k].float()).abs().max().item() for k in BOUNDS}


def end_to_end(checkpoint: str, model_dir: str, device: str, frames: int, precision: str) -> dict:
    """Decode + detect (static camera) + regress + smooth of a generated 1920×1080 clip."""
    from bench.pipeline import make_video
    from core.pipeline import ConvertOptions, convert_video

    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "e2e_1080p.mp4"
        make_video(video, frames, 1920, 1080)
        opts = ConvertOptions(model_dir=Path(model_dir), checkpoint=Path(checkpoint), detector="static-camera",
                              device=device, precision=precision, batch_size=128)
        t = time.perf_counter()
        result = convert_video(video, opts)
        total = time.perf_counter() - t
    return {"frames": frames, "seconds": total, "fps": frames / total, "stage_seconds": result.stage_seconds}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--variants", nargs="+", default=["s32", "h32"])
    p.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32, 128])
    p.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--e2e-frames", type=int, default=300, help="frames of the 1080p end-to-end clip (0: skip)")
    parity = ROOT.parent / "shared" / "reference" / "parity"
    p.add_argument("--checkpoint", default=str(parity / "smpler_x_s32_random.pth.tar"))
    p.add_argument("--model-dir", default=str(parity / "human_model_files"))
    args = p.parse_args(argv)
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 rows are true fp32
    sizes = (4096, 8192) if args.device.startswith("cuda") else (2048, 3072)
    peaks = {d: matmul_peak_gflops(args.device, DTYPES[d], sizes) for d in args.dtypes}
    rows = measure(args.variants, args.batches, args.dtypes, args.device, args.seconds, peaks)
    diffs = {}
    for variant in args.variants:
        torch.manual_seed(0)
        model = SMPLerX.build(variant, None, device=args.device)
        for dtype in args.dtypes:
            if dtype != "float32":
                diffs[f"{variant}-{dtype}"] = precision_diff(model, args.device, dtype)
        del model
    print_table(rows, [("variant", "size", 5), ("dtype", "dtype", 9), ("batch", "batch", 5),
                       ("crops_per_s", "crops/s", 9), ("gflop_per_crop", "GFLOP", 7),
                       ("achieved_gflops", "GFLOP/s", 9), ("fraction_of_peak", "MFU", 6), ("peak_mem_mb", "mem MB", 8)])
    print("matmul peaks (GFLOP/s):", {k: round(v, 1) for k, v in peaks.items()})
    for name, d in diffs.items():
        worst = {k: v for k, v in d.items() if v > BOUNDS[k]}
        print(f"{name} vs float32: max diff " + ", ".join(f"{k}={v:.2e}" for k, v in d.items())
              + (f"  OVER BOUND: {sorted(worst)}" if worst else "  (within parity tolerances ×10)"))
    e2e = {}
    if args.e2e_frames:
        for dtype in args.dtypes[-1:]:
            e2e[dtype] = end_to_end(args.checkpoint, args.model_dir, args.device, args.e2e_frames, dtype)
            print(f"end-to-end 1080p S32 {dtype}: {e2e[dtype]['fps']:.1f} frames/s "
                  f"(stages: { {k: round(v, 2) for k, v in e2e[dtype]['stage_seconds'].items()} })")
    dev = "cuda" if args.device.startswith("cuda") else args.device
    print(write_results(f"gpu-{dev}", rows, args.device, {"peaks_gflops": peaks, "bf16_diff": diffs, "e2e": e2e}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
