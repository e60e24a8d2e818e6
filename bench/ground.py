"""Feet on the ground (core/ground.py): generated motions with known contacts, and the sample video against its truth.

    python bench/ground.py                 # 5 generated motions × 3 noise seeds, then assets/sample.mp4 (CPU, ~1 min)
    python bench/ground.py --no-sample     # generated motions only
    python bench/ground.py --stride 4      # the sample at every 4th frame (as tests/test_ground.py)

Generated motions (tests/_ground_motions.py): walk, side steps, turn on the spot, standing on one leg and a jump,
filmed 4.5 m away by a camera 1.3 m up pitched 12° down, put through regressor-like noise (2° per joint and frame
plus a slow 2°, 1 cm sideways, 3 cm depth jitter and a 5 cm depth drift, shape noise), then core.smooth (default)
and core.ground (auto). Skate, penetration and floating are measured on the TRUE contacts against the clip's floor;
"smoothed" is the pipeline without the ground stage. The sample: demo network, static-camera detector, the video's
focal, then the stage with its defaults.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import print_table, write_results  # noqa: E402


def generated(model_arrays: dict, seeds: int) -> list[dict]:
    from tests._ground_motions import MOTIONS, evaluate

    rows = []
    for name in MOTIONS:
        runs = [evaluate(name, model_arrays, seed=s) for s in range(seeds)]
        row = {"motion": name, "floor_tilt_deg": np.mean([r["floor_tilt_deg"] for r in runs]),
               "precision": np.mean([r["contact_precision"] for r in runs]),
               "recall": np.mean([r["contact_recall"] for r in runs])}
        for stage in ("raw", "smoothed", "final"):
            for key, short in (("foot_skate_mm_per_frame", "skate"), ("penetration_mm", "pen"),
                               ("floating_mm", "float"), ("mpjpe_mm", "mpjpe"), ("root_error_mm", "root")):
                row[f"{short}_{stage}"] = float(np.mean([r[stage][key] for r in runs]))
        rows.append({k: (round(float(v), 2) if not isinstance(v, str) else v) for k, v in row.items()})
    return rows


def sample(model_dir: Path, model_arrays: dict, stride: int) -> dict:
    from core.ground import GroundOptions, ground_stage
    from core.model import SMPLerX
    from core.motion import MotionClip
    from core.pipeline import ConvertOptions, convert_video
    from core.video import open_video
    from tests._ground_motions import sample_errors

    assets = ROOT / "assets"
    truth = MotionClip.load(assets / "sample_motion.npz")
    model = SMPLerX.from_checkpoint(assets / "demo_smpler_x.pth.tar", None)
    opts = ConvertOptions(model_dir=model_dir, checkpoint=assets / "demo_smpler_x.pth.tar",
                          detector="static-camera", device="cpu", people="largest", stride=stride,
                          focal=float(truth.focal[0]), ground=False)
    t = time.perf_counter()
    result = convert_video(assets / "sample.mp4", opts, model=model)
    convert_s = time.perf_counter() - t
    t = time.perf_counter()
    grounded = ground_stage(result.clip, result.raw, model_arrays, GroundOptions(),
                            open_video(assets / "sample.mp4", stride=stride))
    out = sample_errors(result.clip, grounded, truth, model_arrays)
    out.update({"stride": stride, "convert_s": round(convert_s, 1), "ground_s": round(time.perf_counter() - t, 2),
                "summary": grounded.metadata["ground"]["summary"]})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=3, help="noise seeds per generated motion")
    p.add_argument("--no-sample", action="store_true", help="skip the sample video")
    p.add_argument("--stride", type=int, default=1, help="frame stride on the sample video")
    args = p.parse_args(argv)

    from core.body import read_model_arrays, write_mannequin

    model_dir = Path(tempfile.mkdtemp(prefix="smplx-bench-ground-"))
    write_mannequin(model_dir)
    arrays = read_model_arrays(model_dir)
    rows = generated(arrays, args.seeds)
    print(f"generated motions (mean of {args.seeds} noise seeds); skate on true contacts, mm/frame; mm elsewhere")
    cols = [("motion", "motion", 10), ("floor_tilt_deg", "tilt°", 6), ("precision", "P", 5), ("recall", "R", 5)]
    for short, head in (("skate", "skate"), ("pen", "pen"), ("float", "float"), ("mpjpe", "MPJPE"),
                        ("root", "root")):
        cols += [(f"{short}_{s}", f"{head}:{s[:3]}", 10) for s in ("raw", "smoothed", "final")]
    print_table(rows, cols)
    extra = {}
    if not args.no_sample:
        res = sample(model_dir, arrays, args.stride)
        extra["sample"] = res
        print(f"\nassets/sample.mp4 (stride {args.stride}, {res['frames']} frames): {res['summary']}")
        print(f"  floor: tilt {res['floor_tilt_deg']:.2f}°, height under the person {res['floor_height_error_mm']:.1f}"
              f" mm, camera height {res['camera_height_error_mm']:.1f} mm off")
        print_table([{"stage": s, **res[s]} for s in ("smoothed", "final")],
                    [("stage", "stage", 9), ("foot_skate_mm_per_frame", "skate", 7), ("penetration_mm", "pen", 7),
                     ("floating_mm", "float", 7), ("mpjpe_mm", "MPJPE", 7), ("root_error_mm", "root", 7)])
        print(f"  (the true motion's own skate on those contacts: {res['truth_skate_mm_per_frame']:.1f} mm/frame; "
              f"contacts on {100 * res['contact_fraction']:.0f}% of foot-frames)")
    path = write_results("ground", rows, "cpu", extra)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
