"""The add-on's setup and housekeeping (issue 12): panel properties generated from core.options, Install dependencies
(headless execute, pip's real error, no ensurepip, CPU torch, ranges), Use an existing Python, the overall progress
bar, conversions stopped by File › New and by quitting, the panel (progress above the settings, compact enum rows, the
moving-camera note), one largest-person rule and one shape rule, batch.py's Python lookup and --shard."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest

import blender_helpers  # noqa: F401  (sets BLENDER_USER_RESOURCES before anything imports bpy)

pytestmark = pytest.mark.blender

ROOT = Path(__file__).resolve().parents[1]

# What pip printed when Install dependencies failed on Blender 4.3 (numpy<2 has no wheel for Python 3.13)
PIP_FAILURE = """\
Collecting numpy<2
  Downloading numpy-1.26.4.tar.gz (15.8 MB)
  Installing build dependencies: started
  Preparing metadata (pyproject.toml): finished with status 'error'
  error: subprocess-exited-with-error

  × Preparing metadata (pyproject.toml) did not run successfully.
  │ exit code: 1
  ╰─> [12 lines of output]
      ../meson.build:1:0: ERROR: Unknown compiler(s): [['cc'], ['gcc'], ['clang']]
      [end of output]

  note: This error originates from a subprocess, and is likely not a problem with pip.
error: metadata-generation-failed

× Encountered error while generating package metadata.
╰─> See above for output.

