"""MotionClip → SMPL-X rigs, actions and the video camera, synchronously (operators and batch mode call this).

Everything that can fail on bad input (reading the clip, the options, the model files, the video path, the numbers
of every track) runs before the first change to the scene, so a failed import leaves the scene untouched.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, fields

import numpy as np

from . import animate, camera, core_module, rig

log = logging.getLogger(__name__)

_TRACK_FIELDS = {  # attribute → trailing shape, for the arrays the import reads
    "global_orient": (3,), "body_pose": (21, 3), "left_hand_pose": (15, 3), "right_hand_pose": (15, 3),
    "jaw_pose": (3,), "betas": (rig.NUM_BETAS,), "expression": (rig.NUM_EXPRESSION,), "transl": (3,),
}


@dataclass(frozen=True)
class ImportOptions:
    """Plain options of one import (operators and batch build this from their own settings).

    Attributes:
        people: "all" or "largest" (the most prominent person: core.track.summed_box_area, as the conversion).
        track_ids: import only these track ids (overrides `people`).
        pose_correctives: add the 486 pose-corrective shape keys, keyed per frame (slow; off by default).
        create_camera: add the video camera (and the video as its background when `video` is set).
        video: the video file for the camera background.
        frame_range: (first, last) video frames to import, inclusive; None = the whole clip.
        name: prefix of the created objects and of the collection.
        timeline: "start" puts the first imported frame on scene frame 1 (Blender's convention); "video" keeps the
            video's own numbering, video frame f (0-based) on scene frame f + 1, as Blender numbers a movie's frames.
    """

    people: str = "all"
    track_ids: tuple | None = None
    pose_correctives: bool = False
    create_camera: bool = True
    video: str | None = None
    frame_range: tuple | None = None
    name: str = "SMPLX"
    timeline: str = "start"


TIMELINES = ("start", "video")


def parse_options(options: dict) -> ImportOptions:
    """ImportOptions from keyword options, with ValueError naming an unknown option or a bad value."""
    known = {f.name for f in fields(ImportOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown import option(s) {unknown}; known: {sorted(known)}")
    opts = ImportOptions(**options)
    if opts.people not in ("all", "largest"):
        raise ValueError(f"people must be 'all' or 'largest', got {opts.people!r}")
    if opts.timeline not in TIMELINES:
        raise ValueError(f"timeline must be one of {TIMELINES}, got {opts.timeline!r}")
    if opts.frame_range is not None:
        first, last = (int(v) for v in opts.frame_range)
        if last < first:
            raise ValueError(f"frame_range {opts.frame_range}: last frame before first")
    if opts.video and not os.path.isfile(opts.video):
        raise FileNotFoundError(f"video {opts.video!r} not found (needed for the camera background)")
    return opts


@dataclass
class _Plan:
    """Everything computed before touching the scene for one track."""

    track_id: int
    gender: str
    model: rig.BodyModel
    betas: np.ndarray
    rest_joints: np.ndarray
    curves: animate.TrackCurves


def import_clip(context, clip_or_path, model_dir, **options) -> list:
    """Import a MotionClip (object or .npz path) as one animated SMPL-X rig per person.

    Args:
        context: bpy.context (its scene receives the rigs and gets the clip's fps and frame range).
        clip_or_path: a core.motion.MotionClip or the path of one saved with `.save`.
        model_dir: SMPL-X model directory (`smplx/SMPLX_<GENDER>.npz`).
        **options: see ImportOptions.

    Returns:
        The created armature objects, one per imported track, in track order.

    Raises:
        FileNotFoundError: the clip, a model file or the video is missing.
        ValueError: malformed clip or options, or no person to import.
    """
    opts = parse_options(options)
    clip = _load_clip(clip_or_path)
    plans = _plan(clip, model_dir, opts)
    offset = scene_frame_offset(clip, opts)
    if opts.create_camera:
        camera.camera_settings(clip.image_size, clip.focal, clip.princpt)  # ValueError on bad intrinsics

    import bpy

    scene = context.scene
    movie = None
    if opts.create_camera:
        video = opts.video or _existing_file(getattr(clip, "source", ""))
        movie = camera.load_movie(video) if video else None  # first: an unreadable video changes nothing
        if movie is not None:
            movie.frame_start = offset  # video frame f shows on scene frame f + offset, as the keys
    if context.mode != "OBJECT" and context.view_layer.objects.active is not None:
        bpy.ops.object.mode_set(mode="OBJECT")  # building bones switches the new armature to edit mode
    collection = bpy.data.collections.new(opts.name)
    scene.collection.children.link(collection)
    armatures = []
    for plan in plans:
        name = f"{opts.name}-{plan.track_id}"
        built = rig.build_rig(context, collection, plan.model, plan.betas, name, opts.pose_correctives)
        built.armature["smplx_track_id"] = plan.track_id
        built.armature["smplx_gender"] = plan.gender
        curves = dataclasses.replace(plan.curves, frames=plan.curves.frames + offset)
        animate.write_armature_action(built.armature, curves, plan.model.joint_names, f"{name}-motion")
        animate.write_shape_key_action(built.mesh, curves, f"{name}-face")
        armatures.append(built.armature)
    _set_scene_timing(scene, clip, opts, offset)
    if opts.create_camera:
        camera.create_camera(context, collection, clip, movie, name=f"{opts.name}-camera")
    log.info("imported %d SMPL-X rig(s)", len(armatures))
    return armatures


def _load_clip(clip_or_path):
    """The MotionClip itself, or loaded from its path (core.motion raises on a missing or malformed file)."""
    if isinstance(clip_or_path, (str, os.PathLike)):
        path = os.fspath(clip_or_path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"motion clip {path!r} not found (expected a .npz written by `python -m core "
                                    f"convert`)")
        return core_module("motion").MotionClip.load(path)
    for attr in ("fps", "tracks", "hands_include_mean"):
        if not hasattr(clip_or_path, attr):
            raise ValueError(f"not a MotionClip: {type(clip_or_path).__name__} has no {attr!r}")
    return clip_or_path


def _existing_file(path: str) -> str | None:
    """`path` if it names an existing file (the clip's recorded source video may have moved), else None."""
    return path if path and os.path.isfile(path) else None


def _check_track(track) -> None:
    """ValueError naming the track, field, expected and actual shape of any malformed array."""
    frames = np.asarray(getattr(track, "frames", None))
    tid = getattr(track, "track_id", "?")
    if frames.ndim != 1 or len(frames) == 0 or np.any(np.diff(frames) <= 0):
        raise ValueError(f"track {tid}: frames must be a non-empty, strictly increasing (N,) array")
    for name, trailing in _TRACK_FIELDS.items():
        value = getattr(track, name, None)
        shape = np.shape(value) if value is not None else None
        if shape is None or shape[0] != len(frames) or int(np.prod(shape[1:])) != int(np.prod(trailing)):
            raise ValueError(f"track {tid}: {name} has shape {shape}, expected {(len(frames), *trailing)}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"track {tid}: {name} contains NaN or inf")


def _select_tracks(clip, opts: ImportOptions) -> list:
    """The tracks to import (ids, largest mean box, or all), each cut to the frame range."""
    tracks = list(clip.tracks)
    if opts.track_ids is not None:
        wanted = {int(t) for t in opts.track_ids}
        tracks = [t for t in tracks if int(t.track_id) in wanted]
    elif opts.people == "largest" and tracks:
        summed_box_area = core_module("track").summed_box_area
        tracks = [max(tracks, key=lambda t: summed_box_area(t.boxes))]
    if opts.frame_range is not None:
        first, last = (int(v) for v in opts.frame_range)
        tracks = [_cut(t, first, last) for t in tracks]
        tracks = [t for t in tracks if t is not None]
    if not tracks:
        raise ValueError("nothing to import: the clip has no person track for these options "
                         f"(people={opts.people!r}, track_ids={opts.track_ids}, frame_range={opts.frame_range})")
    return tracks


def _cut(track, first: int, last: int):
    """The track's frames within [first, last] (MotionTrack.select), or None when none are."""
    frames = np.asarray(track.frames)
    keep = (frames >= first) & (frames <= last)
    return track.select(keep) if keep.any() else None


def _plan(clip, model_dir, opts: ImportOptions) -> list:
    """Check the clip and compute every track's numbers (no bpy changes)."""
    if not (float(clip.fps) > 0):
        raise ValueError(f"clip fps must be > 0, got {clip.fps}")
    for track in clip.tracks:
        _check_track(track)
    tracks = _select_tracks(clip, opts)
    models = {}
    plans = []
    for track in tracks:
        gender = str(getattr(track, "gender", "neutral") or "neutral").lower()
        if gender not in models:
            models[gender] = rig.load_body_model(model_dir, gender)
        model = models[gender]
        # the rest pose must be fixed: one shape per person, by the rule smoothing uses (weighted median)
        betas = core_module("smooth").track_shape(track, clip.image_size)
        rest = model.rest_joints(betas)
        curves = animate.track_curves(track, model, rest, bool(clip.hands_include_mean), opts.pose_correctives)
        plans.append(_Plan(int(track.track_id), gender, model, betas, rest, curves))
    return plans


def scene_frame_offset(clip, opts: ImportOptions) -> int:
    """What to add to a video frame index to get its scene frame. "start": the first converted frame (the frame
    range's first, else where the conversion started, recorded in the clip) lands on scene frame 1; "video": video
    frame f lands on f + 1, Blender's numbering of a movie's frames."""
    if opts.timeline == "video":
        return 1
    first = opts.frame_range[0] if opts.frame_range is not None else clip.metadata.get("start", 0)
    return 1 - int(first)


def _set_scene_timing(scene, clip, opts: ImportOptions, offset: int) -> None:
    """Scene fps from the clip (fractional rates via fps_base); the frame range covers the converted frames (from
    where the conversion started, or the frame range asked for) shifted by `offset`."""
    fps = float(clip.fps)
    scene.render.fps = max(1, int(round(fps)))
    scene.render.fps_base = scene.render.fps / fps
    first, last = int(clip.metadata.get("start", 0)), int(clip.num_frames) - 1
    if opts.frame_range is not None:
        first, last = max(first, int(opts.frame_range[0])), min(last, int(opts.frame_range[1]))
    scene.frame_start, scene.frame_end = first + offset, max(first, last) + offset
    scene.frame_set(scene.frame_start)
