"""Settings of the ground stage (the convert flags --foot-lock, --root-motion, --depth-smoothing)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOCK_MODES = ("auto", "always", "never", "grounding")
ROOT_MOTIONS = ("world", "in_place")


@dataclass
class GroundOptions:
    """Settings of the ground stage (the CLI flags `--foot-lock`, `--root-motion`, `--depth-smoothing`, `--no-ground`).

    Attributes:
        mode: foot locking, one of LOCK_MODES.
        root_motion: "world" or "in_place".
        depth_sigma: Gaussian sigma in seconds of the log-depth smoothing (0 = off), like every smoothing strength;
            image-plane coordinates keep the smoothing stage's.
        contact_height: metres; a foot enters contact below this height and leaves above 1.5× it.
        contact_speed: m/s horizontal; a foot enters contact below this speed and leaves above 2× it.
        min_contact: shortest contact in frames (shorter ones are dropped, shorter gaps are closed).
        blend: frames over which a lock fades in before and out after its contact.
        max_slide: metres; in auto mode a contact whose foot travels more than this is not locked.
        moving_threshold: fraction of background pixels that change between samples above which the camera moves.
        use_boxes: put the floor under the person boxes' bottom edges (tight detector boxes) rather than under the
            network's feet.
    """

    mode: str = "auto"
    root_motion: str = "world"
    depth_sigma: float = 0.32
    contact_height: float = 0.02
    contact_speed: float = 0.8
    min_contact: int = 3
    blend: int = 4
    max_slide: float = 0.3
    moving_threshold: float = 0.2
    use_boxes: bool = True

    def __post_init__(self) -> None:
        if self.mode not in LOCK_MODES:
            raise ValueError(f"foot_lock (--foot-lock) {self.mode!r}: expected one of {LOCK_MODES}")
        if self.root_motion not in ROOT_MOTIONS:
            raise ValueError(f"root_motion (--root-motion) {self.root_motion!r}: expected one of {ROOT_MOTIONS}")
        if not np.isfinite(self.depth_sigma) or self.depth_sigma < 0:
            raise ValueError(f"depth_smoothing (--depth-smoothing) {self.depth_sigma}: expected a sigma >= 0 in seconds")
        if self.min_contact < 1 or self.blend < 0:
            raise ValueError(f"min_contact ({self.min_contact}) must be >= 1 and blend ({self.blend}) >= 0 frames")