note: This is an issue with the package mentioned above, not pip.
hint: See above for details.
"""


@pytest.fixture()
def addon(tmp_path):
    """The add-on enabled from the checkout in a fresh scene; its preferences."""
    from blender_helpers import reset_blender

    bpy = reset_blender()
    import addon_utils

    sys.path.insert(0, str(ROOT))
    addon_utils.enable("blender_addon", default_set=True)
    prefs = bpy.context.preferences.addons["blender_addon"].preferences
    prefs.env_dir = str(tmp_path / "env")
    bpy.context.preferences.system.use_online_access = True  # what `blender --online-mode` sets
    yield bpy, prefs
    addon_utils.disable("blender_addon", default_set=True)


def _script(path: Path, body: str) -> str:
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return str(path)


# ---------------------------------------------------------------------------------------------- settings schema
def test_panel_properties_are_the_schema(addon):
    from core.options import OPTIONS, ConvertOptions
    from core.smooth import SMOOTHING_PRESETS

    bpy, _ = addon
    settings = bpy.context.scene.smplx_video
    rna = settings.bl_rna.properties
    for opt in OPTIONS:
        if not opt.ui:
            continue
        prop = rna[opt.name]
        assert prop.name == opt.label and opt.help in prop.description, opt.name
        if opt.choices:
            assert [item.identifier for item in prop.enum_items] == list(opt.values)
    from blender_addon.properties import convert_options

    default = {f"smooth_{p}": v for p, v in SMOOTHING_PRESETS["default"].items()}
    assert convert_options(settings, "/models") == ConvertOptions(model_dir="/models", **default)
    settings.smoothing = "strong"  # the per-part values follow the preset
    assert {p: getattr(settings, f"smooth_{p}") for p in SMOOTHING_PRESETS["strong"]} == \
        pytest.approx(SMOOTHING_PRESETS["strong"])
    settings.checkpoint, settings.use_det_score, settings.det_score = "/ck/demo.pth.tar", True, 0.2
    opts = convert_options(settings, "/models")
    assert (opts.checkpoint, opts.det_score, opts.variant, opts.end) == ("/ck/demo.pth.tar", pytest.approx(0.2),
                                                                        "auto", None)
    # an optional number shows a typical value, greyed, and is passed only once ticked
    assert settings.person_height == pytest.approx(1.7) and opts.person_height is None
    settings.use_person_height, settings.person_height = True, 1.82
    assert convert_options(settings, "/models").person_height == pytest.approx(1.82)
    assert rna["person_height"].unit == "LENGTH"


def test_overall_progress_runs_once_from_0_to_100():
    from blender_addon.worker import Progress

    steps = [Progress("load", 0, 1, "loading"), Progress("load", 1, 1), Progress("detect", 50, 100),
             Progress("detect", 100, 100), Progress("regress", 1, 300), Progress("regress", 300, 300),
             Progress("smooth", 1, 1), Progress("ground", 1, 1), Progress("import", 1, 1)]
    overall = [p.overall for p in steps]
    assert overall[0] == 0.0 and overall[-1] == 1.0 and overall == sorted(overall)
    assert Progress("regress", 150, 300).overall_text() == "Estimating poses — 68 % (150/300)"
    # sparse detection: one pass from the end of loading to the start of smoothing, then the floor
    sparse = [Progress("load", 1, 1), Progress("detect", 0, 100, "learning the background"), Progress("track", 1, 100),
              Progress("track", 100, 100), Progress("smooth", 1, 1), Progress("ground", 1, 1), Progress("import", 0, 1)]
    overall = [p.overall for p in sparse]
    assert overall == sorted(overall) and overall[3] == Progress("smooth", 0, 1).overall


# ---------------------------------------------------------------------------------------------- dependencies
def test_requirements_are_ranges_shared_with_pyproject():
    """The worker environment takes ranges (numpy<2 had no wheel on Python 3.13/3.14); pyproject holds the same ranges
    and constraints-dev.txt the development pins, each inside its range."""
    from packaging.requirements import Requirement

    from blender_addon.deps import REQUIREMENTS

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert sorted(project["dependencies"]) == sorted(REQUIREMENTS)
    pins = {}
    for line in (ROOT / "constraints-dev.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip()] = version.strip()
    for text in REQUIREMENTS:
        req = Requirement(text)
        assert all(spec.operator == ">=" for spec in req.specifier), text  # lower bounds only
        if req.name in pins:
            assert req.specifier.contains(pins[req.name]), (text, pins[req.name])


def test_install_commands_take_cpu_torch_without_a_gpu(tmp_path):
    from blender_addon import deps

    env = str(tmp_path / "env")
    venv, upgrade, torch_step, rest = deps.install_commands(env, "/usr/bin/python3", flavour="cpu")
    assert venv == ["/usr/bin/python3", "-m", "venv", env]
    assert upgrade[0] == torch_step[0] == rest[0] == deps.venv_python(env)
    assert torch_step[torch_step.index("--index-url") + 1] == deps.CPU_TORCH_INDEX
    assert torch_step[-2:] == list(deps.TORCH_REQUIREMENTS) and rest[-len(deps.OTHER_REQUIREMENTS):] == list(
        deps.OTHER_REQUIREMENTS)
    assert "--index-url" not in rest and all("--only-binary" in step for step in (torch_step, rest))
    assert "--index-url" not in deps.install_commands(env, "/usr/bin/python3", flavour="cuda")[2]
    assert "MB" in deps.download_text("cpu") and "GB" in deps.download_text("cuda")


def test_pip_failure_shows_the_real_error():
    from blender_addon.worker import meaningful_lines

    lines = meaningful_lines(PIP_FAILURE.splitlines())
    assert any("Unknown compiler" in line for line in lines)
    assert not any(line.startswith(("hint:", "note:")) or "See above" in line for line in lines)


def test_pip_box_characters_survive_a_c_locale(tmp_path):
    """Blender started under LANG=C (ASCII): pip's "╰─>" lines must not stop the reader (the error was lost)."""
    failing = _script(tmp_path / "fake_pip", f"import sys; sys.stderr.write({PIP_FAILURE!r}); sys.exit(1)\n")
    code = f"""
import sys, time
sys.path.insert(0, {str(ROOT)!r})
from blender_addon.worker import CommandSequence
steps = CommandSequence([[{failing!r}]])
while steps.poll() == "running":
    time.sleep(0.02)
print(steps.state, steps.error.encode("ascii", "replace").decode())
"""
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("failed") and "Unknown compiler" in run.stdout, run.stdout


