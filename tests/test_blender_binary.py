"""The add-on in a real Blender program (Debian's blender 4.3, embedded Python 3.13), as a user meets it.

`make test-blender-binary` runs these (marker `blender_binary`; plain `pytest` / `make test` leave them out). The
Blender comes from a Debian trixie tree (tests/blender_tree.py: built once, about 1.5 min, cached in .cache/, or
$SMPLX_VIDEO_BLENDER_TREE) and runs by chroot with the checkout, /tmp and this Python's environment mounted at the
same paths; the conversion child is this Python (the project's .venv), set as the add-on's existing Python.

In that Blender: the extension zip installs and enables; the README's batch command converts assets/sample.mp4 with
the demo checkpoint and the mannequin (and so does the batch.py inside the installed extension); the FBX re-imports
with 55 bones, the clip's frames and fps; a failed batch exits non-zero with one line saying what to do; under Xvfb
the panel's modal import shows progress, cancels cleanly and then completes. Its screenshots and the Blender runs'
timings land in $SMPLX_VIDEO_BLENDER_ARTIFACTS (default .cache/blender-binary) for a person to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.blender_binary

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "tests" / "blender_scripts"
SAMPLE = ROOT / "assets" / "sample.mp4"
DEMO_CHECKPOINT = ROOT / "assets" / "demo_smpler_x.pth.tar"
EXTENSION_REPO = "user_default"
ARTIFACTS = Path(os.environ.get("SMPLX_VIDEO_BLENDER_ARTIFACTS", ROOT / ".cache" / "blender-binary"))
TIMINGS: dict = {}  # what ran → seconds, written to ARTIFACTS/timings.json after the module


def _tail(proc, lines: int = 40) -> str:
    return "\n".join(((proc.stdout or "") + (proc.stderr or "")).strip().splitlines()[-lines:])


def _python_paths() -> list:
    """Host folders the conversion's Python needs inside the tree: its environment and the interpreter it was made
    from (a system interpreter under /usr cannot be mounted over the tree's own /usr)."""
    paths = []
    for prefix in {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}:
        if prefix == Path("/usr") or Path("/usr") in prefix.parents and not str(prefix).startswith("/usr/local"):
            pytest.fail(f"the test Python lives under {prefix}: make the project's .venv from a Python outside "
                        "/usr (pyenv, /usr/local) so that it can be mounted into the Blender tree")
        paths.append(prefix)
    return paths


@pytest.fixture(scope="module")
def tree():
    """The Debian tree with Blender; the checkout and this Python are visible inside at their own paths."""
    from blender_tree import ensure_tree

    t0 = time.perf_counter()
    t = ensure_tree()
    TIMINGS["tree (build or check)"] = time.perf_counter() - t0
    yield t.sharing([ROOT, *_python_paths()])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "timings.json").write_text(json.dumps({k: round(v, 1) for k, v in TIMINGS.items()}, indent=1))


def blender(tree, args: list, user: Path, timeout: float = 600, xvfb: bool = False, label: str = "",
            env: dict | None = None):
    """Run Debian's blender in the tree with its user folders in `user`; CompletedProcess (text)."""
    argv = ["blender", *args]
    if xvfb:
        argv = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", *argv]
    t0 = time.perf_counter()
    proc = tree.run(argv, env={"BLENDER_USER_RESOURCES": str(user), **(env or {})}, cwd=str(ROOT), timeout=timeout)
    if label:
        TIMINGS[label] = TIMINGS.get(label, 0.0) + time.perf_counter() - t0
    return proc


def probe(tree, user: Path, tmp: Path, what: str, *args) -> dict:
    """tests/blender_scripts/probe.py's findings (a JSON dict) from a background Blender."""
    return probe_with(tree, user, tmp, {}, what, *args)


