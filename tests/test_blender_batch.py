"""batch.py as a script (`python blender_addon/batch.py …` with bpy from PyPI): one output per input, a failing input
does not stop the rest, summary table, non-zero exit code when anything failed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import blender_helpers  # noqa: F401  (sets BLENDER_USER_RESOURCES before anything imports bpy)

pytestmark = pytest.mark.blender

ROOT = Path(__file__).resolve().parents[1]


def test_batch_script_converts_clips_and_reports_failures(mannequin_dir, tmp_path):
    from blender_helpers import make_clip, random_track

    good = tmp_path / "good.npz"
    make_clip([random_track(0, np.arange(5), seed=1), random_track(1, np.arange(2, 6), seed=2)],
              num_frames=6).save(good)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a clip")
    out = tmp_path / "out"
    cmd = [sys.executable, str(ROOT / "blender_addon" / "batch.py"), "--clip", str(bad), "--clip", str(good),
           "--input", str(tmp_path / "missing.mp4"), "--output", str(out), "--format", "fbx",
           "--model-dir", str(mannequin_dir), "--no-camera"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (out / "good.fbx").stat().st_size > 10_000
    assert sorted(p.name for p in out.iterdir()) == ["good.fbx"]
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.split() and line.split()[0]
            in ("good.npz", "bad.npz", "missing.mp4")}
    assert rows["good.npz"].split()[1:4] == ["ok", "2", "6"]
    assert rows["bad.npz"].split()[1] == "FAIL" and rows["missing.mp4"].split()[1] == "FAIL"
    assert "FileNotFoundError" in rows["missing.mp4"]

    blend = subprocess.run(cmd[:2] + ["--clip", str(good), "--output", str(out), "--model-dir", str(mannequin_dir)],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert blend.returncode == 0, blend.stdout + blend.stderr
    assert (out / "good.blend").stat().st_size > 100_000


def _walking_box_video(path: Path, frames: int = 10) -> None:
    """A tripod shot of a person-sized box crossing the frame (the static-camera detector finds it)."""
    import av

    rng = np.random.default_rng(0)
    background = rng.integers(0, 60, (240, 320, 3)).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(frames):
            image = background.copy()
            image[25:225, 5 + 25 * i:69 + 25 * i] = (200, 120, 90)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))


@pytest.mark.parametrize("how", ["in-process", "subprocess"])
def test_batch_converts_a_video_with_the_pipeline(mannequin_dir, parity_dir, tmp_path, how):
    """Video → core.pipeline → rig → GLB with the random parity S32: in this process (torch is importable here) or,
    as in Blender's own Python (no torch), through the worker running `python -m core convert --progress-json` with
    the Python of the environment "Install dependencies" made, found without --python."""
    models = tmp_path / "models"
    (models / "smplx").mkdir(parents=True)
    for item in (Path(mannequin_dir) / "smplx").iterdir():
        (models / "smplx" / item.name).symlink_to(item)
    if how == "in-process":  # the official file name in the model directory…
        (models / "smpler_x_s32.pth.tar").symlink_to(parity_dir / "smpler_x_s32_random.pth.tar")
    # in-process: a folder of two generated videos → one FBX each; subprocess: one video → GLB
    folder = tmp_path / "videos"
    folder.mkdir()
    names = ["walk.mp4", "walk2.mp4"] if how == "in-process" else ["walk.mp4"]
    for name in names:
        _walking_box_video(folder / name)
    fmt = "fbx" if how == "in-process" else "glb"
    source = folder if how == "in-process" else folder / "walk.mp4"
    out = tmp_path / "out"
    args = ["--input", str(source), "--output", str(out), "--format", fmt, "--model-dir", str(models),
            "--detector", "static-camera", "--device", "cpu"]
    if how == "subprocess":  # …or any checkpoint file, handed on to the worker's command line
        args += ["--checkpoint", str(parity_dir / "smpler_x_s32_random.pth.tar")]
    env = dict(os.environ)
    if how == "subprocess":  # torch hidden from batch.py; the made environment (a link to this Python) has it
        env["BLENDER_USER_RESOURCES"] = str(tmp_path / "blender-user")
        made = tmp_path / "blender-user" / "datafiles" / "smplx_video" / "venv" / "bin"
        made.mkdir(parents=True)
        (made / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        (made / "python").chmod(0o755)
    hide = "sys.modules['torch'] = None; " if how == "subprocess" else ""
    code = (f"import runpy, sys; {hide}sys.argv = ['batch.py', *{args!r}]; "
            f"runpy.run_path({str(ROOT / 'blender_addon' / 'batch.py')!r}, run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=400, cwd=tmp_path,
                            env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in names:
        row = next(line for line in result.stdout.splitlines() if line.startswith(name))
        assert row.split()[1:4] == ["ok", "1", "10"]
        assert (out / f"{Path(name).stem}.{fmt}").stat().st_size > 100_000
    if how == "subprocess":  # the worker relayed the child's JSON progress lines
        assert "walk.mp4: track 10/10" in result.stdout  # sparse detection's one pass