def test_install_dependencies_headless_reports_pip_error(addon, tmp_path, monkeypatch):
    """execute() (scripts, background mode) runs the steps; a failure shows pip's error line, not its hint."""
    from blender_addon import deps

    bpy, prefs = addon
    failing = _script(tmp_path / "fake_pip", f"import sys; sys.stderr.write({PIP_FAILURE!r}); sys.exit(1)\n")
    monkeypatch.setattr(deps, "install_commands", lambda env, python, flavour: [[sys.executable, "-c", "pass"],
                                                                                [failing]])
    with pytest.raises(RuntimeError, match="Unknown compiler"):
        bpy.ops.smplx_video.install_dependencies()
    assert prefs.install_status.startswith("failed: ") and "Unknown compiler" in prefs.install_status
    assert "hint" not in prefs.install_status and not prefs.installing

    env = Path(prefs.env_dir)  # success: the environment's Python becomes the conversion's
    python = env / "bin" / "python"
    make_env = f"import os; os.makedirs({str(env / 'bin')!r}); os.symlink({sys.executable!r}, {str(python)!r})"
    monkeypatch.setattr(deps, "install_commands", lambda env_, python, flavour: [[sys.executable, "-c", make_env]])
    assert bpy.ops.smplx_video.install_dependencies() == {"FINISHED"}
    from blender_addon.preferences import conversion_python

    assert conversion_python(prefs) == str(env / "bin" / "python")


def test_install_dependencies_without_ensurepip_says_so(addon, tmp_path, monkeypatch):
    from blender_addon import deps

    bpy, _ = addon
    bpy.context.preferences.system.use_online_access = False
    with pytest.raises(RuntimeError, match="offline mode.*--online-mode"):
        bpy.ops.smplx_video.install_dependencies()
    bpy.context.preferences.system.use_online_access = True
    no_ensurepip = _script(tmp_path / "python3.13", "import sys\nsys.exit('No module named ensurepip')\n")
    monkeypatch.setattr(deps, "base_python", lambda: no_ensurepip)
    with pytest.raises(RuntimeError, match="no 'ensurepip' module .*venv"):
        bpy.ops.smplx_video.install_dependencies()


def test_use_an_existing_python_is_checked(addon, tmp_path):
    bpy, prefs = addon
    prefs.use_existing_python, prefs.python_path = True, sys.executable  # this environment has everything
    assert bpy.ops.smplx_video.check_python() == {"FINISHED"}
    assert prefs.python_ok and "torch" in prefs.python_status
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    prefs.python_path = str(bare / "bin" / "python")
    assert (prefs.python_status, prefs.python_ok) == ("", False)  # a new choice is unchecked
    with pytest.raises(RuntimeError, match="lacks torch"):
        bpy.ops.smplx_video.check_python()
    assert not prefs.python_ok


# ---------------------------------------------------------------------------------------------- cancel on load / quit
def _sleeper(marker: Path) -> list:
    return [sys.executable, "-c", f"import time; time.sleep(60); open({str(marker)!r}, 'w').close()"]


def test_file_new_cancels_the_running_conversion(addon, tmp_path):
    """File › New (and Open) during a conversion: the child is killed and its temporary files are removed."""
    from blender_addon import operators, worker

    bpy, _ = addon
    tmpdir = tmp_path / "smplx-video-run"
    tmpdir.mkdir()
    (tmpdir / "clip.npz.tmp").write_bytes(b"partial")
    child = worker.ConvertWorker(_sleeper(tmp_path / "finished"))
    operators._RUNNING["import_video"] = (child, str(tmpdir))
    bpy.ops.wm.read_homefile(use_empty=True)  # what File › New does; keeps the add-on enabled
    assert child._proc.poll() is not None and child.state == "cancelled"
    assert not tmpdir.exists() and not operators._RUNNING


