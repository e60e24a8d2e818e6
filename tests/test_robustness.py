"""`python -m core convert` as a careless user or an attacker runs it (issue 16, items 2–8, 10, 12): outputs checked
before work, committed together or not at all, one-line errors, signals, memory bounds, clip metadata."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from tests._media import moving_shapes, write_video

ROOT = Path(__file__).resolve().parents[1]
PEOPLE = [dict(size=(60, 170), start=(10, 120), velocity=(20, 0), color=(230, 40, 40))]  # as tests/test_pipeline.py


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"}


def _convert_args(video: Path, out: Path, parity_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "core", "convert", str(video), "-o", str(out), "--model-dir",
            str(parity_dir / "human_model_files"), "--checkpoint", str(parity_dir / "smpler_x_s32_random.pth.tar"),
            "--detector", "static-camera", "--device", "cpu", "--batch-size", "4", "--progress-json", *extra]


def _run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.strip().splitlines() if line]
    assert proc.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def _started_work(proc: subprocess.CompletedProcess) -> bool:
    return any(json.loads(line).get("stage") in ("detect", "regress") for line in proc.stdout.splitlines() if line)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _temps(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if ".tmp" in p.name]


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    frames, _ = moving_shapes(12, height=360, width=480, shapes=PEOPLE, seed=3)
    path = tmp_path_factory.mktemp("video") / "walk.mp4"
    write_video(path, frames, fps=25.0)
    return path


@pytest.fixture(scope="module")
def good_run(video, parity_dir, tmp_path_factory):
    """A first, successful conversion with every output (umask 022), whose files later failures must not touch."""
    out = tmp_path_factory.mktemp("good")
    old = os.umask(0o022)
    try:
        proc = _run(_convert_args(video, out / "clip.npz", parity_dir, "--overlay", str(out / "ov.mp4"),
                                  "--per-frame-dir", str(out / "frames")), out)
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr
    return out


@contextmanager
def _mounted_tmpfs(path: Path, options: str):
    """A small tmpfs at `path` (full-disk and read-only cases); skips where the machine does not allow mounting."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'needs root'}); this case needs one")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True)


@contextmanager
def _read_only_folder(path: Path):
    """chmod 555 for an ordinary user; root ignores modes, so a read-only tmpfs there."""
    if os.geteuid() != 0:
        path.mkdir(parents=True)
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
    else:
        with _mounted_tmpfs(path, "size=1m,ro") as mounted:
            yield mounted


# ----------------------------------------------------------------------------------------------- items 3, 10, 12
@pytest.mark.slow
def test_good_run_outputs_follow_the_umask(good_run):
    for name in ("clip.npz", "clip.report.json", "ov.mp4"):
        assert stat.S_IMODE((good_run / name).stat().st_mode) == 0o644, name
    assert stat.S_IMODE((good_run / "frames").stat().st_mode) == 0o755
    assert _temps(good_run) == []


@pytest.mark.slow
def test_failing_overlay_keeps_every_previous_output(good_run, video, monkeypatch):
    """The clip and report of a run whose overlay fails are never committed: the old ones stay byte-identical."""
    from core import overlay
    from core.pipeline import ConvertOptions, ConvertResult, write_outputs
    from core.motion import MotionClip

    before = _snapshot(good_run)
    clip = MotionClip.load(good_run / "clip.npz")
    new = clip.replace(tracks=[t.replace(transl=t.transl + 0.1) for t in clip.tracks])
    result = ConvertResult(new, new, {"regress": 1.0}, {"regress": 1})

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(overlay, "write_overlay", broken)
    opts = ConvertOptions(model_dir=ROOT.parent / "shared" / "reference" / "parity" / "human_model_files")
    with pytest.raises(OSError):
        write_outputs(result, good_run / "clip.npz", opts, None, str(good_run / "ov.mp4"), str(good_run / "frames"),
                      lambda *a: None)
    assert _snapshot(good_run) == before
    assert _temps(good_run) == []


