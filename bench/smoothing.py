"""Smoothing quality at different frame rates and strides: accel error and MPJPE against a generated ground truth.

    python bench/smoothing.py [--out bench/results/smoothing.json]

The same continuous motion (sinusoids of 0.2–1 Hz on the root and the 21 body joints, a drifting translation) is
sampled at 25 and 60 fps, with stride 1 and 6, gets per-sample noise of SMPLer-X's size (2–4° per joint, 2 cm
sideways, 6 cm in depth), and is smoothed with `core.smooth.smooth_clip` at its defaults. Joints come from a scipy
kinematic chain. Accel error is SmoothNet's, taken from the real sample times (second derivative, mm/s², divided by
the video's fps², so stride 1 gives the usual mm/frame²); MPJPE in mm over the samples.
Run it with PYTHONPATH pointing at another checkout to measure that version (the "before" column of issue 16).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # an explicit PYTHONPATH (another checkout) wins

from core.motion import MotionClip, MotionTrack  # noqa: E402
from core.smooth import smooth_clip  # noqa: E402

PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19]
DURATION = 10.0  # seconds


def _offsets() -> np.ndarray:
    rng = np.random.default_rng(5)
    off = rng.normal(0, 0.03, (22, 3))
    off[:, 1] += [0, -.09, -.09, .11, -.38, -.38, .13, -.40, -.40, .05, -.06, -.06, .22, .08, .08, .09, .06, .06,
                  0, 0, 0, 0]
    return off


OFFSETS = _offsets()


def chain(root: np.ndarray, body: np.ndarray, transl: np.ndarray) -> np.ndarray:
    """(N,22,3) metres from root (N,3), body (N,21,3) axis-angle and transl (N,3)."""
    n = len(root)
    rots, pos = [Rotation.from_rotvec(root)], [transl]
    for j in range(1, 22):
        p = PARENTS[j]
        pos.append(pos[p] + rots[p].apply(np.tile(OFFSETS[j], (n, 1))))
        rots.append(rots[p] * Rotation.from_rotvec(body[:, j - 1]))
    return np.stack(pos, axis=1)


def truth(t: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """The continuous motion evaluated at times t (seconds)."""
    rng = np.random.default_rng(seed)

    def curves(k: int, amp: float) -> np.ndarray:
        out = np.zeros((len(t), k, 3))
        for _ in range(2):
            f, ph = rng.uniform(0.2, 1.0, (1, k, 3)), rng.uniform(0, 2 * np.pi, (1, k, 3))
            out += rng.uniform(0.3, 1.0, (1, k, 3)) * amp / 2 * np.sin(2 * np.pi * f * t[:, None, None] + ph)
        return out

    root = (Rotation.from_rotvec([np.pi, 0, 0]) * Rotation.from_rotvec(curves(1, 0.4)[:, 0])).as_rotvec()
    body = curves(21, 0.8)
    transl = np.stack([0.3 * np.sin(2 * np.pi * 0.3 * t), 0.1 * np.sin(2 * np.pi * 0.5 * t), 4 + 0.05 * t], 1)
    return {"global_orient": root, "body_pose": body, "transl": transl}


def noisy_clip(fps: float, stride: int, seed: int = 1) -> tuple[MotionClip, dict[str, np.ndarray]]:
    frames = np.arange(0, int(DURATION * fps), stride)
    t = frames / fps
    gt = truth(t)
    rng = np.random.default_rng(seed)
    n = len(frames)

    def perturb(r: np.ndarray, std: float) -> np.ndarray:
        noise = Rotation.from_rotvec(rng.normal(0, std, (r.size // 3, 3)))
        return (Rotation.from_rotvec(r.reshape(-1, 3)) * noise).as_rotvec().reshape(r.shape)

    track = MotionTrack(
        track_id=0, frames=frames, times=t, global_orient=perturb(gt["global_orient"], 0.04),
        body_pose=perturb(gt["body_pose"], 0.04), left_hand_pose=np.zeros((n, 15, 3)),
        right_hand_pose=np.zeros((n, 15, 3)), jaw_pose=np.zeros((n, 3)), betas=np.zeros((n, 10)),
        expression=np.zeros((n, 10)), transl=gt["transl"] + rng.normal(0, 1, (n, 3)) * [0.02, 0.02, 0.06],
        boxes=np.tile([200.0, 100.0, 400.0, 500.0], (n, 1)), scores=np.full(n, 0.95))
    clip = MotionClip(fps=fps, num_frames=int(frames[-1]) + 1, image_size=(640, 640), focal=[800.0, 800.0],
                      princpt=[320.0, 320.0], tracks=[track])
    return clip, gt


def accel(x: np.ndarray, t: np.ndarray, fps: float) -> np.ndarray:
    """(N-2,J,3) second derivative over neighbouring samples, metres per video frame²."""
    dt = np.diff(t)
    v = np.diff(x, axis=0) / dt[:, None, None]
    return 2 * (v[1:] - v[:-1]) / (dt[:-1] + dt[1:])[:, None, None] / fps**2


def measure(fps: float, stride: int) -> dict:
    clip, gt = noisy_clip(fps, stride)
    track = clip.tracks[0]
    smooth = smooth_clip(clip).tracks[0]
    t = track.times
    gt_j = chain(gt["global_orient"], gt["body_pose"], gt["transl"])
    row = {"fps": fps, "stride": stride, "samples": len(track)}
    for name, tr in (("raw", track), ("smoothed", smooth)):
        j = chain(tr.global_orient.astype(np.float64), tr.body_pose.astype(np.float64), tr.transl.astype(np.float64))
        row[f"accel_err_{name}"] = float(np.linalg.norm(accel(j, t, fps) - accel(gt_j, t, fps), axis=-1).mean() * 1000)
        row[f"mpjpe_{name}"] = float(np.linalg.norm(j - gt_j, axis=-1).mean() * 1000)
    diff = (Rotation.from_rotvec(track.body_pose.reshape(-1, 3)).inv()
            * Rotation.from_rotvec(smooth.body_pose.reshape(-1, 3))).magnitude()
    row["body_pose_change_rad"] = float(diff.mean())
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "smoothing.json"))
    args = p.parse_args(argv)
    rows = [measure(fps, stride) for fps in (25.0, 60.0) for stride in (1, 6)]
    print(f"{'fps':>5} {'stride':>6} {'samples':>7} {'accel raw':>10} {'accel smooth':>12} {'MPJPE raw':>10} "
          f"{'MPJPE smooth':>12} {'pose change':>11}")
    for r in rows:
        print(f"{r['fps']:>5.0f} {r['stride']:>6d} {r['samples']:>7d} {r['accel_err_raw']:>10.2f} "
              f"{r['accel_err_smoothed']:>12.2f} {r['mpjpe_raw']:>10.1f} {r['mpjpe_smoothed']:>12.1f} "
              f"{r['body_pose_change_rad']:>11.4f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"units": {"accel": "mm/frame² (video fps)", "mpjpe": "mm", "change": "rad"},
                               "rows": rows}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