def probe_with(tree, user: Path, tmp: Path, env: dict, what: str, *args, timeout: float = 600,
               label: str = "", online: bool = False) -> dict:
    """probe() with extra environment variables for Blender (and `--online-mode`: a user who allowed Blender online
    access, which Install dependencies needs)."""
    out = tmp / f"probe-{what}.json"
    out.unlink(missing_ok=True)
    mode = ["--online-mode"] if online else []
    proc = blender(tree, [*mode, "-b", "--python", str(SCRIPTS / "probe.py"), "--", what, str(out), *map(str, args)],
                   user, label=label or f"probe {what}", env=env, timeout=timeout)
    assert out.is_file(), _tail(proc)
    found = json.loads(out.read_text())
    assert "error" not in found, found["error"]
    return found


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """A model directory with the mannequin (the README's `python -m core mannequin DIR`)."""
    from core.body import write_mannequin

    out = tmp_path_factory.mktemp("models")
    write_mannequin(out)
    return out


def install_extension(tree, work: Path) -> dict:
    """build_addon.py's zip installed and enabled with `blender --command extension install-file -e`, in a fresh
    user folder under `work`; the splash screen turned off there so that a GUI Blender shows the workspace."""
    import build_addon

    user = work / "blender-user"
    user.mkdir()
    zip_path = build_addon.build(work / "dist")
    proc = blender(tree, ["--command", "extension", "install-file", "-r", EXTENSION_REPO, "-e", str(zip_path)], user,
                   label="extension install-file")
    info = build_addon.manifest()
    module = f"bl_ext.{EXTENSION_REPO}.{info['id']}"
    folder = user / "extensions" / EXTENSION_REPO / info["id"]
    prefs = blender(tree, ["-b", "--python-expr", "import bpy; bpy.context.preferences.view.show_splash = False; "
                           "bpy.ops.wm.save_userpref()"], user)
    assert prefs.returncode == 0, _tail(prefs)
    return {"user": user, "zip": zip_path, "module": module, "folder": folder, "install": proc, "work": work}


@pytest.fixture(scope="module")
def installed(tree, tmp_path_factory) -> dict:
    return install_extension(tree, tmp_path_factory.mktemp("addon"))


def test_extension_zip_installs_and_enables(tree, installed, tmp_path):
    proc = installed["install"]
    assert proc.returncode == 0, _tail(proc)
    assert (installed["folder"] / "blender_manifest.toml").is_file(), sorted(installed["folder"].parent.glob("*"))
    found = probe(tree, installed["user"], tmp_path, "addon", installed["module"])
    assert found["blender"].startswith("4.") and found["python"].startswith("3.13"), found
    assert found["loaded"] and found["enabled_default"], found  # enabled at start-up from the saved preferences
    assert found["core"] == installed["module"] + ".core", found  # the bundled core, not a checkout's
    assert {"import_video", "cancel", "install_dependencies", "export"} <= set(found["operators"]), found
    assert found["has_prefs"] and "SMPLX_PT_import_video" in found["panels"], found


def _batch_args(script: Path, out: Path, models: Path, fmt: str) -> list:
    """The README's batch command (relative paths, run from the checkout) with the demo checkpoint and the
    static-camera detector; this Python (the project's .venv) runs the conversion."""
    rel = os.path.relpath(script, ROOT)
    return ["-b", "--python", rel, "--", "--input", "assets/sample.mp4", "--output", str(out),
            "--model-dir", str(models), "--checkpoint", "assets/demo_smpler_x.pth.tar", "--detector", "static-camera",
            "--format", fmt, "--python", sys.executable]


def _sample_frames_fps() -> tuple:
    """Frame count and fps of assets/sample.mp4, read with PyAV (independent of the add-on)."""
    import av

    with av.open(str(SAMPLE)) as container:
        stream = container.streams.video[0]
        return sum(1 for _ in container.decode(stream)), float(stream.average_rate)


def _summary_row(stdout: str, name: str) -> list:
    rows = [line.split() for line in stdout.splitlines() if line.startswith(name)]
    return rows[-1] if rows else []


@pytest.fixture(scope="module")
def batch_fbx(tree, installed, models, tmp_path_factory):
    """The README's command on the sample, FBX out: (process, output folder)."""
    out = tmp_path_factory.mktemp("batch-fbx")
    proc = blender(tree, _batch_args(ROOT / "blender_addon" / "batch.py", out, models, "fbx"), installed["user"],
                   timeout=900, label="README batch (fbx)")
    return proc, out


