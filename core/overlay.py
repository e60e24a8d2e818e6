"""Overlay video: every tracked person's SMPL-X mesh drawn over the input video (the original's render.py).

Streams the video once more; meshes come from the body model per frame (batched over the people in view), so
memory stays bounded for long clips. Rendering is `core.render`'s CPU rasteriser, headless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .motion import MotionClip

__all__ = ["write_overlay", "overlay_frames"]

# one colour per track id, cycling (RGB in [0, 1])
PALETTE = ((0.55, 0.75, 0.95), (0.95, 0.65, 0.45), (0.6, 0.9, 0.55), (0.9, 0.55, 0.85), (0.95, 0.9, 0.5))


def _vertices(body_model: Any, params: dict[str, np.ndarray]) -> np.ndarray:
    """smplx forward of a few rows → (n, V, 3) vertices, metres, clip camera."""
    import torch

    with torch.inference_mode():
        out = body_model(**{k: torch.as_tensor(v, dtype=torch.float32) for k, v in params.items()})
    return out.vertices.numpy()


def overlay_frames(clip: MotionClip, frames: Iterator, body_model: Any,
                   hands_mean: tuple[np.ndarray, np.ndarray] | None = None) -> Iterator[np.ndarray]:
    """Rendered RGB frames: each `Frame` of the video with the people of the clip at that index drawn on it.

    Args:
        clip: the motion (its hand convention must match the body model's flat_hand_mean=False, or pass
            `hands_mean` to convert).
        frames: `core.video.Frame`s of the clip's source video.
        body_model: smplx SMPL-X module (flat_hand_mean=False).
        hands_mean: (hands_meanl, hands_meanr) when the clip stores absolute hand poses.
    """
    from .render import render_mesh

    faces = np.asarray(body_model.faces, dtype=np.int64)
    rows = []
    for track in clip.tracks:
        params = track.smplx_params()
        left, right = clip.relative_hand_poses(track, *(hands_mean or (None, None)))
        params["left_hand_pose"], params["right_hand_pose"] = left.reshape(-1, 45), right.reshape(-1, 45)
        rows.append(({int(f): i for i, f in enumerate(track.frames)}, params))
    for frame in frames:
        present = [(i, idx[frame.index], p) for i, (idx, p) in enumerate(rows) if frame.index in idx]
        if not present:
            yield frame.image
            continue
        verts = []
        for i, row, p in present:
            verts.append(_vertices(body_model, {k: v[row:row + 1] for k, v in p.items()})[0])
        colors = [PALETTE[clip.tracks[i].track_id % len(PALETTE)] for i, _, _ in present]
        yield render_mesh(frame.image, verts, faces, clip.focal, clip.princpt, color=colors, alpha=0.8)


def write_overlay(clip: MotionClip, video: str | Path, body_model: Any, out_path: Path, *, start: int = 0,
                  end: int | None = None, stride: int = 1,
                  progress: Callable[[str, int, int, str], None] | None = None) -> Path:
    """Render the overlay of `clip` over `video` into an H.264 file (atomic write)."""
    from .render import write_video
    from .video import open_video

    source = open_video(video, start=start, end=end, stride=stride)
    total = source.num_frames

    def counted() -> Iterator[np.ndarray]:
        for n, image in enumerate(overlay_frames(clip, iter(source), body_model), start=1):
            if progress:
                progress("overlay", n, total, "")
            yield image

    write_video(out_path, counted(), fps=source.fps / stride)
    return Path(out_path)
