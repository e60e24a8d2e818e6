"""Headless CPU mesh overlay renderer and H.264 video writer (the original SMPLer-X `main/render.py` feature).

The original renders with pyrender/OpenGL, which needs EGL or OSMesa. This is a numpy z-buffer rasteriser, so it
runs anywhere core runs (reference/dependency_notes.md §6: a 10k-vertex/20k-face mesh at 640×480 in tens of ms).

Camera: OpenCV pinhole (x right, y down, z forward, metres); pixel (col, row) has its centre at integer
coordinates (col, row), the convention of `focal`/`princpt` in a MotionClip. A pixel is covered by a triangle when
its centre lies inside the projected triangle (triangles reaching behind the near plane, 1 mm, are skipped, not
clipped). Shading is two-sided Lambert with smooth (vertex-normal) shading and a light at the camera, plus ambient.

Rasterisation is vectorised as scanlines: for every (triangle, pixel row) pair the covered x-interval follows
from the three edge functions in closed form, so the work is proportional to rows + covered pixels (long thin
triangles cost no more than compact ones); the nearest candidate per pixel wins (np.maximum.at on 1/z).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from .atomic import atomic_write

__all__ = ["render_mesh", "rasterize", "write_video", "DEFAULT_COLOR"]

logger = logging.getLogger(__name__)

DEFAULT_COLOR = (0.62, 0.73, 0.86)  # RGB in [0,1], the light blue the original overlay uses
_NEAR = 1e-3  # metres: triangles with a vertex closer than this (or behind the camera) are skipped


def _project(vertices: np.ndarray, focal: np.ndarray, princpt: np.ndarray) -> np.ndarray:
    """(V,3) camera-frame metres → (V,2) pixel coordinates (pixel centres at integers)."""
    z = np.where(np.abs(vertices[:, 2]) < 1e-12, 1e-12, vertices[:, 2])
    return np.stack([focal[0] * vertices[:, 0] / z + princpt[0], focal[1] * vertices[:, 1] / z + princpt[1]], axis=1)


def rasterize(
    vertices: np.ndarray, faces: np.ndarray, focal: Sequence[float], princpt: Sequence[float], size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z-buffer rasterisation of one triangle mesh.

    Args:
        vertices: (V,3) float, metres, OpenCV camera.
        faces: (F,3) int vertex indices.
        focal: (fx, fy) pixels.
        princpt: (cx, cy) pixels.
        size: (width, height) of the image in pixels.

    Returns:
        face_id: (H,W) int64, the visible face per pixel or -1.
        bary: (H,W,3) float64 perspective-correct barycentric weights of the visible face (0 where none).
        depth: (H,W) float64 metres (inf where none).
    """
    width, height = size
    face_id = np.full((height, width), -1, np.int64)
    bary = np.zeros((height, width, 3))
    depth = np.full((height, width), np.inf)
    pix, face, weights, z = _rasterize_sparse(vertices, faces, focal, princpt, size)
    face_id.reshape(-1)[pix] = face
    bary.reshape(-1, 3)[pix] = weights
    depth.reshape(-1)[pix] = z
    return face_id, bary, depth


