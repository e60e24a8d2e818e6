"""core.atomic: several outputs committed together or not at all, permissions from the umask (issue 16, items 3, 10)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from core.atomic import AtomicOutputs, OutputError, atomic_write


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_outputs_follow_the_umask(tmp_path, mask):
    """Files get 0o666 & ~umask and folders 0o777 & ~umask, like `open`/`mkdir` (mkstemp alone gives 0600)."""
    old = os.umask(mask)
    try:
        atomic_write(tmp_path / "a.txt", lambda fh: fh.write("x"), mode="w")
        with AtomicOutputs() as out:
            (out.directory(tmp_path / "frames") / "f.txt").write_text("y")
        open(tmp_path / "reference.txt", "w").close()  # what any other tool would make
        os.mkdir(tmp_path / "reference_dir")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a.txt") == 0o666 & ~mask == _mode(tmp_path / "reference.txt")
    assert _mode(tmp_path / "frames") == 0o777 & ~mask == _mode(tmp_path / "reference_dir")


def test_project_writers_follow_the_umask(tmp_path):
    """The clip, the report and the mannequin files get 0o644 under umask 022 (they were 0600 whatever the umask)."""
    from core.body import write_mannequin
    from core.report import write_report
    from tests.test_smooth import make_clip, make_motion

    old = os.umask(0o022)
    try:
        clip = make_clip(make_motion(5)).save(tmp_path / "clip.npz")
        report = write_report({"x": 1}, tmp_path / "clip.report.json")
        model = write_mannequin(tmp_path / "models")[0]
    finally:
        os.umask(old)
    assert [_mode(p) for p in (clip, report, model)] == [0o644] * 3


def test_failure_keeps_every_old_output_and_leaves_no_temp(tmp_path):
    """An error after some outputs were written leaves all previous outputs byte-identical."""
    (tmp_path / "clip.npz").write_bytes(b"old clip")
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "old.txt").write_text("old frame")
    with pytest.raises(KeyboardInterrupt):
        with AtomicOutputs() as out:
            out.write(tmp_path / "clip.npz", lambda fh: fh.write(b"new clip"))
            (out.directory(tmp_path / "frames") / "new.txt").write_text("new")
            raise KeyboardInterrupt
    assert (tmp_path / "clip.npz").read_bytes() == b"old clip"
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.npz", "frames"]


def test_commit_replaces_all_together(tmp_path):
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "stale.txt").write_text("stale")
    with AtomicOutputs() as out:
        out.write(tmp_path / "clip.npz", lambda fh: fh.write(b"new"))
        (out.directory(tmp_path / "frames") / "fresh.txt").write_text("fresh")
        assert not (tmp_path / "clip.npz").exists()  # nothing visible before the commit
    assert (tmp_path / "clip.npz").read_bytes() == b"new"
    assert [p.name for p in (tmp_path / "frames").iterdir()] == ["fresh.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.npz", "frames"]


def test_folder_in_the_way_is_one_line(tmp_path):
    (tmp_path / "clip.npz").mkdir()
    with pytest.raises(OutputError, match="clip.npz: it is a folder"):
        atomic_write(tmp_path / "clip.npz", lambda fh: fh.write(b"x"))


def test_no_hand_rolled_temp_then_rename_left():
    """One helper: no module outside core/atomic.py renames its own temp files (issue 16 item 3)."""
    root = Path(__file__).resolve().parents[1]
    offenders = []
    for path in [*root.glob("core/**/*.py"), *root.glob("training/**/*.py"), *root.glob("blender_addon/*.py"),
                 *root.glob("bench/*.py"), root / "build_addon.py"]:
        if path.name == "atomic.py":
            continue
        text = path.read_text()
        if "os.replace(" in text or "mkstemp" in text or ".tmp\"" in text or ".replace(path)" in text:
            offenders.append(str(path.relative_to(root)))
    assert offenders == []
