"""The video's camera in Blender: intrinsics → lens/sensor/shift, the video as background, placed in the world.

The clip's people live in the video camera's frame (OpenCV: x right, y down, z forward, metres). The importer maps
that frame into the world with one 4×4 transform (the clip's `camera_to_world`: the camera at its height and pitch
above the floor; a guess when no floor is known; or rig.blender_from("opencv") with the camera at the origin), and
the camera object gets the same transform, so looking through it the meshes lie on the people in the video.
Pixel convention: OpenCV's (pixel centres at integer coordinates),
so the principal point of a centred camera is ((w − 1)/2, (h − 1)/2).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .rig import blender_from

SENSOR_WIDTH_MM = 36.0  # any value works (only lens/sensor matters); 36 mm is Blender's default full frame


@dataclass(frozen=True)
class CameraSettings:
    """Blender camera and render settings equivalent to a pinhole (fx, fy, cx, cy) for a w×h video."""

    lens: float
    sensor_width: float
    shift_x: float
    shift_y: float
    resolution_x: int
    resolution_y: int
    pixel_aspect_x: float
    pixel_aspect_y: float


def camera_settings(image_size, focal, princpt) -> CameraSettings:
    """Convert OpenCV intrinsics to Blender's camera model (sensor fit horizontal).

    Args:
        image_size: (w, h) pixels of the video.
        focal: (fx, fy) pixels.
        princpt: (cx, cy) pixels, OpenCV convention.

    Raises:
        ValueError: non-positive size or focal length.
    """
    w, h = (int(round(float(s))) for s in image_size)
    fx, fy = (float(f) for f in focal)
    cx, cy = (float(c) for c in princpt)
    if w <= 0 or h <= 0 or fx <= 0 or fy <= 0:
        raise ValueError(f"camera: image size {(w, h)} and focal {(fx, fy)} must be positive")
    # non-square pixels: a pixel is (1/fx) wide and (1/fy) tall in normalised image units
    aspect_x, aspect_y = (fy / fx, 1.0) if fy >= fx else (1.0, fx / fy)
    width = w * aspect_x  # Blender's shift unit: the larger side of the image in aspect-corrected pixels
    size = max(width, h * aspect_y)
    return CameraSettings(
        lens=fx * aspect_x * SENSOR_WIDTH_MM / width,
        sensor_width=SENSOR_WIDTH_MM,
        shift_x=(w / 2.0 - (cx + 0.5)) * aspect_x / size,
        shift_y=((cy + 0.5) - h / 2.0) * aspect_y / size,
        resolution_x=w,
        resolution_y=h,
        pixel_aspect_x=aspect_x,
        pixel_aspect_y=aspect_y,
    )


def camera_rotation() -> np.ndarray:
    """(3,3) world rotation of the Blender camera: OpenCV camera axes mapped into the world by rig.blender_from.

    A Blender camera looks along its local −Z with +Y up, i.e. OpenCV axes times diag(1, −1, −1).
    """
    return blender_from("opencv") @ np.diag([1.0, -1.0, -1.0])


def load_movie(video: str):
    """The video as a Blender movie clip whose frame f plays at scene frame f (the importer keys frame indices).

    Raises:
        ValueError: Blender cannot read the file.
    """
    import bpy

    try:
        movie = bpy.data.movieclips.load(os.fspath(video), check_existing=True)
    except RuntimeError as exc:
        raise ValueError(f"Blender cannot read the video {video!r} for the camera background ({exc})") from None
    if movie.frame_duration < 1:  # Blender "loads" undecodable files as an empty clip
        if movie.users == 0:
            bpy.data.movieclips.remove(movie)
        raise ValueError(f"Blender cannot read the video {video!r} for the camera background (no frames decoded)")
    movie.frame_start = 0
    return movie


def camera_matrix(camera_to_world: np.ndarray | None = None) -> np.ndarray:
    """(4,4) world matrix of the Blender camera object for an OpenCV camera → world transform (None: at the origin,
    rig.blender_from("opencv")). A Blender camera looks along its local −Z with +Y up: OpenCV axes × diag(1, −1, −1)."""
    out = np.eye(4)
    if camera_to_world is None:
        out[:3, :3] = camera_rotation()
        return out
    out[:3, :3] = np.asarray(camera_to_world, np.float64)[:3, :3] @ np.diag([1.0, -1.0, -1.0])
    out[:3, 3] = np.asarray(camera_to_world, np.float64)[:3, 3]
    return out


def create_camera(context, collection, clip, movie=None, name: str = "SMPLX-camera", camera_to_world=None):
    """Create the video camera (with `movie` as its background when given) and make it the scene camera.

    Args:
        clip: the MotionClip (image_size (w,h), focal (2,), princpt (2,) in pixels).
        movie: a movie clip from load_movie, shown behind the camera view.
        camera_to_world: (4,4) OpenCV camera → Blender world (see `camera_matrix`).
    """
    import bpy
    from mathutils import Matrix

    settings = camera_settings(clip.image_size, clip.focal, clip.princpt)
    data = bpy.data.cameras.new(name)
    data.sensor_fit = "HORIZONTAL"
    data.sensor_width = settings.sensor_width
    data.lens = settings.lens
    data.shift_x, data.shift_y = settings.shift_x, settings.shift_y
    data.clip_start, data.clip_end = 0.05, 1000.0
    cam = bpy.data.objects.new(name, data)
    collection.objects.link(cam)
    cam.matrix_world = Matrix(camera_matrix(camera_to_world).tolist())

    scene = context.scene
    scene.camera = cam
    render = scene.render
    render.resolution_x, render.resolution_y = settings.resolution_x, settings.resolution_y
    render.resolution_percentage = 100
    render.pixel_aspect_x, render.pixel_aspect_y = settings.pixel_aspect_x, settings.pixel_aspect_y
    if movie is not None:
        data.show_background_images = True
        background = data.background_images.new()
        background.source = "MOVIE_CLIP"
        background.clip = movie
        background.alpha = 1.0
        scene.active_clip = movie
    return cam
