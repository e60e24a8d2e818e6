"""importer.import_clip options and bad input (scene unchanged), the worker (fake child processes and the real
`core convert` argument parser) and the video operator's synchronous path end to end with a stand-in converter."""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import blender_helpers  # noqa: F401  (sets BLENDER_USER_RESOURCES before anything imports bpy)

pytestmark = pytest.mark.blender

ROOT = Path(__file__).resolve().parents[1]


def _counts(bpy) -> tuple:
    return (len(bpy.data.objects), len(bpy.data.actions), len(bpy.data.meshes), len(bpy.data.armatures),
            len(bpy.data.collections), len(bpy.data.cameras), len(bpy.data.movieclips))


@pytest.fixture()
def bpy():
    from blender_helpers import reset_blender

    return reset_blender()


def _clip(fps: float = 29.97):
    from blender_helpers import make_clip, random_track

    small = random_track(1, np.arange(0, 6), seed=1, box=(0, 0, 50, 100))
    large = random_track(2, np.arange(4, 12), seed=2, box=(0, 0, 300, 400))
    return make_clip([small, large], num_frames=12, fps=fps)


# ---------------------------------------------------------------------------------------------- importer
def test_options_select_people_and_frames(bpy, mannequin_dir):
    from blender_addon import importer

    clip = _clip()
    arms = importer.import_clip(bpy.context, clip, mannequin_dir, create_camera=False)
    assert [a["smplx_track_id"] for a in arms] == [1, 2]
    scene = bpy.context.scene
    assert (scene.render.fps, scene.render.fps_base) == (30, pytest.approx(30 / 29.97))
    # Blender's convention: the first video frame (index 0) is scene frame 1
    assert (scene.frame_start, scene.frame_end) == (1, 12)
    assert tuple(arms[1].animation_data.action.frame_range) == (5, 12)
    assert arms[0].children[0].data.shape_keys.animation_data.action is not None

    bpy.ops.wm.read_factory_settings(use_empty=True)
    (arm,) = importer.import_clip(bpy.context, clip, mannequin_dir, people="largest", create_camera=False)
    assert arm["smplx_track_id"] == 2

    bpy.ops.wm.read_factory_settings(use_empty=True)
    arms = importer.import_clip(bpy.context, clip, mannequin_dir, frame_range=(5, 8), create_camera=False)
    assert [tuple(a.animation_data.action.frame_range) for a in arms] == [(1, 1), (1, 4)]  # video 5 → scene 1
    assert (bpy.context.scene.frame_start, bpy.context.scene.frame_end) == (1, 4)

    bpy.ops.wm.read_factory_settings(use_empty=True)  # the clip's own numbering when asked: video 5 → scene 6
    arms = importer.import_clip(bpy.context, clip, mannequin_dir, frame_range=(5, 8), create_camera=False,
                                timeline="video")
    assert [tuple(a.animation_data.action.frame_range) for a in arms] == [(6, 6), (6, 9)]
    assert (bpy.context.scene.frame_start, bpy.context.scene.frame_end) == (6, 9)

    bpy.ops.wm.read_factory_settings(use_empty=True)
    (arm,) = importer.import_clip(bpy.context, clip, mannequin_dir, track_ids=[1], create_camera=False)
    assert arm["smplx_track_id"] == 1


