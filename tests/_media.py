"""Small synthetic test media, written with PyAV's bundled libx264 (no ffmpeg binary needed).

Other test modules import these helpers: `write_video` writes any RGB frames (optionally with a phone-style rotation
display matrix or explicit variable-frame-rate timestamps), and `moving_shapes` makes frames of coloured rectangles
moving over a static textured background, together with the ground-truth boxes. `two_person_clip` renders two
mannequins crossing (one leaves and comes back) with their true boxes, and `FixtureDetector` hands known boxes to the
pipeline as a detector.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

ASSETS = Path(__file__).resolve().parents[1] / "assets"

# Display matrices as a phone writes them into the MP4 track header (16.16 fixed point, last column 2.30), applied as
# (p, q, 1) @ M in screen coordinates (y down). "cw90" is what an iPhone held upright writes (`rotate=90` in ffprobe):
# the stored landscape frame must be turned 90 degrees clockwise to be shown.
DISPLAY_MATRICES = {
    "cw90": [0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30],
    "ccw90": [0, -65536, 0, 65536, 0, 0, 0, 0, 1 << 30],
    "180": [-65536, 0, 0, 0, -65536, 0, 0, 0, 1 << 30],
}


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float = 30.0,
    rotation: str | None = None,
    vfr_times: Sequence[float] | None = None,
    crf: int = 18,
) -> Path:
    """Encode RGB frames to an H.264 MP4 with PyAV.

    Args:
        path: output file (.mp4).
        frames: HxWx3 uint8 RGB images, all the same even size.
        fps: nominal frame rate; frame i gets the time i / fps unless vfr_times is given.
        rotation: a key of DISPLAY_MATRICES written as the stream's display matrix, or None.
        vfr_times: explicit presentation times in seconds (strictly increasing, millisecond precision), one per frame.
        crf: x264 quality (lower is better).

    Returns:
        The path written.
    """
    import av

    path = Path(path)
    tb = Fraction(1, 1000)
    container = av.open(str(path), "w")
    try:
        stream = None
        for i, image in enumerate(frames):
            if stream is None:
                stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                stream.height, stream.width = image.shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf), "preset": "ultrafast"}
                stream.time_base = tb
                stream.codec_context.time_base = tb
                if rotation is not None:
                    stream.set_display_matrix(DISPLAY_MATRICES[rotation])
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            t = vfr_times[i] if vfr_times is not None else i / fps
            frame.pts = int(round(t * 1000))
            frame.time_base = tb
            container.mux(stream.encode(frame))
        if stream is not None:
            container.mux(stream.encode())
    finally:
        container.close()
    return path


def textured_background(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A static, smooth-ish random background (HxWx3 uint8) so a background model has something real to learn."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(40, 200, size=(height // 8 + 1, width // 8 + 1, 3)).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)[:height, :width])


def moving_shapes(
    num_frames: int,
    height: int = 240,
    width: int = 320,
    shapes: Sequence[dict] | None = None,
    seed: int = 0,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames of solid coloured rectangles moving linearly over a static textured background.

    Args:
        num_frames: number of frames.
        height, width: frame size in pixels.
        shapes: dicts with `size` (w, h) px, `start` (x, y) top-left px at frame 0, `velocity` (vx, vy) px/frame and
            `color` (r, g, b). The default is two rectangles moving in opposite directions.
        seed: background seed.

    Returns:
        frames: list of HxWx3 uint8 RGB images; boxes: list of (n_shapes, 4) float xyxy boxes (x2, y2 exclusive
        pixel edges), clipped to the image, one array per frame in the order of `shapes`.
    """
    if shapes is None:
        shapes = [
            dict(size=(40, 90), start=(20, 60), velocity=(6, 0), color=(230, 30, 30)),
            dict(size=(36, 80), start=(250, 120), velocity=(-5, -1), color=(30, 60, 230)),
        ]
    background = textured_background(height, width, seed)
    frames, boxes = [], []
    for t in range(num_frames):
        img = background.copy()
        frame_boxes = []
        for s in shapes:
            x = int(round(s["start"][0] + s["velocity"][0] * t))
            y = int(round(s["start"][1] + s["velocity"][1] * t))
            w, h = s["size"]
            x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
            if x2 > x1 and y2 > y1:
                img[y1:y2, x1:x2] = s["color"]
            frame_boxes.append([x1, y1, x2, y2])
        frames.append(img)
        boxes.append(np.asarray(frame_boxes, dtype=np.float64))
    return frames, boxes


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two xyxy boxes (continuous coordinates), computed directly for test checks."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class FixtureDetector:
    """Known boxes per decoded frame (looked up by the frame's content): the boxes' correctness without weights."""

    needs_fit = False

    def __init__(self, video: Path, boxes: list[np.ndarray]) -> None:
        from core.video import open_video

        self.by_key = {self._key(f.image): np.asarray(boxes[f.index], np.float32).reshape(-1, 5)
                       for f in open_video(video)}
        self.calls = 0

    @staticmethod
    def _key(image: np.ndarray) -> str:
        return hashlib.md5(np.ascontiguousarray(image[::4, ::4]).tobytes()).hexdigest()

    def detect(self, images: list[np.ndarray]) -> list[np.ndarray]:
        self.calls += len(images)
        return [self.by_key[self._key(im)] for im in images]