def _rasterize_sparse(
    vertices: np.ndarray, faces: np.ndarray, focal: Sequence[float], princpt: Sequence[float], size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`rasterize` for the covered pixels only: flat pixel index (K,), face (K,), barycentrics (K,3), depth (K,)."""
    width, height = size
    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces, np.int64)
    focal = np.asarray(focal, np.float64)
    princpt = np.asarray(princpt, np.float64)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3)), np.zeros(0))
    if len(faces) == 0:
        return empty

    uv = _project(vertices, focal, princpt)
    tri_uv = uv[faces]  # (F,3,2)
    tri_z = vertices[faces, 2]  # (F,3)
    (x0, y0), (x1, y1), (x2, y2) = tri_uv[:, 0].T, tri_uv[:, 1].T, tri_uv[:, 2].T
    # edge functions E_k(x, y) = a_k x + b_k y + c_k; E_k / area is the barycentric weight of vertex k
    a = np.stack([y1 - y2, y2 - y0, y0 - y1], axis=1)
    b = np.stack([x2 - x1, x0 - x2, x1 - x0], axis=1)
    c = np.stack([x1 * y2 - x2 * y1, x2 * y0 - x0 * y2, x0 * y1 - x1 * y0], axis=1)
    area = c.sum(1)  # twice the signed screen area
    ymin = np.maximum(np.ceil(tri_uv[..., 1].min(1)), 0)
    ymax = np.minimum(np.floor(tri_uv[..., 1].max(1)), height - 1)
    xmin = np.maximum(tri_uv[..., 0].min(1), 0)
    xmax = np.minimum(tri_uv[..., 0].max(1), width - 1)
    keep = (tri_z.min(1) > _NEAR) & (np.abs(area) > 1e-12) & (ymax >= ymin) & (xmax >= xmin)
    tri = np.flatnonzero(keep)
    if len(tri) == 0:
        return empty

    # one entry per (triangle, pixel row) it spans
    rows_per_tri = (ymax[tri] - ymin[tri] + 1).astype(np.int64)
    row_tri = np.repeat(tri, rows_per_tri)
    row_y = ymin[row_tri] + (np.arange(len(row_tri)) - np.repeat(np.cumsum(rows_per_tri) - rows_per_tri, rows_per_tri))
    # on a row, inside ⇔ s·(a_k x + b_k y + c_k) >= 0 for all k: an interval [lo, hi] of x
    sign = np.sign(area[row_tri])[:, None]
    slope = sign * a[row_tri]
    offset = sign * (b[row_tri] * row_y[:, None] + c[row_tri])
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = -offset / slope
    lo = np.max(np.where(slope > 0, bound, -np.inf), axis=1)
    hi = np.min(np.where(slope < 0, bound, np.inf), axis=1)
    flat_out = np.any((slope == 0) & (offset < 0), axis=1)
    eps = 1e-9  # pixel centres exactly on a shared edge go to both triangles, never to neither
    lo = np.ceil(np.maximum(lo - eps, xmin[row_tri]))
    hi = np.floor(np.minimum(hi + eps, xmax[row_tri]))
    count = np.where(flat_out, 0, np.maximum(hi - lo + 1, 0)).astype(np.int64)

    # one entry per candidate pixel
    pix_row = np.repeat(np.arange(len(row_tri)), count)
    px = lo[pix_row] + (np.arange(len(pix_row)) - np.repeat(np.cumsum(count) - count, count))
    py = row_y[pix_row]
    f = row_tri[pix_row]
    if len(f) == 0:
        return empty
    # 1/z is affine in screen space: 1/z = Σ_k E_k / (area z_k) = p x + q y + r per triangle
    inv = 1.0 / (area[tri, None] * tri_z[tri])
    p, q, r = (np.zeros(len(faces)) for _ in range(3))
    p[tri], q[tri], r[tri] = (a[tri] * inv).sum(1), (b[tri] * inv).sum(1), (c[tri] * inv).sum(1)
    inv_z = p[f] * px + q[f] * py + r[f]
    pix = (py * width + px).astype(np.int64)
    nearest = np.zeros(width * height)
    np.maximum.at(nearest, pix, inv_z)  # z-buffer (as 1/z; 0 = empty)
    win = np.flatnonzero(inv_z >= nearest[pix])
    owner = np.full(width * height, -1, np.int64)
    owner[pix[win]] = f[win]  # ties (shared edges at equal depth): any of them
    covered = np.flatnonzero(owner >= 0)
    fw = owner[covered]
    wx, wy = (covered % width).astype(np.float64), (covered // width).astype(np.float64)
    sb = (a[fw] * wx[:, None] + b[fw] * wy[:, None] + c[fw]) / area[fw, None]  # screen-space barycentrics
    pc = sb / tri_z[fw]
    inv_zw = pc.sum(1)
    return covered, fw, pc / inv_zw[:, None], 1.0 / inv_zw  # perspective-correct barycentrics, depth


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V,3) unit area-weighted vertex normals."""
    tri = vertices[faces]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_n)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def render_mesh(
    image_rgb: np.ndarray,
    vertices_cam: np.ndarray | Sequence[np.ndarray],
    faces: np.ndarray | Sequence[np.ndarray],
    focal: Sequence[float],
    princpt: Sequence[float],
    *,
    color: Sequence[float] | Sequence[Sequence[float]] = DEFAULT_COLOR,
    alpha: float = 1.0,
    ambient: float = 0.35,
) -> np.ndarray:
    """Draws one or several meshes over an image, with correct mutual occlusion.

    Args:
        image_rgb: (H,W,3) uint8 RGB background (not modified).
        vertices_cam: (V,3) float metres in the OpenCV camera, or a list of them (one per person).
        faces: (F,3) int, shared by all meshes, or a list with one per mesh.
        focal: (fx, fy) pixels.
        princpt: (cx, cy) pixels.
        color: RGB in [0,1], one for all meshes or one per mesh.
        alpha: opacity of the meshes over the image, in [0,1].
        ambient: share of light that does not depend on the surface direction.

    Returns:
        (H,W,3) uint8 RGB image.
    """
    image = np.asarray(image_rgb)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image_rgb: expected shape (H, W, 3), got {image.shape}")
    meshes = [vertices_cam] if isinstance(vertices_cam, np.ndarray) and vertices_cam.ndim == 2 else list(vertices_cam)
    face_list = [faces] * len(meshes) if isinstance(faces, np.ndarray) and faces.ndim == 2 else list(faces)
    if len(face_list) != len(meshes):
        raise ValueError(f"faces: got {len(face_list)} face arrays for {len(meshes)} meshes")
    colors = np.asarray(color, np.float64)
    colors = np.broadcast_to(colors, (len(meshes), 3)) if colors.ndim == 1 else colors
    if colors.shape != (len(meshes), 3):
        raise ValueError(f"color: expected (3,) or ({len(meshes)}, 3), got {colors.shape}")
    if not meshes:
        return image.copy()

    # one combined mesh: offsets for the faces, a mesh id per face
    all_v, all_f, mesh_of_face, offset = [], [], [], 0
    for m, (v, f) in enumerate(zip(meshes, face_list)):
        v = np.asarray(v, np.float64)
        f = np.asarray(f, np.int64)
        if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
            raise ValueError(f"mesh {m}: expected vertices (V,3) and faces (F,3), got {v.shape} and {f.shape}")
        all_v.append(v)
        all_f.append(f + offset)
        mesh_of_face.append(np.full(len(f), m))
        offset += len(v)
    vertices, faces_all, mesh_of_face = np.concatenate(all_v), np.concatenate(all_f), np.concatenate(mesh_of_face)

    height, width = image.shape[:2]
    pix, f, bary, _ = _rasterize_sparse(vertices, faces_all, focal, princpt, (width, height))
    out = image.copy()
    if len(pix) == 0:
        return out
    corners = faces_all[f]  # (K,3)
    normals = _vertex_normals(vertices, faces_all)
    n = np.einsum("kj,kjc->kc", bary, normals[corners])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    # direction from the surface point to the camera (light at the camera)
    points = np.einsum("kj,kjc->kc", bary, vertices[corners])
    view = points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)
    lambert = np.abs(np.einsum("kc,kc->k", n, view))  # two-sided
    shade = (ambient + (1 - ambient) * lambert)[:, None] * colors[mesh_of_face[f]]
    flat = out.reshape(-1, 3)
    flat[pix] = np.clip(np.rint((1 - alpha) * flat[pix] + alpha * 255.0 * shade), 0, 255).astype(np.uint8)
    return out


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float, *, crf: int = 20) -> int:
    """Encodes RGB frames as H.264 (libx264, yuv420p) with PyAV; atomic (temp file, then rename).

    Odd widths/heights are padded by one edge pixel (yuv420p needs even sizes).

    Args:
        path: output file (.mp4, .mkv, .mov; the container comes from the suffix).
        frames: iterable of (H,W,3) uint8 RGB, all the same size.
        fps: frame rate (> 0).
        crf: x264 quality (lower is better).

    Returns:
        The number of frames written.

    Raises:
        ValueError: no frames, bad fps, or frames of differing or wrong shapes.
    """
    import av

    if not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"write_video: fps must be > 0, got {fps}")
    rate = Fraction(fps).limit_denominator(1001)
    container_format = _container_format(Path(path))
    count = 0

    def encode(f) -> None:
        nonlocal count
        with av.open(f, "w", format=container_format) as container:
            stream = None
            for frame in frames:
                frame = np.asarray(frame)
                if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                    raise ValueError(f"write_video: frame {count}: expected (H,W,3) uint8, got {frame.shape} {frame.dtype}")
                pad = ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0))
                frame = np.pad(frame, pad, mode="edge") if any(p[1] for p in pad) else frame
                if stream is None:
                    stream = container.add_stream("libx264", rate=rate)
                    stream.width, stream.height = frame.shape[1], frame.shape[0]
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": str(crf)}
                elif (frame.shape[1], frame.shape[0]) != (stream.width, stream.height):
                    raise ValueError(
                        f"write_video: frame {count} is {frame.shape[1]}x{frame.shape[0]} after padding, the first was"
                        f" {stream.width}x{stream.height}"
                    )
                container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
                count += 1
            if stream is None:
                raise ValueError("write_video: no frames to write")
            container.mux(stream.encode())

    atomic_write(path, encode)
    logger.info("wrote %d frames to %s", count, path)
    return count


def _container_format(path: Path) -> str:
    """PyAV container name for a file suffix (the temp file's name cannot be used to guess it)."""
    formats = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}
    try:
        return formats[path.suffix.lower()]
    except KeyError:
        raise ValueError(f"write_video: unsupported suffix {path.suffix!r} for {path}; use one of {sorted(formats)}") from None
