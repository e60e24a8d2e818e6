"""`python -m core convert` end to end on a generated video, and its failure modes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests._media import moving_shapes, write_video

ROOT = Path(__file__).resolve().parents[1]
# each pixel is covered in at most 4 of the 10 frames, so the static camera's median background stays clean
PEOPLE = [dict(size=(60, 170), start=(10, 120), velocity=(20, 0), color=(230, 40, 40)),
          dict(size=(56, 160), start=(410, 140), velocity=(-16, 0), color=(40, 70, 230))]
NUM_FRAMES = 10


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    frames, boxes = moving_shapes(NUM_FRAMES, height=360, width=480, shapes=PEOPLE, seed=3)
    path = tmp_path_factory.mktemp("video") / "two_people.mp4"
    write_video(path, frames, fps=25.0)
    return path, boxes


@pytest.fixture(scope="module")
def converted(video, parity_dir, parity_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    proc = _run("convert", str(video[0]), "-o", str(out / "clip.npz"), "--model-dir", str(parity_model_dir),
                "--checkpoint", str(parity_dir / "smpler_x_s32_random.pth.tar"), "--detector", "static-camera",
                "--device", "cpu", "--batch-size", "8", "--overlay", str(out / "overlay.mp4"),
                "--per-frame-dir", str(out / "frames"), "--progress-json", cwd=out)
    return proc, out


def test_convert_writes_clip_report_overlay(converted, video):
    from core.motion import MotionClip
    from core.video import open_video

    proc, out = converted
    assert proc.returncode == 0, proc.stderr
    clip = MotionClip.load(out / "clip.npz")
    assert clip.fps == pytest.approx(25.0) and clip.num_frames == NUM_FRAMES and clip.image_size == (480, 360)
    assert len(clip.tracks) == 2
    # identities follow the shapes: track 0 starts left (the red one), track 1 right
    first = sorted(clip.tracks, key=lambda t: t.boxes[0, 0])
    truth = video[1]
    for k, tr in enumerate(first):
        centre = tr.boxes[:, [0, 2]].mean(1)
        want = np.array([truth[int(f)][k, [0, 2]].mean() for f in tr.frames])
        assert np.abs(centre - want).max() < 10
    for tr in clip.tracks:
        assert np.isfinite(tr.transl).all() and np.isfinite(tr.body_pose).all()
        assert np.ptp(tr.betas, axis=0).max() < 1e-6  # one shape per track after smoothing
    report = json.loads((out / "clip.report.json").read_text())
    assert report["tracks"] and "stages" in json.dumps(report)
    assert sum(1 for _ in open_video(out / "overlay.mp4")) == NUM_FRAMES
    assert len(list((out / "frames" / "smplx").glob("*.npz"))) == sum(len(t) for t in clip.tracks)
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    stages = {line["stage"] for line in lines}
    # sparse detection (the default) is one pass: "track" (the static-camera detector's "detect" learns the background)
    assert {"load", "detect", "track", "smooth", "ground"} <= stages and "regress" not in stages
    assert all(line["done"] <= line["total"] for line in lines)


def test_translation_in_one_camera_matches_boxes(converted):
    """The pelvis re-projected with the clip's single camera lands inside each person's box."""
    from core.body import read_model_arrays
    from core.motion import MotionClip, rest_root_joint

    proc, out = converted
    clip = MotionClip.load(out / "clip.npz")
    arrays = read_model_arrays(Path(__file__).resolve().parents[2] / "shared/reference/parity/human_model_files")
    for tr in clip.tracks:
        pelvis = rest_root_joint(arrays, tr.betas, tr.expression) + tr.transl
        uv = pelvis[:, :2] / pelvis[:, 2:] * clip.focal + clip.princpt
        box = tr.boxes
        w = box[:, 2] - box[:, 0]
        assert np.all(uv[:, 0] > box[:, 0] - 2 * w) and np.all(uv[:, 0] < box[:, 2] + 2 * w)


@pytest.mark.parametrize("case", ["missing_video", "corrupt_video", "missing_checkpoint", "no_people"])
def test_bad_input_one_line_nonzero_no_output(case, tmp_path, parity_dir, parity_model_dir):
    video = tmp_path / "v.mp4"
    ckpt = parity_dir / "smpler_x_s32_random.pth.tar"
    if case == "corrupt_video":
        video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    elif case != "missing_video":
        frames, _ = moving_shapes(6, height=120, width=160, shapes=[], seed=1)
        write_video(video, frames, fps=10.0)
    if case == "missing_checkpoint":
        ckpt = tmp_path / "smpler_x_s32.pth.tar"
    out = tmp_path / "res" / "clip.npz"
    proc = _run("convert", str(video), "-o", str(out), "--model-dir", str(parity_model_dir), "--checkpoint",
                str(ckpt), "--detector", "static-camera", "--device", "cpu", cwd=tmp_path)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    expected = {"missing_video": "v.mp4", "corrupt_video": "v.mp4", "missing_checkpoint": "smpler_x_s32.pth.tar",
                "no_people": "no person"}[case]
    assert expected in lines[0]
    assert not out.exists() and not list(tmp_path.glob("res/*"))


def test_out_of_memory_halves_the_batch(video):
    """A CUDA out-of-memory error makes the regression retry with smaller batches; every row still gets filled."""
    import torch

    from core.pipeline import ConvertOptions, _regress
    from core.track import Track
    from core.video import open_video

    class OomAbove2:
        calls: list[int] = []

        def forward_crops(self, crops, with_mesh=False):
            self.calls.append(len(crops))
            if len(crops) > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
            b = len(crops)
            row = crops.mean(dim=(1, 2, 3))  # something that depends on each crop
            out = {k: row[:, None].expand(b, n).clone() for k, n in
                   (("smplx_root_pose", 3), ("smplx_body_pose", 63), ("smplx_lhand_pose", 45),
                    ("smplx_rhand_pose", 45), ("smplx_jaw_pose", 3), ("smplx_shape", 10), ("smplx_expr", 10),
                    ("cam_trans", 3))}
            return out

    source = open_video(video[0])
    boxes = np.stack([b[0] for b in video[1]]).astype(np.float32)
    track = Track(0, np.arange(len(boxes)), boxes, np.ones(len(boxes), np.float32), np.zeros(len(boxes), bool))
    model = OomAbove2()
    out = _regress(source, [track], model, ConvertOptions(batch_size=8), lambda *a: None)
    assert out[0]["valid"].all() and np.isfinite(out[0]["smplx_body_pose"]).all()
    assert model.calls == [8, 4] + [2] * (len(boxes) // 2)  # halved twice, then every batch fits
    assert len(np.unique(out[0]["smplx_root_pose"][:, 0])) == len(boxes)  # rows kept in order, not duplicated