@pytest.mark.slow
def test_per_frame_dir_is_replaced_not_mixed(good_run, video, parity_dir, tmp_path):
    """A second run into the same --per-frame-dir leaves only its own files; a foreign non-empty folder is refused."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(good_run, out)
    stale = out / "frames" / "smplx" / "99999_7.npz"
    stale.write_bytes(b"from an earlier video")
    proc = _run(_convert_args(video, out / "clip.npz", parity_dir, "--end", "8", "--per-frame-dir",
                              str(out / "frames")), out)
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in (out / "frames" / "smplx").iterdir())
    assert "99999_7.npz" not in names and all(int(n[:5]) < 8 for n in names)

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"precious")
    proc = _run(_convert_args(video, tmp_path / "c.npz", parity_dir, "--per-frame-dir", str(foreign)), tmp_path)
    line = _one_error_line(proc)
    assert "--per-frame-dir" in line and str(foreign) in line and not _started_work(proc)
    assert (foreign / "holiday.jpg").read_bytes() == b"precious" and not (tmp_path / "c.npz").exists()


# ----------------------------------------------------------------------------------------------- item 2
@pytest.mark.parametrize("case", ["overlay_is_input", "report_is_output", "per_frame_dir_is_file",
                                  "overlay_gif", "output_is_folder"])
def test_output_paths_checked_before_work(case, video, parity_dir, tmp_path):
    import shutil

    src = tmp_path / "walk.mp4"
    shutil.copy(video, src)
    (tmp_path / "clip.npz").write_bytes(b"an old clip")
    (tmp_path / "a_file").write_bytes(b"keep me")
    (tmp_path / "folder.npz").mkdir()
    before = _snapshot(tmp_path)
    out, extra, option = tmp_path / "clip.npz", [], ""
    if case == "overlay_is_input":
        extra, option = ["--overlay", str(src)], "--overlay"
    elif case == "report_is_output":
        extra, option = ["--report", str(out)], "--report"
    elif case == "per_frame_dir_is_file":
        extra, option = ["--per-frame-dir", str(tmp_path / "a_file")], "--per-frame-dir"
    elif case == "overlay_gif":
        extra, option = ["--overlay", str(tmp_path / "x.gif")], "--overlay"
    else:
        out, option = tmp_path / "folder.npz", "--output"
    proc = _run(_convert_args(src, out, parity_dir, *extra), tmp_path)
    line = _one_error_line(proc)
    assert option in line and not _started_work(proc)
    assert _snapshot(tmp_path) == before


# ----------------------------------------------------------------------------------------------- items 4, 5
@pytest.mark.parametrize("flags, names", [
    (["--focal", "-500"], "--focal"), (["--focal", "nan"], "--focal"), (["--focal", "inf"], "--focal"),
    (["--focal", "0"], "--focal"), (["--smooth-body", "-3"], "--smooth-body"), (["--smooth-hands", "nan"],
                                                                                  "--smooth-hands"),
    (["--start", "500"], "--start 500"), (["--people", "0,0"], "--people"), (["--device", "foo"], "--device"),
    (["--batch-size", "100000"], "--batch-size"),
])
def test_bad_options_one_line_before_work(flags, names, video, parity_dir, tmp_path):
    t0 = time.perf_counter()
    proc = _run(_convert_args(video, tmp_path / "clip.npz", parity_dir, *flags), tmp_path)
    line = _one_error_line(proc)
    assert names in line and not _started_work(proc)
    assert not (tmp_path / "clip.npz").exists()
    assert time.perf_counter() - t0 < 60


def test_read_only_output_folder_one_line(video, parity_dir, tmp_path):
    with _read_only_folder(tmp_path / "ro") as ro:
        proc = _run(_convert_args(video, ro / "clip.npz", parity_dir), tmp_path)
    line = _one_error_line(proc)
    assert str(ro) in line and "not writable" in line and not _started_work(proc)


@pytest.mark.slow
def test_full_disk_one_line_and_nothing_left(video, parity_dir, tmp_path):
    """A 64 KB file system: the clip fits, the overlay does not; one line, no file and no temp file left."""
    with _mounted_tmpfs(tmp_path / "small", "size=64k") as small:
        proc = _run(_convert_args(video, small / "clip.npz", parity_dir, "--overlay", str(small / "ov.mp4")),
                    tmp_path)
        left = sorted(p.name for p in small.iterdir())
    line = _one_error_line(proc)
    assert "No space left" in line and str(small) in line and "free some space" in line
    assert left == []


def test_demo_out_read_only_one_line(tmp_path):
    with _read_only_folder(tmp_path / "ro") as ro:
        proc = _run([sys.executable, "-m", "core", "demo", "--out", str(ro / "demo")], tmp_path)
    line = _one_error_line(proc)
    assert "--out" in line and str(ro / "demo") in line


# ----------------------------------------------------------------------------------------------- item 6
@pytest.mark.slow
@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_signal_during_conversion_cleans_up(sig, code, word, good_run, video, parity_dir, tmp_path):
    """Ctrl-C or SIGTERM in the middle of a real conversion: message, exit code, no temp file, old outputs kept."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(good_run, out)
    before = _snapshot(out)
    child = subprocess.Popen(_convert_args(video, out / "clip.npz", parity_dir, "--overlay", str(out / "ov.mp4"),
                                           "--per-frame-dir", str(out / "frames")),
                             cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in child.stdout:  # wait until the overlay is being written: the latest, most temp files
        if json.loads(line).get("stage") == "overlay":
            child.send_signal(sig)
            break
    stdout, stderr = child.communicate(timeout=300)
    assert child.returncode == code, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and word in lines[0], stderr
    assert _temps(out) == [] and _snapshot(out) == before


# ----------------------------------------------------------------------------------------------- items 7, 8
def _capped_python(code: str, extra_bytes: int, cwd: Path) -> subprocess.CompletedProcess:
    prelude = textwrap.dedent(f"""
        import re, resource, numpy
        _vm = int(re.search(r"VmSize:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (_vm + {extra_bytes}, resource.RLIM_INFINITY))
    """)
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=300)


