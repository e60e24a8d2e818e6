"""`python -m core demo` (`make run`): the whole chain on a fresh machine, without any licensed file.

With no arguments: write the licence-free mannequin to `<out>/models/`, convert the bundled `assets/sample.mp4` (the
mannequin moving before a fixed camera, true motion in `assets/sample_motion.npz`) with the bundled demo network
(`assets/demo_smpler_x.pth.tar`, a small SMPLer-X trained on mannequin renders by `python -m training.demo
build-all`) and the static-camera detector on the CPU, write the clip, its report and the overlay video, build
`<out>/demo.blend`, `<out>/demo.fbx` and `<out>/demo_character.fbx` (the motion retargeted onto Rigify's human metarig)
with the Blender add-on (bpy from the venv), and print the accuracy against
the ground truth.

With `--video V --model-dir D`: the same outputs for a real video with the official files in D (SMPL-X body model,
SMPLer-X S32 checkpoint, torchvision detector), without the accuracy part.

A piece that is missing (the add-on, bpy, an asset) is named in the output; nothing is faked.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["run_demo", "compare_to_truth", "DemoAssets"]

REPO = Path(__file__).resolve().parent.parent
BODY_JOINTS = np.arange(22)  # SMPL-X pelvis … wrists: the body part of the 55 joints
HAND_JOINTS = {"left": (20, np.arange(25, 40)), "right": (21, np.arange(40, 55))}  # (wrist, fingers)


@dataclass(frozen=True)
class DemoAssets:
    """The shipped demo files (under `assets/` of the repository)."""

    video: Path
    motion: Path
    checkpoint: Path
    card: Path

    @classmethod
    def default(cls) -> "DemoAssets":
        a = REPO / "assets"
        return cls(a / "sample.mp4", a / "sample_motion.npz", a / "demo_smpler_x.pth.tar", a / "demo_card.json")

    def check(self) -> None:
        """FileNotFoundError naming every missing asset and how to rebuild it."""
        missing = [str(p) for p in (self.video, self.motion, self.checkpoint) if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"demo asset(s) not found: {', '.join(missing)} (they ship in the repository's "
                                    "assets/; rebuild them with `python -m training.demo build-all`)")


# ---------------------------------------------------------------------------------------------- accuracy
def _procrustes(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Similarity (scale, rotation, translation; Umeyama) of (J,3) `src` onto `dst`; returns aligned `src`."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(d0.T @ s0)
    fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ fix @ vt
    scale = np.trace(np.diag(sig) @ fix) / max((s0 ** 2).sum(), 1e-12)
    return scale * s0 @ rot.T + mu_d


def compare_to_truth(pred_joints: np.ndarray, true_joints: np.ndarray) -> dict[str, float]:
    """Errors of predicted against true joints of the same frames, both in the same (video) camera.

    Args:
        pred_joints, true_joints: (N,J≥55,3) SMPL-X joints, metres, OpenCV camera, frame-aligned.

    Returns:
        millimetres: `mpjpe` (22 body joints, pelvis-aligned), `pa_mpjpe` (after a per-frame similarity),
        `root_error` (pelvis position in the camera, no alignment), `hand_mpjpe` (15 finger joints per hand,
        wrist-aligned), `accel_error` (mean |acceleration difference| of the pelvis-aligned body joints,
        mm/frame², consecutive frames assumed).
    """
    p, t = pred_joints[:, BODY_JOINTS], true_joints[:, BODY_JOINTS]
    p_rel, t_rel = p - p[:, :1], t - t[:, :1]
    out = {
        "mpjpe": float(np.linalg.norm(p_rel - t_rel, axis=-1).mean() * 1000),
        "pa_mpjpe": float(np.mean([np.linalg.norm(_procrustes(a, b) - b, axis=-1).mean()
                                   for a, b in zip(p, t)]) * 1000),
        "root_error": float(np.linalg.norm(p[:, 0] - t[:, 0], axis=-1).mean() * 1000),
    }
    hands = []
    for wrist, fingers in HAND_JOINTS.values():
        hands.append(np.linalg.norm((pred_joints[:, fingers] - pred_joints[:, [wrist]])
                                    - (true_joints[:, fingers] - true_joints[:, [wrist]]), axis=-1).mean())
    out["hand_mpjpe"] = float(np.mean(hands) * 1000)
    if len(p) >= 3:
        acc = lambda j: j[:-2] - 2 * j[1:-1] + j[2:]  # noqa: E731
        out["accel_error"] = float(np.linalg.norm(acc(p_rel) - acc(t_rel), axis=-1).mean() * 1000)
    return out


def accuracy(pred_clip, true_clip, model_dir: Path) -> dict[str, float]:
    """Frame-match the longest predicted track with the true track and compare their mannequin joints.

    Raises:
        ValueError: no predicted frame overlaps the ground truth.
    """
    from .body import load_body_model
    from .report import accel_mm, track_joints

    body = load_body_model(model_dir, "neutral")
    pred = max(pred_clip.tracks, key=len)
    true = true_clip.tracks[0]
    common, ip, it = np.intersect1d(pred.frames, true.frames, return_indices=True)
    if len(common) == 0:
        raise ValueError("the predicted track shares no frame with the ground truth")
    pj = track_joints(body, pred_clip, pred.select(ip))
    true = true.select(it)
    tj = track_joints(body, true_clip, true)
    out = compare_to_truth(pj, tj)
    still = compare_to_truth(track_joints(body, true_clip, _standing_guess(true)), tj)
    out["constant_pose_mpjpe"], out["constant_pose_pa_mpjpe"] = still["mpjpe"], still["pa_mpjpe"]
    out["frames_compared"] = int(len(common))
    out["frames_total"] = int(len(true))
    out["accel_pred"] = accel_mm(pj[:, BODY_JOINTS], common)
    out["accel_true"] = accel_mm(tj[:, BODY_JOINTS], common)
    return out


def _standing_guess(track):
    """The same frames with a constant guess: mean shape standing, arms down (±1.1 rad about the forward axis at
    the shoulders), facing the camera, at the true position — the score of a network that learned only that."""
    n = len(track)
    body = np.zeros((n, 21, 3))
    body[:, 15, 2], body[:, 16, 2] = -1.1, 1.1  # left/right shoulder (SMPL-X joints 16, 17)
    zeros = lambda *shape: np.zeros((n, *shape))  # noqa: E731
    return track.replace(global_orient=np.tile([np.pi, 0.0, 0.0], (n, 1)), body_pose=body,
                         left_hand_pose=zeros(15, 3), right_hand_pose=zeros(15, 3), jaw_pose=zeros(3),
                         betas=zeros(track.betas.shape[1]), expression=zeros(track.expression.shape[1]))


# ---------------------------------------------------------------------------------------------- steps
def _progress(stage: str, done: int, total: int, message: str) -> None:
    if done == total and total > 0:
        print(f"  {stage}: {done}/{total} {message}".rstrip(), flush=True)


def _convert(video: Path, opts, out_npz: Path, overlay: Path, model=None) -> tuple:
    from .pipeline import convert_video, write_outputs

    result = convert_video(video, opts, _progress, model=model)
    written = write_outputs(result, out_npz, opts, None, str(overlay), None, _progress)
    return result, written


def _blender_outputs(clip_path: Path, model_dir: Path, out: Path) -> tuple[list[Path], str | None]:
    """Build `<stem>.blend`, `<stem>.fbx` and `<stem>_character.fbx` (the motion retargeted onto Rigify's metarig)
    with the add-on's batch entry (its plain import, retarget and export functions) in a child process, so that
    core itself never imports bpy.

    Returns:
        the files written and, when a piece is missing or the build failed, a message saying what.
    """
    batch = REPO / "blender_addon" / "batch.py"
    if not batch.is_file():
        return [], f"the Blender add-on is missing ({batch} not found)"
    if importlib.util.find_spec("bpy") is None:
        return [], f"bpy is not installed in {sys.executable} (pip install bpy==5.0.1, or run the add-on in Blender)"
    written, errors = [], []
    # the last run retargets the motion onto Rigify's human metarig (licence-free): <stem>_character.fbx
    for fmt, extra, suffix in (("blend", [], ""), ("fbx", [], ""), ("fbx", ["--retarget-to", "rigify-metarig"],
                                                                     "_character")):
        cmd = [sys.executable, str(batch), "--clip", str(clip_path), "--output", str(out), "--format", fmt,
               "--model-dir", str(model_dir), *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        target = out / f"{clip_path.stem}{suffix}.{fmt}"
        if proc.returncode == 0 and target.is_file():
            written.append(target)
        else:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
            errors.append(f"{fmt}: exit {proc.returncode}: {' | '.join(tail)}")
    return written, ("; ".join(errors) or None)


def _how_to_real() -> str:
    return ("Real videos need the official files (SMPL-X body model and SMPLer-X checkpoint, see README):\n"
            "  make run VIDEO=my.mp4 MODEL_DIR=/path/to/models\n"
            "  python -m core convert my.mp4 -o my.npz --model-dir /path/to/models --overlay my_overlay.mp4\n"
            "  blender -b --python blender_addon/batch.py -- --input my.mp4 --output out --model-dir "
            "/path/to/models")


def _sample_demo(out: Path) -> int:
    from .body import read_model_arrays, write_mannequin
    from .height import body_height
    from .model import SMPLerX
    from .atomic import atomic_write
    from .motion import MotionClip
    from .pipeline import ConvertOptions

    assets = DemoAssets.default()
    assets.check()
    times: dict[str, float] = {}
    t = time.perf_counter()
    model_dir = out / "models"
    write_mannequin(model_dir)
    print(f"mannequin body model → {model_dir}/smplx/")
    truth = MotionClip.load(assets.motion)
    model = SMPLerX.from_checkpoint(assets.checkpoint, None, device="cpu")  # regression needs no body layer
    times["setup"] = time.perf_counter() - t
    print(f"converting {assets.video.name} with the demo network ({model.cfg.name}: width {model.cfg.embed_dim}, "
          f"depth {model.cfg.depth}) and the static-camera detector on the CPU")
    t = time.perf_counter()
    height = round(float(body_height(read_model_arrays(model_dir), truth.tracks[0].betas[0])[0]), 2)
    print(f"  the camera's focal ({truth.focal[0]:g} px) and the actor's height ({height:g} m) are given, as a user "
          "who knows them would (--focal, --person-height)")
    opts = ConvertOptions(model_dir=model_dir, checkpoint=assets.checkpoint, detector="static-camera", device="cpu",
                          people="largest", focal=float(truth.focal[0]), person_height=height)
    result, written = _convert(assets.video, opts, out / "demo.npz", out / "demo_overlay.mp4", model=model)
    times["convert"] = time.perf_counter() - t
    for p in written:
        print(f"  wrote {p}")
    t = time.perf_counter()
    blend, problem = _blender_outputs(out / "demo.npz", model_dir, out)
    times["blender"] = time.perf_counter() - t
    for p in blend:
        print(f"  wrote {p}")
    if problem:
        print(f"NOT BUILT (Blender scene/FBX): {problem}")
    acc = accuracy(result.clip, truth, model_dir)
    _print_accuracy(acc, assets.card)
    atomic_write(out / "demo_accuracy.json", lambda fh: fh.write(json.dumps(acc, indent=1) + "\n"), mode="w")
    print("times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()))
    print(_how_to_real())
    return 0 if not problem else 1


def _print_accuracy(acc: dict, card_path: Path) -> None:
    print(f"accuracy against the true motion ({acc['frames_compared']} of {acc['frames_total']} frames, "
          "same camera, mannequin joints):")
    print(f"  MPJPE {acc['mpjpe']:.1f} mm (22 body joints, pelvis-aligned)   PA-MPJPE {acc['pa_mpjpe']:.1f} mm")
    print(f"  pelvis position error {acc['root_error']:.1f} mm   hand MPJPE {acc['hand_mpjpe']:.1f} mm (wrist-aligned)")
    if "accel_error" in acc:
        print(f"  accel error {acc['accel_error']:.1f} mm/frame² (accel predicted {acc['accel_pred']:.1f}, "
              f"true {acc['accel_true']:.1f})")
    print(f"  for scale: a constant standing pose at the true position scores MPJPE "
          f"{acc['constant_pose_mpjpe']:.1f} mm, PA-MPJPE {acc['constant_pose_pa_mpjpe']:.1f} mm")
    if card_path.is_file():
        card = json.loads(card_path.read_text())
        held = card.get("heldout_synthetic_mm", {})
        if "mpjpe_body" in held:
            print(f"  (held-out synthetic images: MPJPE {held['mpjpe_body']} mm, PA-MPJPE {held['pa_mpjpe_body']} mm; "
                  f"{card_path.name})")
    verdict = "beats" if acc["mpjpe"] < acc["constant_pose_mpjpe"] else "does not beat"
    print(f"The demo network (a small SMPLer-X trained briefly on a CPU) {verdict} that constant guess: the demo "
          "proves the chain, not SMPLer-X's accuracy.")


def _official(video: Path, model_dir: Path, out: Path) -> int:
    from .body.files import model_dir_status
    from .pipeline import ConvertOptions

    if not video.exists():
        raise FileNotFoundError(f"video not found: {video}")
    if not model_dir.is_dir():
        raise FileNotFoundError(f"model directory not found: {model_dir} (it holds smplx/SMPLX_NEUTRAL.npz and "
                                "smpler_x_s32.pth.tar; see README)")
    missing = [name for name, ok, _ in model_dir_status(model_dir) if not ok]
    if missing:
        print(f"note: absent from {model_dir}: {', '.join(missing)}")
    opts = ConvertOptions(model_dir=model_dir, detector="torchvision", variant="s32")
    stem = video.stem if video.is_file() else video.name
    print(f"converting {video} with SMPLer-X S32 from {model_dir} (torchvision detector)")
    t = time.perf_counter()
    _, written = _convert(video, opts, out / f"{stem}.npz", out / f"{stem}_overlay.mp4")
    for p in written:
        print(f"  wrote {p}")
    print(f"conversion: {time.perf_counter() - t:.1f} s")
    blend, problem = _blender_outputs(out / f"{stem}.npz", model_dir, out)
    for p in blend:
        print(f"  wrote {p}")
    if problem:
        print(f"NOT BUILT (Blender scene/FBX): {problem}")
        return 1
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """The `demo` subcommand: `args.video`, `args.model_dir` (both or neither) and `args.out`."""
    out = Path(args.out)
    if bool(args.video) != bool(args.model_dir):
        raise ValueError("--video and --model-dir go together (the official files convert a real video); "
                         "give neither for the bundled mannequin demo")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot create the folder ({exc.strerror}); choose another with --out") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: the folder is not writable; choose another with --out")
    t0 = time.perf_counter()
    code = _official(Path(args.video), Path(args.model_dir), out) if args.video else _sample_demo(out)
    print(f"demo finished in {time.perf_counter() - t0:.1f} s (outputs in {out}/)")
    return code
