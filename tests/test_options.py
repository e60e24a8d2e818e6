"""core/options.py: one schema reaches the convert CLI, batch.py and the worker's command line with the same defaults;
any official-container checkpoint converts (the demo network's custom size included); the static-camera detector's
own score threshold finds the person in the sample video with People = All."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "sample.mp4"
DEMO_CHECKPOINT = ROOT / "assets" / "demo_smpler_x.pth.tar"


def _convert_parser() -> argparse.ArgumentParser:
    from core.pipeline import add_convert_arguments

    parser = argparse.ArgumentParser()
    add_convert_arguments(parser)
    return parser


def _batch_parser() -> argparse.ArgumentParser:
    from blender_addon import batch

    return batch._parser()


def _non_default(opt):
    """A valid value of `opt` that differs from its default (chosen from the schema's own bounds and choices)."""
    if opt.choices:
        return next(v for v in reversed(opt.values) if v != opt.default)
    if opt.kind == "path":
        return "/some/where/file.pth.tar"
    low = opt.minimum if opt.minimum is not None else 0
    if opt.kind == "int":
        return int(low) + 3
    if opt.kind == "float":
        return min(float(low) + 0.37, opt.maximum if opt.maximum is not None else np.inf)
    return not opt.default


def test_every_option_is_a_flag_of_convert_and_batch_with_the_schema_default():
    from core.options import OPTIONS, ConvertOptions, options_from_args

    convert_flags = {a for action in _convert_parser()._actions for a in action.option_strings}
    batch_flags = {a for action in _batch_parser()._actions for a in action.option_strings}
    for opt in OPTIONS:
        assert opt.flag in convert_flags and opt.flag in batch_flags, opt.flag
    # nothing given: the same options as the dataclass defaults, through both parsers
    plain = options_from_args(_convert_parser().parse_args(["v.mp4", "-o", "o.npz"]))
    batch = options_from_args(_batch_parser().parse_args(["--output", "out"]))
    assert plain == batch == ConvertOptions()
    assert {o.name: getattr(plain, o.name) for o in OPTIONS} == {o.name: o.default for o in OPTIONS}


def test_worker_command_round_trips_every_option():
    from blender_addon.worker import convert_command
    from core.options import OPTIONS, ConvertOptions, options_from_args

    changed = {o.name: _non_default(o) for o in OPTIONS}
    changed["end"] = changed["start"] + 10
    given = ConvertOptions(**changed)
    given.validate()
    cmd = convert_command("python", "in.mp4", "out.npz", given)
    parsed = options_from_args(_convert_parser().parse_args(cmd[4:]))
    assert parsed == given
    assert all(getattr(parsed, o.name) != o.default for o in OPTIONS)


def test_bad_values_name_the_flag():
    from core.options import options_from_args

    parser = _convert_parser()
    for argv, message in ((["--variant", "x32"], "--variant 'x32': expected one of auto, s32"),
                          (["--batch-size", "0"], "--batch-size 0: must be at least 1"),
                          (["--det-score", "1.5"], "--det-score 1.5: must be at most 1"),
                          (["--people", "1,a"], "--people '1,a'"),
                          (["--start", "9", "--end", "3"], "--end 3: must be after --start 9"),
                          (["--smoothing", "heavy"], "--smoothing 'heavy'")):
        with pytest.raises(ValueError, match=message):
            options_from_args(parser.parse_args(["v.mp4", "-o", "o.npz", *argv]))


def test_variant_names_match_the_network_sizes():
    from core.model.config import VARIANTS as SIZES
    from core.options import VARIANTS, option

    assert tuple(SIZES) == VARIANTS
    assert option("variant").values == ("auto", *VARIANTS)


def test_smoothing_defaults_come_from_the_presets():
    from core.options import SMOOTH_PARTS, ConvertOptions, option
    from core.smooth import SMOOTHING_PRESETS

    assert ConvertOptions().smoothing_strengths == SMOOTHING_PRESETS["default"]
    assert ConvertOptions(smoothing="strong", smooth_hands=1.0).smoothing_strengths == {
        **SMOOTHING_PRESETS["strong"], "hands": 1.0}
    for part in SMOOTH_PARTS:  # what the add-on shows before the user touches anything
        assert option(f"smooth_{part}").ui_default == SMOOTHING_PRESETS["default"][part]


def test_static_camera_threshold_keeps_the_sample_person():
    """The sample's foreground-fraction scores lie below Faster R-CNN's 0.5: one threshold for both detectors found
    nobody. The static-camera detector's own default keeps the person on (nearly) every frame."""
    from core.detect import StaticCameraDetector, select_people
    from core.options import ConvertOptions
    from core.video import open_video

    frames = [f.image for f in open_video(SAMPLE)]
    detector = StaticCameraDetector(every=2).fit(frames)
    best = [boxes[0, 4] if len(boxes) else 0.0 for boxes in detector.detect(frames)]
    assert max(best) < 0.5  # every frame would be lost at the Faster R-CNN threshold
    threshold = ConvertOptions(detector="static-camera").score_threshold
    kept = [len(select_people(b, threshold, 0.5, 50, 150)) for b in detector.detect(frames)]
    assert np.mean(np.array(kept) >= 1) > 0.9


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_demo_checkpoint_converts_the_sample_with_people_all(tmp_path, mannequin_dir):
    """`convert --checkpoint assets/demo_smpler_x.pth.tar` with the static-camera detector and the defaults
    (People = All): the custom-size network loads, and the one person of the sample is tracked over the video."""
    from core.motion import MotionClip

    out = tmp_path / "clip.npz"
    proc = _cli("convert", str(SAMPLE), "-o", str(out), "--model-dir", str(mannequin_dir), "--checkpoint",
                str(DEMO_CHECKPOINT), "--detector", "static-camera", "--device", "cpu", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    clip = MotionClip.load(out)
    assert len(clip.tracks) == 1 and len(clip.tracks[0].frames) >= 90
    assert clip.metadata["variant"] == "custom"

    wrong = _cli("convert", str(SAMPLE), "-o", str(tmp_path / "x.npz"), "--model-dir", str(mannequin_dir),
                 "--checkpoint", str(DEMO_CHECKPOINT), "--variant", "s32", "--detector", "static-camera",
                 "--device", "cpu", cwd=tmp_path)
    assert wrong.returncode == 1
    line = wrong.stderr.strip()
    assert "\n" not in line and "CUSTOM (width 128, depth 4)" in line and "S32 requested (width 384" in line
    assert not (tmp_path / "x.npz").exists()