def test_readme_batch_command_converts_the_sample(batch_fbx):
    proc, out = batch_fbx
    frames, _ = _sample_frames_fps()
    assert proc.returncode == 0, _tail(proc)
    assert _summary_row(proc.stdout, "sample.mp4")[1:4] == ["ok", "1", str(frames)], _tail(proc)
    assert sorted(p.name for p in out.iterdir()) == ["sample.fbx"]


def test_batch_fbx_reimports_with_55_bones_the_clip_frames_and_fps(tree, installed, batch_fbx, tmp_path):
    """Blender's own FBX importer (default settings) on the batch output: one armature of the 55 SMPL-X joints,
    keys on frames 1..N (Blender's convention: the first frame of the clip is frame 1) at the video's fps."""
    from core.body import JOINT_NAMES

    proc, out = batch_fbx
    assert (out / "sample.fbx").is_file(), _tail(proc)
    frames, fps = _sample_frames_fps()
    found = probe(tree, installed["user"], tmp_path, "fbx", out / "sample.fbx")
    assert len(found["armatures"]) == 1, found["objects"]
    arm = found["armatures"][0]
    assert arm["bones"] == 55 and set(arm["bone_names"]) == set(JOINT_NAMES), arm["bone_names"]
    assert arm["keyed"] == [1.0, float(frames)], arm["keyed"]
    assert found["fps"] == pytest.approx(fps), found["fps"]
    assert arm["vertices"] == [10475], arm["vertices"]  # the body's vertices, not split per face


def test_installed_extensions_batch_script_works_the_same(tree, installed, models, tmp_path):
    """batch.py as shipped inside the installed extension, run by path like the checkout's copy; .blend out."""
    frames, fps = _sample_frames_fps()
    out = tmp_path / "out"
    script = installed["folder"] / "batch.py"
    args = _batch_args(script, out, models, "blend")
    args[2] = str(script)
    proc = blender(tree, args, installed["user"], timeout=900, label="extension batch (blend)")
    assert proc.returncode == 0, _tail(proc)
    assert _summary_row(proc.stdout, "sample.mp4")[1:4] == ["ok", "1", str(frames)], _tail(proc)
    assert sorted(p.name for p in out.iterdir()) == ["sample.blend"]


def test_batch_failures_exit_nonzero_with_one_line_saying_what_to_do(tree, installed, models, tmp_path):
    """A missing input, and a missing conversion Python (fresh user folder, no --python): Blender's exit code is
    non-zero, no output file is left, and the message names the remedy instead of a traceback."""
    out = tmp_path / "out"
    missing = blender(tree, ["-b", "--python", "blender_addon/batch.py", "--", "--input", str(tmp_path / "none.mp4"),
                             "--output", str(out), "--model-dir", str(models), "--python", sys.executable],
                      installed["user"], label="batch failures")
    assert missing.returncode != 0, _tail(missing)
    assert _summary_row(missing.stdout, "none.mp4")[1:2] == ["FAIL"], _tail(missing)

    fresh = tmp_path / "fresh-user"
    fresh.mkdir()
    no_python = blender(tree, ["-b", "--python", "blender_addon/batch.py", "--", "--input", "assets/sample.mp4",
                               "--output", str(out), "--model-dir", str(models)], fresh, label="batch failures")
    text = no_python.stdout + no_python.stderr
    assert no_python.returncode != 0, _tail(no_python)
    assert "Traceback" not in text and "No module named" not in text, _tail(no_python)
    assert "--python" in text and "Install dependencies" in text, _tail(no_python)
    assert not out.exists() or not any(out.iterdir())


def _gui_config(installed, models: Path, out: Path) -> dict:
    return {
        "module": installed["module"], "out": str(out), "cancel_after": 0.05, "timeout": 600,
        "prefs": {"model_dir": str(models), "use_existing_python": True, "python_path": sys.executable},
        "settings": {"video": str(SAMPLE), "detector": "static-camera", "checkpoint": str(DEMO_CHECKPOINT),
                     "device": "cpu"},
    }