TWO_FRAMES = 90


def two_person_clip(model_dir: Path, out: Path) -> tuple[Path, list[np.ndarray]]:
    """Two mannequins doing the sample motion at 640×360: A (4 m away) walks right; B (5 m, behind A) walks left
    across A, leaves the picture at the left (frames ~45 to ~62) and comes back. Returns the video and, per frame,
    the true boxes (rows: x1, y1, x2, y2, 1, person) of the people more than 30% visible."""
    import torch

    from core.body import load_body_model, read_model_arrays
    from core.motion import MotionClip
    from core.render import rasterize, render_mesh, write_video

    track = MotionClip.load(ASSETS / "sample_motion.npz").tracks[0]
    body = load_body_model(model_dir, "neutral")
    faces = read_model_arrays(model_dir)["f"].astype(np.int64)
    t = np.arange(TWO_FRAMES)
    b_x = np.where(t < 62, 1.6 - 0.1 * t, -3.6 + 0.1 * (t - 62))
    places = {0: np.stack([-1.5 + 0.035 * t, np.full_like(t, 0.2, dtype=float), np.full_like(t, 4.0, dtype=float)], 1),
              1: np.stack([b_x, np.full_like(t, 0.2, dtype=float), np.full_like(t, 5.0, dtype=float)], 1)}
    params = track.select(np.arange(TWO_FRAMES) % len(track)).smplx_params()
    verts = {}
    with torch.no_grad():
        for who, transl in places.items():
            p = {k: torch.from_numpy(np.asarray(v, np.float32).reshape(TWO_FRAMES, -1)) for k, v in params.items()
                 if k != "transl"}
            verts[who] = body(**p, transl=torch.from_numpy(transl.astype(np.float32))).vertices.numpy()
    focal, princpt, size = np.array([600.0, 600.0]), np.array([319.5, 179.5]), (640, 360)
    rng = np.random.default_rng(5)
    background = np.clip(rng.normal(128, 30, (360, 640, 3)), 0, 255).astype(np.uint8)
    frames, boxes = [], []
    for i in range(TWO_FRAMES):
        frames.append(render_mesh(background, [verts[0][i], verts[1][i]], faces, focal, princpt,
                                  color=[(0.9, 0.5, 0.3), (0.3, 0.6, 0.9)]))
        seen = {w: rasterize(verts[w][i], faces, focal, princpt, size) for w in (0, 1)}
        rows = []
        for w in (0, 1):
            mask = seen[w][0] >= 0
            if not mask.any():
                continue
            visible = mask & (seen[w][2] <= seen[1 - w][2])
            if visible.sum() < 0.3 * mask.sum():
                continue
            ys, xs = np.nonzero(mask)
            rows.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, 1.0, w])
        boxes.append(np.array(rows, np.float64).reshape(-1, 6))
    video = out / "two_people.mp4"
    write_video(video, frames, 25.0, crf=18)
    return video, boxes