def test_quitting_cancels_the_running_conversion(tmp_path):
    """Blender quitting (the Python interpreter exiting) kills the child and removes its temporary folder."""
    tmpdir = tmp_path / "smplx-video-run"
    code = f"""
import os, sys
os.environ["BLENDER_USER_RESOURCES"] = {str(tmp_path / "res")!r}
sys.path.insert(0, {str(ROOT)!r})
import bpy, addon_utils
addon_utils.enable("blender_addon", default_set=True)
from blender_addon import operators, worker
os.makedirs({str(tmpdir)!r})
child = worker.ConvertWorker({_sleeper(tmp_path / "finished")!r})
operators._RUNNING["import_video"] = (child, {str(tmpdir)!r})
print(child._proc.pid, flush=True)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    pid = int(run.stdout.split()[-1])
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not tmpdir.exists()


# ---------------------------------------------------------------------------------------------- one rule each
def test_one_largest_person_rule_and_one_shape_rule(mannequin_dir):
    """People = Largest picks the same person in the conversion (core.track) and the import: the most prominent over
    the video (summed box area), not the largest mean box (a big box seen for two frames). The import's one shape per
    person is smoothing's weighted median: a low-confidence outlier frame does not move it."""
    from blender_helpers import make_clip, random_track

    from blender_addon import importer
    from core.smooth import track_shape
    from core.track import Track, select_tracks

    brief = random_track(1, np.arange(2), seed=1, box=(0, 0, 300, 450))  # mean area 135,000 px², 2 frames
    steady = random_track(2, np.arange(20), seed=2, box=(0, 0, 150, 300))  # 45,000 px² on 20 frames
    clip = make_clip([brief, steady], num_frames=20)
    tracker_tracks = [Track(t.track_id, t.frames, np.asarray(t.boxes), t.scores, np.zeros(len(t.frames), bool))
                      for t in clip.tracks]
    assert [t.track_id for t in select_tracks(tracker_tracks, "largest")] == [2]
    opts = importer.parse_options({"people": "largest"})
    assert [t.track_id for t in importer._select_tracks(clip, opts)] == [2]

    betas = np.tile(steady.betas[0], (20, 1)) + np.linspace(-0.1, 0.1, 20)[:, None]
    betas[3] += 8.0
    scores = np.ones(20)
    scores[3:13] = 0.05  # half the frames are doubtful; the plain median would follow them
    betas[3:13] += 2.0
    track = steady.replace(betas=betas, scores=scores)
    one, opts = make_clip([track], num_frames=20), importer.parse_options({})
    (plan,) = importer._plan(one, mannequin_dir, opts, importer._world(one, mannequin_dir, opts)[0])
    np.testing.assert_allclose(plan.betas, track_shape(track, (640, 480)))
    assert np.abs(plan.betas - np.median(betas, axis=0)).max() > 0.5


# ---------------------------------------------------------------------------------------------- batch
def _run_batch(args: list, tmp_path: Path, hide_torch: bool = False) -> subprocess.CompletedProcess:
    """batch.py as a script; with `hide_torch` its process cannot import torch (as in Blender's own Python)."""
    prelude = "import sys; sys.modules['torch'] = None; " if hide_torch else ""
    code = (f"{prelude}import runpy; sys.argv = ['batch.py', *{args!r}]; "
            f"runpy.run_path({str(ROOT / 'blender_addon' / 'batch.py')!r}, run_name='__main__')")
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "blender-user")}
    return subprocess.run([sys.executable, "-c", "import sys; " + code], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path, env=env)


