"""core.height: the standing height against smplx's shaped template, the nearest betas of a given height, and a clip
brought to a known height: same pixels, the depth scaled with the body, the option's checks on every entry point."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from scipy.optimize import minimize


@pytest.fixture(scope="module")
def arrays(mannequin_dir):
    from core.body import read_model_arrays

    return read_model_arrays(mannequin_dir)


@pytest.fixture(scope="module")
def smplx_height(mannequin_dir):
    from tests._ground_motions import smplx_height

    return lambda betas: smplx_height(mannequin_dir, betas)


def _clip(betas: np.ndarray, n: int = 12, seed: int = 0):
    from core.motion import MotionClip, MotionTrack

    rng = np.random.default_rng(seed)
    tracks = []
    for k, b in enumerate(betas):
        orient = rng.normal(0, 0.2, (n, 3)) + [np.pi, 0, 0]
        tracks.append(MotionTrack(
            track_id=k, frames=np.arange(n), times=np.arange(n) / 25, global_orient=orient,
            body_pose=rng.normal(0, 0.2, (n, 21, 3)), left_hand_pose=np.zeros((n, 15, 3)),
            right_hand_pose=np.zeros((n, 15, 3)), jaw_pose=np.zeros((n, 3)),
            betas=b + rng.normal(0, 0.05, (n, 10)), expression=rng.normal(0, 0.3, (n, 10)),
            transl=rng.normal(0, 0.3, (n, 3)) + [k - 0.5, 0.3, 5.0], boxes=np.tile([100, 50, 200, 300], (n, 1)),
            scores=np.ones(n)))
    return MotionClip(fps=25.0, num_frames=n, image_size=(640, 360), focal=np.array([600.0, 600.0]),
                      princpt=np.array([319.5, 179.5]), tracks=tracks)


def test_body_height_is_smplx_template_extent(arrays, smplx_height):
    from core.height import body_height

    betas = np.random.default_rng(1).normal(0, 1.5, (5, 10))
    assert body_height(arrays, betas) == pytest.approx(smplx_height(betas), abs=2e-5)


@pytest.mark.parametrize("target", [1.45, 1.76, 1.98])
def test_betas_for_height_is_the_nearest_shape_of_that_height(arrays, smplx_height, target):
    from core.height import betas_for_height, body_height

    start = np.random.default_rng(2).normal(0, 1, 10)
    found = betas_for_height(arrays, start, target)
    assert smplx_height(found)[0] == pytest.approx(target, abs=1e-4)
    # scipy's constrained minimiser on the same problem finds no nearer shape of that height
    ref = minimize(lambda b: np.sum((b - start) ** 2), start, method="SLSQP",
                   constraints=[{"type": "eq", "fun": lambda b: body_height(arrays, b)[0] - target}])
    assert ref.success
    assert np.linalg.norm(found - start) <= np.linalg.norm(ref.x - start) + 1e-3


def test_person_height_keeps_the_pixels_and_scales_the_depth(arrays, smplx_height):
    from core.height import apply_person_height
    from core.motion import rest_root_joint
    from core.smooth import track_shape

    rng = np.random.default_rng(3)
    clip = _clip(rng.normal(0, 1, (2, 10)))
    out = apply_person_height(clip, arrays, 1.80)
    assert out.metadata["height"]["given_m"] == 1.80
    for before, after in zip(clip.tracks, out.tracks):
        shape = track_shape(after, clip.image_size)
        assert smplx_height(shape)[0] == pytest.approx(1.80, abs=1e-4)  # the track's one shape is that tall
        estimated = smplx_height(track_shape(before, clip.image_size))[0]
        entry = out.metadata["height"]["tracks"][str(before.track_id)]
        assert entry["estimated_m"] == pytest.approx(estimated, abs=1e-4)
        root0 = rest_root_joint(arrays, before.betas, before.expression) + before.transl
        root1 = rest_root_joint(arrays, after.betas, after.expression) + after.transl
        # the root's pixel is kept; its distance grows by the height ratio (a taller person further away)
        assert root1[:, :2] / root1[:, 2:] == pytest.approx(root0[:, :2] / root0[:, 2:], abs=1e-6)
        assert root1[:, 2] / root0[:, 2] == pytest.approx(np.full(len(after), 1.80 / estimated), rel=1e-5)
        assert np.ptp(after.betas - before.betas, axis=0) == pytest.approx(np.zeros(10), abs=1e-6)  # one change
        assert after.global_orient is before.global_orient and after.frames is before.frames
    kept = apply_person_height(clip, arrays, None)  # not given: measure only
    assert kept.metadata["height"]["given_m"] is None
    for before, after in zip(clip.tracks, kept.tracks):
        assert np.array_equal(before.betas, after.betas) and np.array_equal(before.transl, after.transl)


def test_person_height_is_checked_on_every_entry_point():
    from core.height import apply_person_height
    from core.pipeline import ConvertOptions, add_convert_arguments, options_from_args

    parser = argparse.ArgumentParser()
    add_convert_arguments(parser)
    assert options_from_args(parser.parse_args(["v.mp4", "-o", "o.npz", "--person-height", "1.72"])).person_height \
        == 1.72
    assert options_from_args(parser.parse_args(["v.mp4", "-o", "o.npz"])).person_height is None
    for bad in ("0", "0.3", "3", "-1", "nan", "tall"):
        with pytest.raises(ValueError, match="--person-height"):
            options_from_args(parser.parse_args(["v.mp4", "-o", "o.npz", "--person-height", bad])).validate()
    with pytest.raises(ValueError, match="--person-height 0.3: must be at least 0.5"):
        ConvertOptions(person_height=0.3).validate()
    with pytest.raises(ValueError, match="--person-height"):
        apply_person_height(_clip(np.zeros((1, 10))), {}, 0.2)  # before any model array is read


def test_a_height_outside_the_shape_space_is_warned_about(arrays, caplog):
    from core.height import apply_person_height

    with caplog.at_level("WARNING", logger="core.height"):
        apply_person_height(_clip(np.zeros((1, 10))), arrays, 1.75)
    assert not caplog.records
    with caplog.at_level("WARNING", logger="core.height"):
        apply_person_height(_clip(np.zeros((1, 10))), arrays, 0.9)  # a child: far outside the adult shape space
    assert "0.90 m" in caplog.text and "distorted" in caplog.text
