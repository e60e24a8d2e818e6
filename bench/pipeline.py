"""Frames per second of each pipeline stage on a generated clip (decode+detect+track, regress, smooth, report).

    python bench/pipeline.py                      # CPU, S32 parity checkpoint, static-camera detector, 480×360
    python bench/pipeline.py --checkpoint MODEL_DIR/smpler_x_s32.pth.tar --model-dir MODEL_DIR --device cuda

Without arguments it uses the random-weight S32 checkpoint and synthetic body model of ../shared/reference/parity
(speed does not depend on the weights) and a video of two moving figures made on the fly.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import print_table, write_results  # noqa: E402

PARITY = ROOT.parent / "shared" / "reference" / "parity"


def make_video(path: Path, frames: int, width: int, height: int) -> None:
    from tests._media import moving_shapes, write_video

    people = [dict(size=(width // 8, height // 2), start=(10, height // 4), velocity=(width / frames / 2, 0),
                   color=(230, 40, 40)),
              dict(size=(width // 9, height // 2), start=(width - width // 9 - 10, height // 3),
                   velocity=(-width / frames / 2, 0), color=(40, 70, 230))]
    imgs, _ = moving_shapes(frames, height=height, width=width, shapes=people, seed=1)
    write_video(path, imgs, fps=25.0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", help="video to convert (default: a generated clip)")
    p.add_argument("--frames", type=int, default=40, help="frames of the generated clip")
    p.add_argument("--size", nargs=2, type=int, default=[480, 360], metavar=("W", "H"))
    p.add_argument("--checkpoint", default=str(PARITY / "smpler_x_s32_random.pth.tar"))
    p.add_argument("--model-dir", default=str(PARITY / "human_model_files"))
    p.add_argument("--detector", default="static-camera")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=16)
    args = p.parse_args(argv)

    from core.body import load_body_model
    from core.pipeline import ConvertOptions, convert_video, resolve_device
    from core.report import build_report

    with tempfile.TemporaryDirectory() as tmp:
        video = Path(args.video) if args.video else Path(tmp) / "bench.mp4"
        if not args.video:
            make_video(video, args.frames, *args.size)
        opts = ConvertOptions(model_dir=Path(args.model_dir), checkpoint=Path(args.checkpoint),
                              detector=args.detector, device=args.device, batch_size=args.batch_size)
        result = convert_video(video, opts)
        t = time.perf_counter()
        build_report(result.raw, result.clip, load_body_model(args.model_dir), result.stage_seconds)
        result.stage_seconds["report"] = time.perf_counter() - t
        result.stage_frames["report"] = result.stage_frames["regress"]
    device = resolve_device(args.device)
    rows = []
    for stage, sec in result.stage_seconds.items():
        n = result.stage_frames.get(stage, 1 if stage == "load" else 0)
        rows.append({"stage": stage, "device": device, "batch": args.batch_size, "seconds": sec, "items": n,
                     "ms_per_item": 1000 * sec / n if n else None, "per_s": n / sec if n and sec else None})
    print_table(rows, [("stage", "stage", 13), ("device", "device", 6), ("batch", "batch", 5), ("items", "frames", 6),
                       ("seconds", "s", 7), ("ms_per_item", "ms/frame", 9), ("per_s", "fps", 7)])
    print("(regress counts person crops; the other stages count video frames)")
    print(write_results(f"pipeline-{device.split(':')[0]}", rows, device,
                        {"video": str(args.video or f"generated {args.frames} frames {args.size[0]}x{args.size[1]}")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
