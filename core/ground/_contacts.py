"""Foot contacts (hysteresis, minimum duration), the locking targets, and the foot metrics."""

from __future__ import annotations

import numpy as np

from ._options import GroundOptions


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index ranges of the True runs of a (N,) bool array."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _holes(frames: np.ndarray) -> np.ndarray:
    """(N-1,) True where consecutive samples are further apart than 1.5 × the track's usual step (a stride of 4
    is no hole; a missing stretch is)."""
    steps = np.diff(frames)
    return steps > 1.5 * (np.median(steps) if len(steps) else 1)


def _hysteresis(enter: np.ndarray, stay: np.ndarray, restart: np.ndarray) -> np.ndarray:
    """True from a frame where `enter` holds until `stay` fails (all (N,) bool); at a `restart` frame (after a hole)
    a contact only continues if it enters anew."""
    out = np.zeros(len(enter), bool)
    on = False
    for i, (e, s, r) in enumerate(zip(enter, stay, restart)):
        on = e if r else s and (on or e)
        out[i] = on
    return out


def detect_contacts(heights: np.ndarray, speeds: np.ndarray, frames: np.ndarray, opts: GroundOptions) -> np.ndarray:
    """Per-foot contact with hysteresis and a minimum duration.

    Args:
        heights: (N,2) metres, lowest sole point of each foot above the floor.
        speeds: (N,2) m/s, horizontal speed of each foot.
        frames: (N,) frame indices (a hole in the track ends a contact; a regular stride does not).
        opts: thresholds.

    Returns:
        (N,2) bool [left, right].
    """
    h, v = opts.contact_height, opts.contact_speed
    out = np.zeros(heights.shape, bool)
    breaks = np.r_[False, _holes(frames)]
    for f in range(2):
        enter = (heights[:, f] < h) & (speeds[:, f] < v)
        stay = (heights[:, f] < 1.5 * h) & (speeds[:, f] < 2 * v)
        mask = _hysteresis(enter, stay, breaks)
        for a, b in _runs(~mask):  # close short gaps inside a contact
            if 0 < a and b < len(mask) and b - a < opts.min_contact and not breaks[a:b + 1].any():
                mask[a:b] = True
        for a, b in _runs(mask):  # drop short contacts (a hole splits a run)
            cuts = [a] + [i for i in range(a + 1, b) if breaks[i]] + [b]
            for lo, hi in zip(cuts[:-1], cuts[1:]):
                if hi - lo < opts.min_contact:
                    mask[lo:hi] = False
        out[:, f] = mask
    return out




def _blend_weights(mask: np.ndarray, blend: int) -> np.ndarray:
    """(N,) 1 inside the runs of `mask`, fading to 0 over `blend` frames on both sides (smoothstep)."""
    n = len(mask)
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return np.zeros(n)
    dist = np.abs(np.arange(n)[:, None] - idx[None]).min(1)
    x = np.clip(1 - dist / (blend + 1), 0, 1)
    return x * x * (3 - 2 * x)




def _foot_targets(soles_w: np.ndarray, contacts: np.ndarray, opts: GroundOptions) -> tuple[np.ndarray, np.ndarray]:
    """Per-foot world moves (N,2,3) that hold each planted foot where it stands (auto/always: its median position on
    the floor) or only on the floor (grounding), held past each contact, and their blend weights (N,2) in [0,1]."""
    n = len(soles_w)
    centre = soles_w.mean(2)  # (N,2,3) foot centres
    low = soles_w[..., 2].min(2)  # (N,2) lowest sole point
    shift, weight = np.zeros((n, 2, 3)), np.zeros((n, 2))
    for f in range(2):
        for a, b in _runs(contacts[:, f]):
            if opts.mode in ("auto", "always"):
                target = np.median(centre[a:b, f, :2], axis=0)
                slide = np.linalg.norm(centre[a:b, f, :2] - target, axis=1).max()
                if opts.mode == "always" or slide <= opts.max_slide:
                    shift[a:b, f, :2] = target - centre[a:b, f, :2]
            shift[a:b, f, 2] = -low[a:b, f]
            lo, hi = max(0, a - opts.blend), min(n, b + opts.blend)
            shift[lo:a, f], shift[b:hi, f] = shift[a, f], shift[b - 1, f]
        weight[:, f] = _blend_weights(contacts[:, f], opts.blend)
    return shift, weight




def foot_metrics(soles_w: np.ndarray, contacts: np.ndarray, frames: np.ndarray) -> dict[str, float | None]:
    """Foot skate, penetration and floating of one track in the world frame.

    Args:
        soles_w: (N,2,2,3) sole points, world frame (floor Z = 0).
        contacts: (N,2) bool, the frames that count as contact.
        frames: (N,) frame indices (skate only between consecutive samples, without a hole between them).

    Returns:
        `foot_skate_mm_per_frame`: mean horizontal move of a planted foot's centre per video frame between
        consecutive contact samples; `penetration_mm`: mean depth of the lowest sole point below the floor over
        all frames; `floating_mm`: mean height of planted feet's lowest sole point over contact frames (None
        without contacts).
    """
    centre = soles_w.mean(2)
    low = soles_w[..., 2].min(2)
    step = ~_holes(frames)[:, None] & contacts[1:] & contacts[:-1]
    moves = np.linalg.norm(np.diff(centre[..., :2], axis=0), axis=-1) / np.diff(frames)[:, None]
    lowest = low.min(1)
    return {
        "foot_skate_mm_per_frame": float(moves[step].mean() * 1000) if step.any() else None,
        "penetration_mm": float(np.maximum(-lowest, 0).mean() * 1000),
        "floating_mm": float(np.maximum(low[contacts], 0).mean() * 1000) if contacts.any() else None,
    }
