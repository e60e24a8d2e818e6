"""The person's standing height: measured on the shaped SMPL-X template, and imposed when the user knows it.

One video cannot tell a small person near the camera from a tall one further away: the network's shape (betas) sets
the body's size, and with it the distance to the camera, the camera's height above the floor and every length of the
motion. Regressors also pull shapes towards the average body, so a tall actor comes out small and close. When the user
gives the person's height (`--person-height`, metres), each track's shape gets the smallest change of its betas that
gives its one shape (`core.smooth.track_shape`) that height, and its root moves along its viewing ray by the same
ratio, so that the person covers the same pixels. It runs on the raw clip, before smoothing, so that the raw and the
smoothed motion (and the report that compares them) share one scale.

The height is the shaped template's extent along the model's up axis (top of the head to the soles, arms out), the
usual SMPL-X definition of a person's height; expression and pose do not enter.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .motion import MotionClip, MotionTrack, rest_root_joint
from .options import option
from .smooth import track_shape

__all__ = ["apply_person_height", "betas_for_height", "body_height"]

_CHUNK = 512  # frames per batch when measuring (V floats each)
_TOLERANCE = 1e-5  # metres
_WILD_BETAS = 5.0  # shape coefficients further out than this give distorted bodies

logger = logging.getLogger(__name__)


def _template_y(model_arrays: dict, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(V,) template heights and (V,count) their change per beta (model Y is up)."""
    v = np.asarray(model_arrays["v_template"], np.float64)[:, 1]
    dirs = np.asarray(model_arrays["shapedirs"], np.float64)[:, 1, :count]
    return v, dirs


def body_height(model_arrays: dict, betas: np.ndarray) -> np.ndarray:
    """(N,) standing heights in metres of the template shaped by (N,B) or (B,) `betas`.

    Args:
        model_arrays: SMPL-X arrays (`core.body.read_model_arrays`): v_template (V,3), shapedirs (V,3,K).
        betas: shape coefficients; B <= K.
    """
    betas = np.atleast_2d(np.asarray(betas, np.float64))
    v, dirs = _template_y(model_arrays, betas.shape[1])
    out = np.empty(len(betas))
    for start in range(0, len(betas), _CHUNK):
        y = v + betas[start:start + _CHUNK] @ dirs.T
        out[start:start + _CHUNK] = y.max(1) - y.min(1)
    return out


def betas_for_height(model_arrays: dict, betas: np.ndarray, height: float, iterations: int = 8) -> np.ndarray:
    """(B,) the betas nearest to `betas` (Euclidean) whose body is `height` metres tall.

    The height is linear in the betas while the top and bottom vertices stay the same, so each step is the
    minimum-norm change along that gradient; a few steps settle when the extreme vertices switch.

    Raises:
        ValueError: the model's shape space cannot change the height (no usable shapedirs).
    """
    betas = np.asarray(betas, np.float64).copy()
    v, dirs = _template_y(model_arrays, len(betas))
    for _ in range(iterations):
        y = v + dirs @ betas
        top, bottom = int(np.argmax(y)), int(np.argmin(y))
        miss = height - (y[top] - y[bottom])
        if abs(miss) < _TOLERANCE:
            break
        grad = dirs[top] - dirs[bottom]
        norm = float(grad @ grad)
        if norm < 1e-12:
            raise ValueError("the SMPL-X model's shape space does not change the body's height; "
                             "--person-height cannot be applied with it")
        betas += miss * grad / norm
    return betas


def _scale_track(model_arrays: dict, track: MotionTrack, image_size: tuple[int, int],
                 height: float) -> tuple[MotionTrack, dict[str, float]]:
    """One track at `height`: its betas moved by one shared change, its roots scaled along their viewing rays."""
    shape = track_shape(track, image_size)
    estimated = float(body_height(model_arrays, shape)[0])
    change = betas_for_height(model_arrays, shape, height) - shape
    betas = np.asarray(track.betas, np.float64)
    root_before = rest_root_joint(model_arrays, betas, track.expression) + track.transl
    scale = height / estimated
    new_betas = betas + change
    transl = scale * root_before - rest_root_joint(model_arrays, new_betas, track.expression)
    info = {"estimated_m": estimated, "final_m": float(height), "depth_scale": scale}
    if np.abs(shape + change).max() > _WILD_BETAS:
        logger.warning("track %d: a standing height of %.2f m needs shape coefficients beyond ±%g (the body model's "
                       "shape space spans about ±3 for adults): the body will look distorted", track.track_id,
                       height, _WILD_BETAS)
    return track.replace(betas=new_betas.astype(track.betas.dtype), transl=transl.astype(track.transl.dtype)), info


def apply_person_height(clip: MotionClip, model_arrays: dict, height: float | None) -> MotionClip:
    """Every track of `clip` (raw, OpenCV camera) at the standing height `height` metres; None keeps the network's
    shapes and only measures them. metadata["height"]: {"given_m", "tracks": {id: {"estimated_m", "final_m",
    "depth_scale"}}}.

    Raises:
        ValueError: `height` is outside the bounds of the `person_height` option (the message names the flag).
    """
    height = option("person_height").convert(height)
    tracks, info = [], {}
    for track in clip.tracks:
        if height is not None:
            track, entry = _scale_track(model_arrays, track, clip.image_size, height)
        else:
            measured = float(body_height(model_arrays, track_shape(track, clip.image_size))[0])
            entry = {"estimated_m": measured, "final_m": measured, "depth_scale": 1.0}
        tracks.append(track)
        info[str(track.track_id)] = entry
    meta: dict[str, Any] = {"given_m": height, "tracks": info}
    return clip.replace(tracks=tracks, metadata={**clip.metadata, "height": meta})
