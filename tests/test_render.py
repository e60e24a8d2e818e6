"""core.render: pixel coverage against hand projection, depth, occlusion, shading, and the H.264 writer."""

from __future__ import annotations

import time

import numpy as np
import pytest

from core.render import rasterize, render_mesh, write_video

FOCAL = np.array([500.0, 400.0])
PRINCPT = np.array([60.3, 40.7])
SIZE = (128, 96)  # width, height


def unproject(u: float, v: float, z: float) -> list[float]:
    """The camera-frame point at depth z that projects to pixel (u, v) (OpenCV pinhole, pixel centres at integers)."""
    return [(u - PRINCPT[0]) * z / FOCAL[0], (v - PRINCPT[1]) * z / FOCAL[1], z]


def inside_triangle(points_uv: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H,W) bool: pixel centres strictly inside a 2D triangle, by brute force with cross products."""
    ys, xs = np.mgrid[0:height, 0:width]
    signs = []
    for k in range(3):
        a, b = points_uv[k], points_uv[(k + 1) % 3]
        signs.append((b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0]))
    signs = np.stack(signs)
    return np.all(signs > 0, axis=0) | np.all(signs < 0, axis=0)


def test_single_triangle_covers_exactly_the_hand_projected_pixels():
    uv = np.array([[10.3, 12.6], [97.2, 30.1], [35.7, 80.4]])
    z = np.array([2.0, 3.0, 2.5])
    vertices = np.array([unproject(u, v, d) for (u, v), d in zip(uv, z)])
    face_id, bary, depth = rasterize(vertices, np.array([[0, 1, 2]]), FOCAL, PRINCPT, SIZE)
    expected = inside_triangle(uv, *SIZE)
    assert expected.sum() > 1500
    np.testing.assert_array_equal(face_id >= 0, expected)
    # depth at covered pixels: intersect each pixel's ray with the triangle's plane (independent computation)
    normal = np.cross(vertices[1] - vertices[0], vertices[2] - vertices[0])
    ys, xs = np.nonzero(expected)
    rays = np.stack([(xs - PRINCPT[0]) / FOCAL[0], (ys - PRINCPT[1]) / FOCAL[1], np.ones(len(xs))], axis=1)
    t = (normal @ vertices[0]) / (rays @ normal)
    np.testing.assert_allclose(depth[ys, xs], t, rtol=1e-9)
    # perspective-correct barycentrics reproduce the 3D point on the ray
    points = bary[ys, xs] @ vertices
    np.testing.assert_allclose(points, rays * t[:, None], atol=1e-9)
    assert np.all(np.isinf(depth[~expected]))


def cube(center, half: float) -> tuple[np.ndarray, np.ndarray]:
    """An axis-aligned cube: 8 vertices, 12 outward triangles."""
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float) * half + center
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    faces = [[a, b, c] for a, b, c, d in quads] + [[a, c, d] for a, b, c, d in quads]
    return corners, np.array(faces)


def test_cube_silhouette_is_its_front_face():
    z_front = 2.0
    center = np.array(unproject(60.0, 45.0, z_front + 0.25))  # centred near the axis: the sides are hidden
    vertices, faces = cube(center, 0.25)
    face_id, _, depth = rasterize(vertices, faces, FOCAL, PRINCPT, SIZE)
    # front face x ∈ [cx-.25, cx+.25] at z=2 projects to an axis-aligned rectangle
    u0, u1 = FOCAL[0] * (center[0] - 0.25) / z_front + PRINCPT[0], FOCAL[0] * (center[0] + 0.25) / z_front + PRINCPT[0]
    v0, v1 = FOCAL[1] * (center[1] - 0.25) / z_front + PRINCPT[1], FOCAL[1] * (center[1] + 0.25) / z_front + PRINCPT[1]
    ys, xs = np.mgrid[0 : SIZE[1], 0 : SIZE[0]]
    expected = (xs >= u0) & (xs <= u1) & (ys >= v0) & (ys <= v1)
    assert 0 < expected.sum() < face_id.size
    np.testing.assert_array_equal(face_id >= 0, expected)
    np.testing.assert_allclose(depth[expected], z_front, rtol=1e-9)
    front = {i for i, f in enumerate(faces) if np.allclose(vertices[f, 2], z_front)}
    assert set(np.unique(face_id[expected])) == front


def test_nearer_triangle_occludes_farther_in_either_order_and_across_meshes():
    uv = np.array([[5.2, 5.3], [120.1, 8.4], [60.6, 90.2]])
    near = np.array([unproject(u, v, 2.0) for u, v in uv])
    far = np.array([unproject(u + 8, v + 3, 4.0) for u, v in uv])
    tri = np.array([[0, 1, 2]])
    background = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    red, green = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)
    for order in ((near, far, red, green), (far, near, green, red)):
        out = render_mesh(background, [order[0], order[1]], tri, FOCAL, PRINCPT, color=[order[2], order[3]], ambient=1.0)
        near_px = inside_triangle(uv, *SIZE)
        far_px = inside_triangle(uv + [8, 3], *SIZE)
        assert (near_px & far_px).sum() > 500
        assert np.all(out[near_px] == [255, 0, 0])  # red wherever the near triangle is, overlap included
        assert np.all(out[far_px & ~near_px] == [0, 255, 0])
        assert np.all(out[~near_px & ~far_px] == 0)
    # the same with one mesh holding both triangles
    both = np.concatenate([far, near])
    face_id, _, _ = rasterize(both, np.array([[0, 1, 2], [3, 4, 5]]), FOCAL, PRINCPT, SIZE)
    assert np.all(face_id[inside_triangle(uv, *SIZE)] == 1)


def test_shading_alpha_and_background():
    vertices, faces = cube(np.array(unproject(64.0, 48.0, 3.0)), 0.2)
    background = np.full((SIZE[1], SIZE[0], 3), 100, np.uint8)
    before = background.copy()
    opaque = render_mesh(background, vertices, faces, FOCAL, PRINCPT, color=(1.0, 1.0, 1.0), alpha=1.0, ambient=0.0)
    np.testing.assert_array_equal(background, before)  # input untouched
    mask = np.any(opaque != 100, axis=2)
    # the front face looks straight at the camera: Lambert term = cos of the view angle, about 1 near the centre
    assert opaque[48, 64, 0] >= 250
    half = render_mesh(background, vertices, faces, FOCAL, PRINCPT, color=(1.0, 1.0, 1.0), alpha=0.5, ambient=0.0)
    np.testing.assert_allclose(half[mask].astype(float), 0.5 * 100 + 0.5 * opaque[mask].astype(float), atol=1.0)
    assert np.all(half[~mask] == 100)
    nothing = render_mesh(background, vertices - [0, 0, 10], faces, FOCAL, PRINCPT)  # behind the camera
    np.testing.assert_array_equal(nothing, background)


def test_render_rejects_bad_arguments():
    image = np.zeros((10, 10, 3), np.uint8)
    vertices, faces = cube(np.array([0.0, 0.0, 2.0]), 0.1)
    with pytest.raises(ValueError, match="image_rgb"):
        render_mesh(np.zeros((10, 10)), vertices, faces, FOCAL, PRINCPT)
    with pytest.raises(ValueError, match="color"):
        render_mesh(image, [vertices, vertices], faces, FOCAL, PRINCPT, color=[(1, 0, 0)] * 3)
    with pytest.raises(ValueError, match="faces"):
        render_mesh(image, [vertices, vertices], [faces], FOCAL, PRINCPT)


def _sphere_mesh(n: int = 72) -> tuple[np.ndarray, np.ndarray]:
    """A UV sphere with about n² vertices and 2n² faces."""
    th, ph = np.meshgrid(np.linspace(0, np.pi, n), np.linspace(0, 2 * np.pi, n, endpoint=False), indexing="ij")
    vertices = np.stack([np.sin(th) * np.cos(ph), np.cos(th), np.sin(th) * np.sin(ph)], -1).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(n - 1), np.arange(n), indexing="ij")
    a, b = i * n + j, i * n + (j + 1) % n
    faces = np.concatenate([np.stack([a, a + n, b], -1).reshape(-1, 3), np.stack([b, a + n, b + n], -1).reshape(-1, 3)])
    return vertices, faces


def test_render_speed_10k_vertices_at_640x480():
    vertices, faces = _sphere_mesh(100)  # 10,000 vertices, 19,800 faces
    vertices = vertices * [0.5, 0.9, 0.4] + [0, 0, 2.5]
    image = np.zeros((480, 640, 3), np.uint8)
    render_mesh(image, vertices, faces, [500, 500], [320, 240])  # warm-up
    start = time.perf_counter()
    out = render_mesh(image, vertices, faces, [500, 500], [320, 240])
    elapsed = time.perf_counter() - start
    print(f"render_mesh 10k verts / 20k faces, 640x480: {elapsed * 1000:.1f} ms")
    assert np.any(out > 0, axis=2).sum() > 20000
    assert elapsed < 1.0  # generous for a shared CI machine; tens of ms when idle


def test_write_video_round_trip(tmp_path):
    av = pytest.importorskip("av")
    frames = [np.full((49, 65, 3), (40 * k, 100, 200 - 30 * k), np.uint8) for k in range(6)]
    path = tmp_path / "sub" / "out.mp4"
    assert write_video(path, iter(frames), 25.0) == 6
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name in ("h264", "libx264")
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        assert float(stream.average_rate) == pytest.approx(25.0)
    assert len(decoded) == 6
    assert decoded[0].shape == (50, 66, 3)  # padded to even sizes
    for got, want in zip(decoded, frames):
        assert np.abs(got[:49, :65].astype(int) - want.astype(int)).mean() < 6
    assert [p.name for p in path.parent.iterdir()] == ["out.mp4"]


def test_write_video_errors_leave_no_file(tmp_path):
    path = tmp_path / "bad.mp4"

    def frames():
        yield np.zeros((48, 64, 3), np.uint8)
        yield np.zeros((32, 64, 3), np.uint8)  # size changes midway

    with pytest.raises(ValueError, match="frame 1 is 64x32"):
        write_video(path, frames(), 30)
    with pytest.raises(ValueError, match="no frames"):
        write_video(path, iter([]), 30)
    with pytest.raises(ValueError, match="suffix"):
        write_video(tmp_path / "x.gif", iter([np.zeros((4, 4, 3), np.uint8)]), 30)
    assert list(tmp_path.iterdir()) == []