def _small_clip():
    from core.motion import MotionClip, MotionTrack

    n = 4
    track = MotionTrack(track_id=0, frames=np.arange(n), times=np.arange(n) / 25.0, global_orient=np.zeros((n, 3)),
                        body_pose=np.zeros((n, 21, 3)), left_hand_pose=np.zeros((n, 15, 3)),
                        right_hand_pose=np.zeros((n, 15, 3)), jaw_pose=np.zeros((n, 3)), betas=np.zeros((n, 10)),
                        expression=np.zeros((n, 10)), transl=np.zeros((n, 3)) + [0, 0, 4],
                        boxes=np.tile([0, 0, 10, 20.0], (n, 1)), scores=np.ones(n))
    return MotionClip(fps=25.0, num_frames=n, image_size=(64, 48), focal=[50.0, 50.0], princpt=[32.0, 24.0],
                      tracks=[track])


def _zip_with(path: Path, arrays: dict, extra_npy: dict[str, tuple[bytes, int]]) -> None:
    """An npz of `arrays` plus raw members: name → (header bytes, count of zero bytes after it, streamed)."""
    import io
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
            zf.writestr(f"{key}.npy", buf.getvalue())
        for name, (head, zeros) in extra_npy.items():
            with zf.open(name, "w", force_zip64=True) as fh:
                fh.write(head)
                chunk = bytes(1 << 24)
                for start in range(0, zeros, len(chunk)):
                    fh.write(chunk[: min(len(chunk), zeros - start)])


def test_clip_zip_bomb_is_not_unpacked(tmp_path):
    """A 2 MB clip with a 400 MB extra array (or a known key whose header claims gigabytes) loads, or fails in one
    line, with 200 MB of address space to spare."""
    good = _small_clip().save(tmp_path / "good.npz")
    arrays = dict(np.load(good))
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1, np.uint8))
    import io

    def npy(shape) -> bytes:
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, {**header, "shape": shape})
        return buf.getvalue()

    big = 400 << 20
    _zip_with(tmp_path / "bomb.npz", arrays, {"extra.npy": (npy((big,)), big)})
    liar = dict(arrays)
    del liar["track0/transl"]
    _zip_with(tmp_path / "liar.npz", liar, {"track0/transl.npy": (npy((3_000_000_000,)), 16)})
    assert (tmp_path / "bomb.npz").stat().st_size < 3_000_000
    proc = _capped_python(f"""
        from core.motion import MotionClip
        print("LOADED", len(MotionClip.load({str(tmp_path / 'bomb.npz')!r}).tracks))
        try:
            MotionClip.load({str(tmp_path / 'liar.npz')!r})
        except ValueError as exc:
            print("REFUSED", exc)
    """, 200 << 20, tmp_path)
    lines = proc.stdout.splitlines()
    assert lines[0] == "LOADED 1", proc.stderr
    assert lines[1].startswith("REFUSED") and "liar.npz" in lines[1] and "track0/transl" in lines[1]


@pytest.mark.parametrize("field, value", [("tracks", "ab"), ("fps", [25]), ("image_size", 5), ("num_frames", 2.5),
                                          ("tracks", [{"track_id": "0", "gender": "neutral"}])])
def test_clip_metadata_of_the_wrong_type_is_one_line(field, value, tmp_path):
    from core.motion import MotionClip

    good = _small_clip().save(tmp_path / "good.npz")
    arrays = dict(np.load(good))
    meta = json.loads(str(arrays["metadata"]))
    meta[field] = value
    arrays["metadata"] = np.asarray(json.dumps(meta))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=f"bad.npz.*{field}") as info:
        MotionClip.load(tmp_path / "bad.npz")
    assert "\n" not in str(info.value)


def test_batch_size_is_capped_by_memory(tmp_path):
    """With 400 MB left under ulimit -v, 1,000 crops (2.4 GB) per batch become what fits."""
    proc = _capped_python("""
        from core.preflight import memory_batch_cap
        print(memory_batch_cap(1000), memory_batch_cap(2))
    """, 400 << 20, tmp_path)
    capped, small = (int(v) for v in proc.stdout.split())
    crop = 3 * 512 * 384 * 4
    assert 1 <= capped and 3 * capped * crop <= 0.25 * (400 << 20) + crop and small == 2