@pytest.fixture(scope="module")
def gui_run(tree, installed, models, tmp_path_factory) -> dict:
    """tests/blender_scripts/gui_import.py in a GUI Blender under Xvfb: its result.json and the process."""
    out = tmp_path_factory.mktemp("gui")
    config = out / "config.json"
    config.write_text(json.dumps(_gui_config(installed, models, out)))
    private_tmp = out / "tmp"  # the add-on's temp folders are looked for here, away from other programs' files
    private_tmp.mkdir()
    proc = blender(tree, ["--python", str(SCRIPTS / "gui_import.py"), "--", str(config)], installed["user"],
                   timeout=1200, xvfb=True, label="GUI modal import", env={"TMPDIR": str(private_tmp)})
    result_file = out / "result.json"
    result = json.loads(result_file.read_text()) if result_file.is_file() else {}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for shot in result.get("screenshots", []):
        if os.path.isfile(shot):
            shutil.copy(shot, ARTIFACTS / os.path.basename(shot))
    return {"proc": proc, "result": result, "out": out}


def test_gui_modal_import_shows_progress_and_cancels_cleanly(gui_run):
    proc, result = gui_run["proc"], gui_run["result"]
    assert result, _tail(proc)
    assert not result["errors"], "\n".join(result["errors"]) + "\n" + _tail(proc, 15)
    first = result["runs"][0]
    assert first["invoke"] == ["RUNNING_MODAL"], first
    progress = [s["progress"] for s in first["samples"] if s["running"]]
    assert progress and max(progress) > 0.0, first["samples"]  # progress moved before the cancel
    assert first["cancel_at"]["status"], first["cancel_at"]  # the panel said what it was doing
    assert first["armatures"] == [], first  # nothing imported
    assert first["processes_after"] == [], first  # the conversion process is gone
    assert first["new_temp_folders"] == [], first  # and its temp folder


def test_gui_modal_import_completes_with_monotonic_progress(gui_run):
    proc, result = gui_run["proc"], gui_run["result"]
    assert result and len(result["runs"]) == 2, _tail(proc)
    frames, fps = _sample_frames_fps()
    run = result["runs"][1]
    samples = [s for s in run["samples"] if s["running"]]
    progress = [s["progress"] for s in samples]
    assert progress == sorted(progress), progress  # one overall progress, never restarting at 0 per stage
    assert progress[-1] >= 0.75, progress
    assert all(s["status"] for s in samples[1:]), [s["status"] for s in samples]
    assert len(run["armatures"]) == 1, run
    assert run["frame_range"] == [1, frames] and run["fps"] == pytest.approx(fps), run
    assert run["processes_after"] == [] and run["new_temp_folders"] == [], run
    for name in ("panel_idle.png", "progress_run1.png", "progress_run2.png", "progress_run2_scrolled.png",
                 "panel_done.png", "camera_view.png"):
        shot = gui_run["out"] / name
        assert shot.is_file() and shot.stat().st_size > 50_000, name


def test_gui_first_camera_view_shows_the_person(gui_run):
    """After importing into Blender's default scene the scene camera is the video's, outside the default cube, and
    the person's pelvis is in front of it and inside its frame at the first frame."""
    run = gui_run["result"]["runs"][-1] if gui_run["result"].get("runs") else {}
    view = run.get("first_view")
    assert view, _tail(gui_run["proc"], 15)
    x, y, depth = view["pelvis_in_view"]
    assert depth > 0.5 and 0.0 < x < 1.0 and 0.0 < y < 1.0, view
    assert not view["camera_inside_cube"], view


