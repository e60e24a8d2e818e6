"""Feet on the ground (core/ground.py): generated motions with known contacts, and the sample video against its truth.

    python bench/ground.py                 # 5 generated motions × 3 noise seeds, then assets/sample.mp4 (CPU, ~1 min)
    python bench/ground.py --no-sample     # generated motions only
    python bench/ground.py --stride 4      # the sample at every 4th frame (as tests/test_ground.py)

Generated motions (tests/_ground_motions.py): walk, side steps, turn on the spot, standing on one leg and a jump,
filmed 4.5 m away by a camera 1.3 m up pitched 12° down, put through regressor-like noise (2° per joint and frame
plus a slow 2°, 1 cm sideways, 3 cm depth jitter and a 5 cm depth drift, shape noise), then core.smooth (default)
and core.ground (auto). Skate, penetration and floating are measured on the TRUE contacts against the clip's floor;
"smoothed" is the pipeline without the ground stage. The sample: demo network, static-camera detector, the video's
focal, the whole pipeline with the ground stage's defaults; with the network's own body size and with the actor's
height given (`--person-height`), with sparse detection (the default) and with the detector on every frame.
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


def sample(model_dir: Path, model_arrays: dict, stride: int) -> list[dict]:
    """assets/sample.mp4 through the whole pipeline, with the network's own body size and with the actor's height
    given (the true body's height), with sparse detection (the default) and with the detector on every frame."""
    from core.height import body_height
    from core.model import SMPLerX
    from core.motion import MotionClip
    from core.pipeline import ConvertOptions, convert_video
    from core.smooth import smooth_clip
    from tests._ground_motions import sample_errors

    assets = ROOT / "assets"
    truth = MotionClip.load(assets / "sample_motion.npz")
    height = float(body_height(model_arrays, truth.tracks[0].betas[0])[0])
    model = SMPLerX.from_checkpoint(assets / "demo_smpler_x.pth.tar", None)
    base = ConvertOptions(model_dir=model_dir, checkpoint=assets / "demo_smpler_x.pth.tar",
                          detector="static-camera", device="cpu", people="largest", stride=stride,
                          focal=float(truth.focal[0]))
    rows = []
    for detect_every in (0, 1):
        for given in (None, height):
            t = time.perf_counter()
            result = convert_video(assets / "sample.mp4", base.replace(person_height=given, detect_every=detect_every),
                                   model=model)
            seconds = time.perf_counter() - t
            before = result.clip.replace(tracks=smooth_clip(result.raw).tracks)
            out = sample_errors(before, result.clip, truth, model_arrays)
            out.update({"detection": "sparse" if detect_every == 0 else "every frame",
                        "person_height_m": round(given, 3) if given else "estimated",
                        "height_m": round(result.raw.metadata["height"]["tracks"]["0"]["final_m"], 3),
                        "stride": stride, "convert_s": round(seconds, 1),
                        "summary": result.clip.metadata["ground"]["summary"]})
            rows.append(out)
    return rows


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
        runs = sample(model_dir, arrays, args.stride)
        extra["sample"] = runs
        print(f"\nassets/sample.mp4 (stride {args.stride}, {runs[0]['frames']} frames; the true camera 1.05 m up, "
              "level; the actor 1.76 m): floor under the person and tilt, camera height error, and per stage")
        flat = [{"detection": r["detection"], "height": r["person_height_m"], "tilt": r["floor_tilt_deg"],
                 "floor": r["floor_height_error_mm"], "camera": r["camera_height_error_mm"],
                 **{f"{k}_{s[:3]}": r[s][k] for s in ("smoothed", "final")
                    for k in ("root_error_mm", "mpjpe_mm", "floating_mm", "foot_skate_mm_per_frame")}}
                for r in runs]
        print_table(flat, [("detection", "detection", 12), ("height", "person height", 14), ("tilt", "tilt°", 6),
                           ("floor", "floor mm", 9), ("camera", "camera mm", 10),
                           ("root_error_mm_smo", "root:smo", 9), ("root_error_mm_fin", "root:fin", 9),
                           ("mpjpe_mm_fin", "MPJPE", 7), ("floating_mm_smo", "float:smo", 10),
                           ("floating_mm_fin", "float:fin", 10), ("foot_skate_mm_per_frame_fin", "skate", 6)])
        print(f"  (the true motion's own skate on those contacts: {runs[0]['truth_skate_mm_per_frame']:.1f} mm/frame;"
              f" contacts on {100 * runs[0]['contact_fraction']:.0f}% of foot-frames)")
    path = write_results("ground", rows, "cpu", extra)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