def test_batch_without_a_conversion_python_says_what_to_do(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    run = _run_batch(["--input", str(video), "--output", str(tmp_path / "out"), "--model-dir", str(tmp_path)],
                     tmp_path, hide_torch=True)
    assert run.returncode == 2
    (line,) = run.stderr.strip().splitlines()
    assert "Install dependencies" in line and "--python" in line
    assert not (tmp_path / "out").exists()


def test_shard_splits_inputs_without_name_clashes(tmp_path):
    from blender_addon import batch

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        for name in ("walk.mp4", "run.mp4", "jump.mov"):
            (tmp_path / folder / name).write_bytes(b"")
    args = batch._parser().parse_args(["--input", str(tmp_path / "a"), "--input", str(tmp_path / "b"),
                                       "--output", "out"])
    items = batch._inputs(args)
    stems = [stem for _, _, stem in items]
    assert len(set(stems)) == len(stems) == 6 and {"walk", "walk-2", "run-2", "jump-2"} <= set(stems)
    shards = [items[k::3] for k in range(3)]
    assert sorted(sum(shards, []), key=str) == sorted(items, key=str)
    assert batch.parse_shard("2/3") == (2, 3)
    for bad in ("3/3", "1", "a/b", "0/0"):
        with pytest.raises(ValueError, match="--shard"):
            batch.parse_shard(bad)


# ---------------------------------------------------------------------------------------------- panel
class _Layout:
    """Stands in for a UILayout (panels only draw in a GUI): records every row drawn, whether it was enabled, and
    for each property the container it went into (a row lays expanded enum items side by side, a column or box one
    under another)."""

    def __init__(self, log: list, enabled: bool = True, kind: str = "column", props: list | None = None):
        self.log, self.enabled, self.active, self.kind = log, enabled, True, kind
        self.props = [] if props is None else props
        self.use_property_split = self.use_property_decorate = False

    def _child(self, kind: str) -> _Layout:
        child = _Layout(self.log, self.enabled, kind, self.props)
        child._parent = self
        return child

    def row(self, *args, **kwargs) -> _Layout:
        return self._child("row")

    def column(self, *args, **kwargs) -> _Layout:
        return self._child("column")

    def box(self, *args, **kwargs) -> _Layout:
        return self._child("box")

    def _on(self) -> bool:
        node, on = self, True
        while node is not None:
            on = on and node.enabled
            node = getattr(node, "_parent", None)
        return on

    def prop(self, data, name, expand=False, text=None, **kwargs):
        self.log.append(("prop", name, self._on()))
        self.props.append({"name": name, "container": self.kind, "expand": expand, "text": text})

    def label(self, text="", **kwargs):
        self.log.append(("label", text, self._on()))

    def operator(self, idname, **kwargs):
        self.log.append(("operator", idname, self._on()))
        return type("Props", (), {})()

    def progress(self, factor=0.0, text="", **kwargs):
        self.log.append(("progress", text, factor))

    def separator(self, **kwargs):
        pass


def _draw_panel(bpy, panel=None, active_object=None, props: list | None = None) -> list:
    """What the panel draws, in order (`props` collects where each property went)."""
    from types import SimpleNamespace

    from blender_addon.panel import SMPLX_PT_import_video

    log: list = []
    context = SimpleNamespace(scene=bpy.context.scene, window_manager=bpy.context.window_manager,
                              preferences=bpy.context.preferences, active_object=active_object)
    (panel or SMPLX_PT_import_video).draw(SimpleNamespace(layout=_Layout(log, props=props)), context)
    return log


def test_panel_says_what_is_missing_and_locks_settings_while_running(addon, tmp_path):
    bpy, prefs = addon
    prefs.model_dir = ""
    log = _draw_panel(bpy)
    texts = [entry[1] for entry in log if entry[0] in ("label", "operator")]
    assert "No Python with torch for the conversion yet" in texts and "smplx_video.install_dependencies" in texts
    assert "The model folder is not set" in texts and "preferences.addon_show" in texts
    assert ("operator", "smplx_video.import_video", False) in log  # nothing to run it with yet

    prefs.model_dir, prefs.use_existing_python, prefs.python_path = str(tmp_path), True, sys.executable
    log = _draw_panel(bpy)
    assert ("operator", "smplx_video.import_video", True) in log
    drawn = {entry[1] for entry in log if entry[0] == "prop"}
    assert {"video", "variant", "checkpoint", "detector", "people", "smoothing", "timeline"} <= drawn
    assert all(entry[2] for entry in log if entry[0] == "prop")

    log = _draw_running(bpy, 0.5, "Estimating poses — 50 %")
    assert ("progress", "Estimating poses — 50 %", 0.5) in log and ("operator", "smplx_video.cancel", True) in log
    assert not any(entry[2] for entry in log if entry[0] == "prop")  # every setting is locked


def test_install_can_be_cancelled(tmp_path):
    """Cancel (the preferences' button, Esc) kills the running pip step and drops the remaining ones."""
    from blender_addon.worker import CommandSequence

    second = [sys.executable, "-c", f"open({str(tmp_path / 'second')!r}, 'w')"]
    steps = CommandSequence([_sleeper(tmp_path / "first"), second])
    time.sleep(0.3)
    assert steps.poll() == "running"
    steps.cancel()
    assert steps.poll() == "cancelled" and steps._current._proc.poll() is not None
    time.sleep(0.3)
    assert not (tmp_path / "first").exists() and not (tmp_path / "second").exists()


def test_relative_python_and_paths_reach_the_child(tmp_path, monkeypatch):
    """The child runs in core's folder: a relative `--python` and relative paths given by the caller still work."""
    from blender_addon.worker import ConvertWorker
    from core.options import ConvertOptions

    monkeypatch.chdir(tmp_path)
    _script(tmp_path / "py", """\
        import json, sys
        print(json.dumps({"stage": "load", "done": 1, "total": 1, "message": " ".join(sys.argv[1:])}), flush=True)
    """)
    (tmp_path / "v.mp4").write_bytes(b"")
    child = ConvertWorker.for_conversion("py", str(ROOT), "v.mp4", "out.npz", ConvertOptions(checkpoint="ck.pth"))
    assert child.wait(interval=0.02) == "done", child.error
    argv = child.progress.message.split()
    assert argv[3] == str(tmp_path / "v.mp4") and argv[argv.index("--checkpoint") + 1] == str(tmp_path / "ck.pth")


def test_install_progress_follows_pip(tmp_path):
    """The bar moves inside the long pip step (collecting, downloading, installing), weighted by step size."""
    from blender_addon.worker import CommandSequence

    pip = _script(tmp_path / "pip", """\
        import sys, time
        for line in ("Collecting torch>=2.5", "Downloading torch-2.10.0-cp313-none-linux_x86_64.whl (190.3 MB)",
                     "Installing collected packages: torch", "Successfully installed torch-2.10.0"):
            print(line, flush=True)
            time.sleep(0.4)
    """)
    steps = CommandSequence([[sys.executable, "-c", "pass"], [pip]], weights=(0.2, 0.8))
    seen = []
    while steps.poll() == "running":
        seen.append(round(steps.fraction, 2))
        time.sleep(0.05)
    assert steps.fraction == 1.0 and seen == sorted(seen)
    assert {0.28, 0.44, 0.84} <= set(seen)  # 0.2 + 0.8 × (0.1, 0.3, 0.8)


def _draw_running(bpy, progress: float, status: str) -> list:
    """The panel's draw log while a conversion runs at `progress` with `status`."""
    state = bpy.context.window_manager.smplx_video_state
    state.running, state.progress, state.status = True, progress, status
    try:
        return _draw_panel(bpy)
    finally:
        state.running = False


def test_progress_is_drawn_above_the_settings_while_running(addon, tmp_path):
    bpy, prefs = addon
    prefs.model_dir, prefs.use_existing_python, prefs.python_path = str(tmp_path), True, sys.executable
    idle = _draw_panel(bpy)
    assert not any(entry[0] == "progress" for entry in idle)
    assert idle.index(("operator", "smplx_video.import_video", True)) > idle.index(("prop", "video", True))

    log = _draw_running(bpy, 0.25, "Detecting people — 25 %")
    first_setting = next(i for i, entry in enumerate(log) if entry[0] == "prop")
    bar = log.index(("progress", "Detecting people — 25 %", 0.25))
    assert bar < first_setting and log[bar + 1] == ("operator", "smplx_video.cancel", True)
    assert not any(entry[1] == "smplx_video.import_video" for entry in log)  # no second button below the fold


def test_enum_rows_are_dropdowns_or_one_labelled_row(addon):
    bpy, _ = addon
    from blender_addon.panel import SMPLX_PT_import_advanced
    from core.options import OPTIONS

    props: list = []
    _draw_panel(bpy, props=props)
    _draw_panel(bpy, SMPLX_PT_import_advanced, props=props)
    enums = {o.name: o for o in OPTIONS if o.choices} | {"timeline": None}
    drawn = [p for p in props if p["name"] in enums]
    assert {"variant", "device", "smoothing", "people", "detector"} <= {p["name"] for p in drawn}
    for p in drawn:
        assert not p["expand"] or p["container"] == "row", f"{p['name']} is expanded one item under another"
        assert p["text"] is None, f"{p['name']} has no label"  # property split draws the option's name
    expanded = {p["name"] for p in drawn if p["expand"]}
    # side by side only what fits the sidebar's value column at its default width in Blender 4.3 ("All | Largest",
    # "World | In place"); its screenshots showed "A…" for "Auto S B L H" and "CU…" for "Auto CPU CUDA MPS"
    assert {"people", "root_motion"} <= expanded
    assert not {"variant", "device", "smoothing", "detector", "foot_lock"} & expanded


def _import_collection(bpy, name: str, ground: dict):
    """A collection marked by the importer's own `_note_ground`, holding one object."""
    from types import SimpleNamespace

    from blender_addon.importer import _note_ground

    collection = bpy.data.collections.new(name)
    bpy.context.scene.collection.children.link(collection)
    _note_ground(collection, SimpleNamespace(metadata={"ground": ground}), None)
    obj = bpy.data.objects.new(f"{name}-rig", None)
    collection.objects.link(obj)
    return obj


def _camera_notes(log: list) -> list:
    return [entry[1] for entry in log if entry[0] == "label" and "camera moves" in entry[1]]


def test_moving_camera_is_said_only_when_the_import_says_so(addon):
    bpy, _ = addon
    assert _camera_notes(_draw_panel(bpy)) == []  # nothing imported yet
    static = _import_collection(bpy, "SMPLX", {"moving_camera": False, "summary": "floor found: camera 1.50 m up"})
    assert _camera_notes(_draw_panel(bpy)) == []
    summary = "no floor (the background moves: the camera is not fixed); motion stays in the camera frame"
    moving = _import_collection(bpy, "SMPLX-2", {"moving_camera": True, "summary": summary})
    notes = _camera_notes(_draw_panel(bpy))  # the latest import
    assert len(notes) == 1 and "motion stays in the camera frame" in notes[0] and summary in notes[0]
    assert _camera_notes(_draw_panel(bpy, active_object=static)) == []  # the selected import is the static one
    assert len(_camera_notes(_draw_panel(bpy, active_object=moving))) == 1


def test_operators_turn_expected_failures_into_one_report(addon, tmp_path):
    """An operator's expected failure is one error line and CANCELLED (bpy.ops raises it as RuntimeError), not a
    traceback; the scene is untouched."""
    bpy, _ = addon
    objects = set(bpy.data.objects)
    bpy.context.scene.smplx_retarget.target = None
    with pytest.raises(RuntimeError, match="pick the target armature"):
        bpy.ops.smplx_video.retarget()
    with pytest.raises(RuntimeError, match="no model directory: set it in the add-on preferences"):
        bpy.ops.smplx_video.import_clip(filepath=str(tmp_path / "nothere.npz"))
    with pytest.raises(RuntimeError, match=r"Error: .*nothere\.json"):
        bpy.ops.smplx_video.retarget_load_preset(filepath=str(tmp_path / "nothere.json"))
    assert set(bpy.data.objects) == objects