def test_install_dependencies_on_blenders_python_3_13(tree, models, tmp_path):
    """"Install dependencies" (execute, headless) on Debian's Blender, whose Python is the system python3.13.

    As Debian installs it (no python3.13-venv) the operator stops at once with one line naming the package; with
    that package it creates the environment and installs the requirements from PyPI (torch as PyPI ships it: this
    network reaches no other index), and the README's batch command, without --python, then converts the sample
    in that environment."""
    from blender_tree import apt_get, pip_environment

    setup = install_extension(tree, tmp_path)
    assert setup["install"].returncode == 0, _tail(setup["install"])
    env = pip_environment(tree)
    user, module, env_dir = setup["user"], setup["module"], tmp_path / "env"

    apt_get(tree, "remove", "python3.13-venv")  # the tree as Debian's blender leaves it
    found = probe_with(tree, user, tmp_path, env, "install", module, env_dir, "PYPI", online=True)
    assert found["ret"] == ["CANCELLED"] and "python3.13-venv" in found["report"], found
    assert not env_dir.exists(), "a failed install left a half-made environment"

    apt_get(tree, "update")
    apt_get(tree, "install", "--no-install-recommends", "python3.13-venv")
    try:
        found = probe_with(tree, user, tmp_path, env, "install", module, env_dir, "PYPI", timeout=1800,
                           label="Install dependencies (PyPI torch)", online=True)
        assert found["ret"] == ["FINISHED"], found
        assert found["check_ok"] and found["check"].startswith("Python 3.13"), found
        out = tmp_path / "out"
        proc = blender(tree, ["-b", "--python", "blender_addon/batch.py", "--", "--input", "assets/sample.mp4",
                              "--output", str(out), "--model-dir", str(models), "--checkpoint",
                              "assets/demo_smpler_x.pth.tar", "--detector", "static-camera", "--format", "fbx"],
                       user, timeout=900, label="README batch in the installed environment", env=env)
        frames, _ = _sample_frames_fps()
        assert proc.returncode == 0, _tail(proc)
        assert _summary_row(proc.stdout, "sample.mp4")[1:4] == ["ok", "1", str(frames)], _tail(proc)
    finally:
        shutil.rmtree(env_dir, ignore_errors=True)  # about 6 GB
        apt_get(tree, "remove", "python3.13-venv")


# Wheel tags of the platforms Blender ships for: Linux x86-64 (every manylinux glibc level up to 2.39), Windows x64,
# macOS on Apple Silicon (11.0 up to 15.0).
PLATFORM_TAGS = {
    "linux-x64": ["manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64",
                  *(f"manylinux_2_{minor}_x86_64" for minor in range(5, 40))],
    "windows-x64": ["win_amd64"],
    "macos-arm64": [f"macosx_{major}_0_arm64" for major in range(11, 16)],
}
WHEEL_TARGETS = [("3.11", "linux-x64"), ("3.12", "linux-x64"), ("3.13", "linux-x64"), ("3.14", "linux-x64"),
                 ("3.11", "windows-x64"), ("3.13", "windows-x64"), ("3.11", "macos-arm64"), ("3.13", "macos-arm64")]


def _wheel_versions(name: str, python: str, platform: str) -> list:
    """Versions of `name` on PyPI that have a wheel for CPython `python` on `platform` (`pip index versions` with
    --only-binary; the machine's own pip configuration, e.g. a local wheel mirror, is left out)."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k == "PIP_CERT"}
    env["PIP_CONFIG_FILE"] = os.devnull
    cmd = [sys.executable, "-m", "pip", "index", "versions", name, "--json", "--only-binary=:all:",
           "--python-version", python, "--implementation", "cp"]
    for tag in PLATFORM_TAGS[platform]:
        cmd += ["--platform", tag]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if proc.returncode != 0:
        return []
    return json.loads(proc.stdout)["versions"]


@pytest.mark.parametrize("python,platform", WHEEL_TARGETS)
def test_conversion_requirements_have_wheels(python, platform):
    """Every requirement of the environment Install dependencies makes (ranges, not pins) has a release in its range
    with a wheel for the Pythons Blender 4.2-5.x embed (3.11-3.14), so pip never needs a compiler there."""
    from concurrent.futures import ThreadPoolExecutor

    from packaging.requirements import Requirement

    from blender_addon import deps

    requirements = [Requirement(r) for r in deps.REQUIREMENTS]
    with ThreadPoolExecutor(4) as pool:
        found = dict(zip((r.name for r in requirements),
                         pool.map(lambda r: _wheel_versions(r.name, python, platform), requirements)))
    missing = {r.name: found[r.name][:3] for r in requirements
               if not any(r.specifier.contains(v, prereleases=False) for v in found[r.name])}
    assert not missing, f"no wheel in range for CPython {python} on {platform}: {missing}"