def test_camera_with_video_background(bpy, mannequin_dir, tmp_path):
    import av

    from blender_addon import importer

    video = tmp_path / "v.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        for i in range(12):
            frame = av.VideoFrame.from_ndarray(np.full((480, 640, 3), i * 20, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    importer.import_clip(bpy.context, _clip(), mannequin_dir, video=str(video))
    cam = bpy.context.scene.camera
    background = cam.data.background_images[0]
    assert background.source == "MOVIE_CLIP" and background.clip.frame_duration == 12
    assert background.clip.frame_start == 1  # video frame 0 shows on scene frame 1, where its pose is keyed
    assert (bpy.context.scene.render.resolution_x, bpy.context.scene.render.resolution_y) == (640, 480)


def test_bad_input_leaves_scene_unchanged(bpy, mannequin_dir, tmp_path):
    from blender_addon import importer

    clip = _clip()
    importer.import_clip(bpy.context, clip, mannequin_dir, create_camera=False)  # a scene with content
    before = _counts(bpy)

    with pytest.raises(FileNotFoundError, match="SMPLX_NEUTRAL.npz"):
        importer.import_clip(bpy.context, clip, tmp_path / "empty_model_dir")
    female_missing = tmp_path / "neutral_only"
    (female_missing / "smplx").mkdir(parents=True)
    os.symlink(Path(mannequin_dir) / "smplx" / "SMPLX_NEUTRAL.npz", female_missing / "smplx" / "SMPLX_NEUTRAL.npz")
    with pytest.raises(FileNotFoundError, match="SMPLX_FEMALE.npz"):
        tracks = [clip.tracks[0], clip.tracks[1].replace(gender="female")]
        importer.import_clip(bpy.context, clip.replace(tracks=tracks), female_missing)
    with pytest.raises(FileNotFoundError, match="not found"):
        importer.import_clip(bpy.context, tmp_path / "missing.npz", mannequin_dir)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip file")
    with pytest.raises(ValueError):
        importer.import_clip(bpy.context, garbage, mannequin_dir)
    not_a_clip = tmp_path / "arrays.npz"
    np.savez(not_a_clip, x=np.zeros(3))
    with pytest.raises(ValueError):
        importer.import_clip(bpy.context, not_a_clip, mannequin_dir)
    broken = clip.tracks[0]
    broken.body_pose = np.zeros((len(broken.frames), 20, 3))  # assigned after __post_init__: not validated
    with pytest.raises(ValueError, match="body_pose"):
        importer.import_clip(bpy.context, clip, mannequin_dir)
    with pytest.raises(ValueError, match="unknown import option"):
        importer.import_clip(bpy.context, _clip(), mannequin_dir, peeople="all")
    with pytest.raises(ValueError, match="nothing to import"):
        importer.import_clip(bpy.context, _clip(), mannequin_dir, frame_range=(100, 200))
    with pytest.raises(FileNotFoundError, match="video"):
        importer.import_clip(bpy.context, _clip(), mannequin_dir, video=str(tmp_path / "none.mp4"))
    with pytest.raises(ValueError, match="MotionClip"):
        importer.import_clip(bpy.context, {"fps": 30}, mannequin_dir)
    unreadable = tmp_path / "broken.mp4"
    unreadable.write_bytes(b"not a video")
    with pytest.raises(ValueError, match="cannot read the video"):
        importer.import_clip(bpy.context, _clip(), mannequin_dir, video=str(unreadable))
    assert _counts(bpy) == before


# ---------------------------------------------------------------------------------------------- worker
def _fake(code: str) -> list:
    return [sys.executable, "-c", textwrap.dedent(code)]


def test_worker_reads_progress_and_succeeds():
    from blender_addon.worker import ConvertWorker, parse_progress

    assert parse_progress('{"stage": "regress", "done": 3, "total": 12, "message": "S32"}').fraction == 0.25
    assert parse_progress("plain text") is None and parse_progress("{broken") is None
    worker = ConvertWorker(_fake("""
        import json
        print("starting up")
        for i in range(5):
            print(json.dumps({"stage": "detect", "done": i + 1, "total": 5, "message": ""}), flush=True)
    """))
    reports = []
    assert worker.wait(callback=reports.append, interval=0.02) == "done"
    assert [r.done for r in reports] == [1, 2, 3, 4, 5]
    assert worker.progress.fraction == 1.0 and worker.progress.text() == "detect 5/5"


def test_worker_failure_reports_last_stderr_line():
    from blender_addon.worker import ConvertWorker

    worker = ConvertWorker(_fake("""
        import sys, json
        print(json.dumps({"stage": "load", "done": 0, "total": 1}))
        print("warning: something", file=sys.stderr)
        print("error: video.mp4: no person found", file=sys.stderr)
        sys.exit(1)
    """))
    assert worker.wait(interval=0.02) == "failed"
    assert worker.error == "error: video.mp4: no person found"


def test_worker_cancel_kills_the_child(tmp_path):
    from blender_addon.worker import ConvertWorker

    marker = tmp_path / "finished"
    worker = ConvertWorker(_fake(f"""
        import json, time
        print(json.dumps({{"stage": "regress", "done": 1, "total": 100}}), flush=True)
        time.sleep(30)
        open({str(marker)!r}, "w").close()
    """))
    polls = iter(range(1000))
    state = worker.wait(interval=0.05, should_cancel=lambda: next(polls) >= 5)
    assert state == "cancelled"
    assert worker._proc.poll() is not None and not marker.exists()


def test_convert_command_parses_with_the_core_cli():
    import argparse

    from blender_addon.worker import convert_command
    from core.options import ConvertOptions
    from core.pipeline import add_convert_arguments, options_from_args

    given = ConvertOptions(model_dir="/models", variant="l32", device="cuda", people="largest",
                           detector="static-camera", start=10, end=20, smooth_body=2.5, smooth_hands=0.0,
                           checkpoint="/ck/custom.pth.tar", det_score=0.25, focal=1234.5678)
    cmd = convert_command("py", "in.mp4", "out.npz", given)
    assert cmd[:4] == ["py", "-m", "core", "convert"]
    parser = argparse.ArgumentParser()
    add_convert_arguments(parser)
    args = parser.parse_args(cmd[4:])
    opts = options_from_args(args)
    # the child runs in core's folder: the caller's relative paths reach it absolute
    assert args.progress_json and args.output == os.path.abspath("out.npz") and args.video == os.path.abspath("in.mp4")
    assert opts == given  # every option survives the trip through the child's command line
    assert opts.smoothing_overrides == {"body": 2.5, "hands": 0.0}


# ---------------------------------------------------------------------------------------------- operator
def test_video_operator_runs_converter_then_imports(bpy, mannequin_dir, tmp_path):
    """execute(): worker → clip → rigs, with a stand-in `python` that writes a prepared clip (no torch needed)."""
    import addon_utils

    clip_path = tmp_path / "prepared.npz"
    _clip(fps=25.0).save(clip_path)
    fake = tmp_path / "fake_python"
    fake.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, shutil, sys
        argv = sys.argv[1:]
        assert argv[:3] == ["-m", "core", "convert"], argv
        for i in range(3):
            print(json.dumps({{"stage": "regress", "done": i + 1, "total": 3, "message": ""}}), flush=True)
        shutil.copy({str(clip_path)!r}, argv[argv.index("-o") + 1])
    """))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    video = tmp_path / "video.mp4"
    video.write_bytes(b"")  # the stand-in never reads it

    sys.path.insert(0, str(ROOT))
    addon_utils.enable("blender_addon", default_set=True)
    try:
        prefs = bpy.context.preferences.addons["blender_addon"].preferences
        prefs.model_dir, prefs.use_existing_python, prefs.python_path = str(mannequin_dir), True, str(fake)
        settings = bpy.context.scene.smplx_video
        settings.video, settings.create_camera = str(video), False

        before = _counts(bpy)
        settings.video = str(tmp_path / "missing.mp4")
        with pytest.raises(RuntimeError, match="missing.mp4"):
            bpy.ops.smplx_video.import_video()
        assert _counts(bpy) == before

        settings.video = str(video)
        assert bpy.ops.smplx_video.import_video() == {"FINISHED"}
        rigs = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]
        assert len(rigs) == 2 and bpy.context.scene.render.fps == 25
        assert not bpy.context.window_manager.smplx_video_state.running
    finally:
        addon_utils.disable("blender_addon", default_set=True)


def test_command_sequence_runs_steps_in_order_and_stops_on_failure(tmp_path):
    import time

    from blender_addon.worker import CommandSequence

    log = tmp_path / "log.txt"
    step = "import sys; open({!r}, 'a').write(sys.argv[1] + '\\n'); print('step', sys.argv[1])"
    ok = CommandSequence([[sys.executable, "-c", step.format(str(log)), str(i)] for i in range(3)])
    while ok.poll() == "running":
        time.sleep(0.02)
    assert ok.state == "done" and ok.fraction == 1.0 and ok.status == "step 2"
    assert log.read_text().split() == ["0", "1", "2"]

    failing = CommandSequence([[sys.executable, "-c", "import sys; sys.exit('error: no network')"],
                               [sys.executable, "-c", step.format(str(log)), "never"]])
    while failing.poll() == "running":
        time.sleep(0.02)
    assert failing.state == "failed" and failing.error == "error: no network"
    assert "never" not in log.read_text()


def test_video_without_people_reports_and_leaves_scene_unchanged(bpy, mannequin_dir, parity_dir, tmp_path):
    """The real worker and pipeline on an empty tripod shot: one clear error, nothing added to the scene."""
    import addon_utils

    from tests._media import moving_shapes, write_video

    models = tmp_path / "models"
    (models / "smplx").mkdir(parents=True)
    for item in (Path(mannequin_dir) / "smplx").iterdir():
        (models / "smplx" / item.name).symlink_to(item)
    frames, _ = moving_shapes(8, height=120, width=160, shapes=[], seed=2)
    video = tmp_path / "empty_room.mp4"
    write_video(video, frames, fps=10.0)

    sys.path.insert(0, str(ROOT))
    addon_utils.enable("blender_addon", default_set=True)
    try:
        prefs = bpy.context.preferences.addons["blender_addon"].preferences
        prefs.model_dir, prefs.use_existing_python, prefs.python_path = str(models), True, sys.executable
        settings = bpy.context.scene.smplx_video
        settings.video, settings.create_camera, settings.detector = str(video), False, "static-camera"
        settings.device = "cpu"
        settings.checkpoint = str(parity_dir / "smpler_x_s32_random.pth.tar")  # the panel's Checkpoint row
        before = _counts(bpy)
        with pytest.raises(RuntimeError, match="no person found"):
            bpy.ops.smplx_video.import_video()
        assert _counts(bpy) == before
    finally:
        addon_utils.disable("blender_addon", default_set=True)
