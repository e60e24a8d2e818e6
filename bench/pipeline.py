"""End-to-end frames/s of `convert_video`, detector on every frame (the reference's way) against sparse detection.

    python bench/pipeline.py                 # CPU: 1080p single person and a two-person clip, 48 frames each
    python bench/pipeline.py --frames 64 --device cuda

Both clips are made on the fly: the demo video (`assets/sample.mp4`) scaled to 1920×1080, and two mannequins
crossing (`tests._media.two_person_clip`). Each run times the real networks on the real frames: torchvision's Faster
R-CNN R50-FPN (random weights: its cost does not depend on them) and SMPLer-X S32 (the random-weight parity
checkpoint). The boxes and joints that steer the run come from known-good stand-ins, so that the detector's
schedule is the one real footage gets: the detector's answer is the true boxes (a fixture), and the joints that
carry the boxes between keyframes are the demo network's, run on the same crops (its cost, reported in the table,
is part of the regress stage). Per-frame rows use the reference's detector input (short side 800); sparse rows the
defaults (adaptive keyframes, short side 640). The rows of one run share the machine's state: compare ratios.
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

PARITY = ROOT.parent / "shared" / "reference" / "parity"
ASSETS = ROOT / "assets"


class _TimedDetector:
    """Runs the real detector for its cost, answers with the fixture's boxes."""

    needs_fit = False

    def __init__(self, timed, answers) -> None:
        self.timed, self.answers = timed, answers

    def detect(self, images):
        self.timed.detect(images)
        return self.answers.detect(images)


class _TimedModel:
    """Runs S32 for its cost, answers with the demo network's outputs on the same crops."""

    def __init__(self, timed, answers) -> None:
        self.timed, self.answers = timed, answers
        self.encoder = timed.encoder

    def forward_crops(self, crops, with_mesh=False):
        self.timed.forward_crops(crops, with_mesh=False)
        return self.answers.forward_crops(crops, with_mesh=False)


def _clip_1080p(tmp: Path, frames: int) -> tuple[Path, list[np.ndarray]]:
    """The demo video scaled ×3 to 1920×1080 and its true boxes scaled with it."""
    import cv2

    from core.motion import MotionClip
    from core.render import write_video
    from core.video import open_video

    boxes = MotionClip.load(ASSETS / "sample_motion.npz").tracks[0].boxes * 3
    images = (cv2.resize(f.image, (1920, 1080), interpolation=cv2.INTER_LINEAR)
              for f in open_video(ASSETS / "sample.mp4", end=frames))
    path = tmp / "single_1080p.mp4"
    write_video(path, images, 25.0, crf=20)
    return path, [np.array([[*b, 1.0]]) for b in boxes]


def _convert(video: Path, model_dir: Path, model, detector, every: int, size: int, device: str, frames: int):
    from core.pipeline import ConvertOptions, convert_video

    opts = ConvertOptions(model_dir=model_dir, checkpoint=PARITY / "smpler_x_s32_random.pth.tar",
                          device=device, detect_every=every, detector_size=size, end=frames)
    t = time.perf_counter()
    result = convert_video(video, opts, model=model, detector=detector)
    return result, time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=48, help="frames of each clip (the two-person clip has 90: the "
                   "crossing is at ~23, the second person leaves at ~45 and comes back at ~74)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    import torch

    from core.body import write_mannequin
    from core.detect.torchvision_rcnn import RCNNDetector, build_faster_rcnn
    from core.model import SMPLerX
    from core.pipeline import resolve_device
    from tests._media import FixtureDetector, two_person_clip

    device = resolve_device(args.device)
    s32 = SMPLerX.from_checkpoint(PARITY / "smpler_x_s32_random.pth.tar", None, device=device)
    demo = SMPLerX.from_checkpoint(ASSETS / "demo_smpler_x.pth.tar", None, device=device)
    rcnn = {size: RCNNDetector(build_faster_rcnn(91, min_size=size, max_size=round(size * 1333 / 800)), device)
            for size in (800, 640, 512)}
    model = _TimedModel(s32, demo)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = tmp / "mannequin"
        write_mannequin(model_dir)
        clips = {"1080p, 1 person": _clip_1080p(tmp, args.frames)}
        video, truth = two_person_clip(model_dir, tmp)
        clips["640x360, 2 people"] = (video, [b[:, :5] for b in truth])
        first = next(iter(clips.values()))[0]
        from core.video import open_video

        frame = next(iter(open_video(first))).image
        for size, det in rcnn.items():  # detector cost per input size on a 1080p frame
            det.detect([frame])
            t = time.perf_counter()
            det.detect([frame])
            rows.append({"clip": "1080p frame", "mode": f"detector only, short side {size}",
                         "detector_s": time.perf_counter() - t})
        crops = torch.rand(1, 3, 512, 384, device=device)
        for name, net in (("S32", s32), ("demo network (stand-in joints)", demo)):
            net.forward_crops(crops, with_mesh=False)
            t = time.perf_counter()
            for _ in range(3):
                net.forward_crops(crops, with_mesh=False)
            rows.append({"clip": "one crop", "mode": name, "regress_s": (time.perf_counter() - t) / 3})
        for clip, (video, boxes) in clips.items():
            base = None
            for mode, every, size in (("per-frame, side 800", 1, 800), ("sparse (default), side 640", 0, 640)):
                det = _TimedDetector(rcnn[size], FixtureDetector(video, boxes))
                result, seconds = _convert(video, model_dir, model, det, every, size, device, args.frames)
                n = args.frames
                fps = n / seconds
                base = base or fps
                stages = {k: round(v, 2) for k, v in result.stage_seconds.items()}
                rows.append({"clip": clip, "mode": mode, "frames": n, "seconds": seconds, "fps": fps,
                             "speedup": fps / base, "detector_calls_per_frame": result.detector_calls / n,
                             "people": len(result.raw.tracks), "stages_s": stages})
                print(clip, mode, stages, flush=True)
    print_table(rows, [("clip", "clip", 18), ("mode", "mode", 31), ("frames", "frames", 6), ("seconds", "s", 7),
                       ("fps", "fps", 6), ("speedup", "×", 5), ("detector_calls_per_frame", "det/frame", 9),
                       ("detector_s", "det s", 6), ("regress_s", "crop s", 6)])
    print(write_results(f"pipeline-{device.split(':')[0]}", rows, device,
                        {"note": "detector: torchvision Faster R-CNN R50-FPN, random weights, answers from the true "
                                 "boxes; regression: S32 random weights timed, demo network's joints steer the boxes"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
