"""MotionClip → SMPL-X rigs, actions and the video camera, synchronously (operators and batch mode call this).

Everything that can fail on bad input (reading the clip, the options, the model files, the video path, the numbers
of every track) runs before the first change to the scene, so a failed import leaves the scene untouched.

World placement (`world="floor"`, the default): the clip's `camera_to_world` (core/ground: Z up, floor Z = 0, the
first person starting near the origin) places the people and the camera at its height and pitch above a floor plane;
a clip without a floor gets a level camera at the first person's distance and a guessed floor under their standing
feet (`core.ground.guess_camera_to_world`), never the camera at the world origin. `world="camera"` keeps the video
camera at the origin (the raw camera frame). Per-foot contacts are keyed as the armature's custom properties
`smplx_contact_left` / `smplx_contact_right`; `leg_ik=True` adds an IK constraint per leg whose influence follows them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, fields

import numpy as np

from . import animate, camera, core_module, rig

log = logging.getLogger(__name__)

MAX_SCENE_FRAME = 1_048_574  # Blender's MAXFRAME: the last frame a scene can have

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
        world: "floor" (people and camera above the clip's floor, or a guessed one) or "camera" (the video camera at
            the world origin).
        floor_plane: add a wireframe floor plane at Z = 0 under the people (world="floor" only).
        hide_default_cube: hide Blender's untouched startup cube, which would stand over the person's legs at the
            origin (world="floor" only).
        leg_ik: add an IK constraint per leg (ankle, knee, hip) towards an empty keyed where the clip puts the ankle,
            its influence keyed 1 during that foot's contacts and 0 elsewhere (move the empty to re-plant the foot).
    """

    people: str = "all"
    track_ids: tuple | None = None
    pose_correctives: bool = False
    create_camera: bool = True
    video: str | None = None
    frame_range: tuple | None = None
    name: str = "SMPLX"
    timeline: str = "start"
    world: str = "floor"
    floor_plane: bool = True
    leg_ik: bool = False
    hide_default_cube: bool = True


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
    if opts.world not in ("floor", "camera"):
        raise ValueError(f"world must be 'floor' or 'camera', got {opts.world!r}")
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
    track: object


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
    world, floor_kind = _world(clip, model_dir, opts)
    plans = _plan(clip, model_dir, opts, world)
    offset = scene_frame_offset(clip, opts)
    if opts.create_camera:
        camera.camera_settings(clip.image_size, clip.focal, clip.princpt)  # ValueError on bad intrinsics

    import bpy

    scene = context.scene
    before = _snapshot(bpy, scene)
    try:
        return _build(context, bpy, clip, plans, opts, offset, model_dir, world, floor_kind)
    except BaseException:
        _restore(bpy, scene, before)  # the promise: a failed import leaves the scene as it was
        raise


def _build(context, bpy, clip, plans: list, opts: ImportOptions, offset: int, model_dir, world,
           floor_kind) -> list:
    """Create the rigs, actions and camera of checked plans (any failure is undone by the caller)."""
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
        _, bag = animate.write_armature_action(built.armature, curves, plan.model.joint_names, f"{name}-motion")
        animate.write_shape_key_action(built.mesh, curves, f"{name}-face")
        if opts.leg_ik:
            _add_leg_ik(collection, built.armature, bag, plan, curves.frames, model_dir, world, name)
        armatures.append(built.armature)
    if floor_kind and opts.floor_plane:
        _add_floor(collection, plans, world, floor_kind, f"{opts.name}-floor")
    _note_ground(collection, clip, floor_kind)
    _set_scene_timing(scene, clip, opts, offset)
    if opts.create_camera:
        camera.create_camera(context, collection, clip, movie, name=f"{opts.name}-camera", camera_to_world=world)
    if world is not None and opts.hide_default_cube:
        _hide_default_cube(scene, collection)  # last: nothing can fail after it, so a failed import never hides it
    log.info("imported %d SMPL-X rig(s)", len(armatures))
    return armatures


def _hide_default_cube(scene, collection) -> None:
    """The person stands at the world origin, where Blender's startup cube sits and would hide their legs in the
    camera view: an untouched startup cube (a 2 m "Cube" mesh at the origin, unrotated, unscaled) is hidden in the
    viewport and the render, not deleted; `smplx_hid_default_cube` on the import's collection records it."""
    cube = scene.objects.get("Cube")
    if cube is None or cube.type != "MESH" or len(cube.data.vertices) != 8 or not cube.visible_get():
        return
    at_rest = np.allclose(np.array(cube.matrix_world), np.eye(4), atol=1e-6)
    corners = np.array([v.co for v in cube.data.vertices])
    if at_rest and np.allclose(np.abs(corners), 1.0, atol=1e-6):
        cube.hide_set(True)
        cube.hide_render = True
        collection["smplx_hid_default_cube"] = True
        log.info("hid Blender's startup cube: it stands where the person does")


_DATA_KINDS = ("objects", "meshes", "armatures", "actions", "cameras", "collections", "movieclips", "images")
_SCENE_TIMING = ("frame_start", "frame_end", "frame_current")


def _snapshot(bpy, scene) -> dict:
    """What exists before an import: data-block pointers per kind, and the scene's timing."""
    state = {kind: {block.as_pointer() for block in getattr(bpy.data, kind)} for kind in _DATA_KINDS}
    state["timing"] = ({k: getattr(scene, k) for k in _SCENE_TIMING}, scene.render.fps, scene.render.fps_base)
    return state


def _restore(bpy, scene, before: dict) -> None:
    """Remove every data-block created since `before` (objects first) and put the scene timing back."""
    for kind in _DATA_KINDS:
        blocks = getattr(bpy.data, kind)
        for block in [b for b in blocks if b.as_pointer() not in before[kind]]:
            blocks.remove(block)
    timing, fps, fps_base = before["timing"]
    scene.render.fps, scene.render.fps_base = fps, fps_base
    scene.frame_start, scene.frame_end = timing["frame_start"], timing["frame_end"]
    scene.frame_set(timing["frame_current"])


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


def _world(clip, model_dir, opts: ImportOptions) -> tuple:
    """The (4,4) OpenCV camera → Blender world transform of the scene and how its floor is known.

    Returns:
        (matrix, "fitted") from the clip's floor, (matrix, "guessed") for a clip without one (a level camera, the
        first person's first root at standing height above the origin), or (None, None) for world="camera".
    """
    if not (float(clip.fps) > 0):
        raise ValueError(f"clip fps must be > 0, got {clip.fps}")
    if not 0 < int(clip.num_frames) <= MAX_SCENE_FRAME:
        raise ValueError(f"clip num_frames {clip.num_frames} is outside Blender's frame range (1 to "
                         f"{MAX_SCENE_FRAME}); the clip is damaged, re-run the conversion")
    for track in clip.tracks:
        _check_track(track)
    if opts.world == "camera":
        return None, None
    known = getattr(clip, "camera_to_world", None)
    known = np.eye(4) if known is None else np.asarray(known, np.float64)
    if known.shape != (4, 4) or not np.all(np.isfinite(known)):
        raise ValueError(f"clip camera_to_world must be a finite (4,4) matrix, got shape {known.shape}")
    if not np.allclose(known, np.eye(4)):
        return known, "fitted"
    first = min(_select_tracks(clip, opts), key=lambda t: int(np.asarray(t.frames)[0]))
    model = rig.load_body_model(model_dir, str(getattr(first, "gender", "neutral") or "neutral").lower())
    betas = core_module("smooth").track_shape(first, clip.image_size)
    rest = model.rest_joints(betas)
    sole = float((model.v_template + model.shape_dirs @ betas)[:, 1].min())
    root = rest[0] + np.asarray(first.transl, np.float64).reshape(-1, 3)[0]
    return core_module("ground").guess_camera_to_world(root, float(rest[0, 1]) - sole), "guessed"


def _plan(clip, model_dir, opts: ImportOptions, world) -> list:
    """Compute every selected track's numbers (no bpy changes); `world` as `_world` gives it."""
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
        curves = animate.track_curves(track, model, rest, bool(clip.hands_include_mean), opts.pose_correctives,
                                      camera_to_world=world)
        curves.frames = core_module("smooth").timeline_frames(clip, track)  # keys at the real timestamps (VFR)
        plans.append(_Plan(int(track.track_id), gender, model, betas, rest, curves, track))
    return plans


def _to_world(world, points: np.ndarray) -> np.ndarray:
    """(...,3) OpenCV camera points → Blender world (world None: the camera at the origin)."""
    if world is None:
        return points @ rig.blender_from("opencv").T
    return points @ world[:3, :3].T + world[:3, 3]


def _add_floor(collection, plans: list, world, kind: str, name: str, margin: float = 2.0):
    """A wireframe grid of 1 m tiles at Z = 0 covering every imported root path plus `margin` metres (the video
    stays visible through it in the camera view); its custom property `smplx_floor` says "fitted" or "guessed"."""
    import bpy

    roots = np.concatenate([_to_world(world, p.rest_joints[0] + np.asarray(p.track.transl, np.float64))
                            for p in plans])
    lo = np.floor(roots[:, :2].min(0) - margin)
    hi = np.ceil(roots[:, :2].max(0) + margin)
    xs, ys = np.arange(lo[0], hi[0] + 0.5), np.arange(lo[1], hi[1] + 0.5)
    verts = [(float(x), float(y), 0.0) for y in ys for x in xs]
    nx = len(xs)
    faces = [(j * nx + i, j * nx + i + 1, (j + 1) * nx + i + 1, (j + 1) * nx + i)
             for j in range(len(ys) - 1) for i in range(nx - 1)]
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts, [], faces)
    mesh.update()
    floor = bpy.data.objects.new(name, mesh)
    floor.display_type = "WIRE"
    floor["smplx_floor"] = kind
    collection.objects.link(floor)
    return floor


def _note_ground(collection, clip, floor_kind) -> None:
    """The clip's grounding summary on the collection (`smplx_ground`, `smplx_moving_camera`) for the UI; a moving
    camera is also logged."""
    info = (getattr(clip, "metadata", None) or {}).get("ground") or {}
    collection["smplx_floor"] = floor_kind or "none"
    collection["smplx_moving_camera"] = bool(info.get("moving_camera", False))
    if info.get("summary"):
        collection["smplx_ground"] = str(info["summary"])
    if info.get("moving_camera"):
        log.warning("the video's camera moves: the motion stays in the camera frame (%s)", info.get("reason", ""))


def _add_leg_ik(collection, armature, bag, plan, frames: np.ndarray, model_dir, world, name: str) -> None:
    """Per leg an empty keyed where the ankle bone's tail is in the clip (the rig's bones all point along the model's
    up axis, so the tail is the head plus the ankle's rotation of that axis) and an IK constraint (ankle, knee, hip)
    towards it, whose influence is keyed from the foot's contacts: it holds what the clip holds and takes over when
    an animator moves the target."""
    import bpy

    ground = core_module("ground")
    fm = ground.foot_model(core_module("body").read_model_arrays(model_dir, gender=plan.gender))
    rotations, joints, _ = ground.forward_kinematics(fm, plan.track)
    contacts = plan.curves.contacts if plan.curves.contacts is not None else np.zeros((len(frames), 2))
    for side, (leg, ankle) in enumerate((("left", 7), ("right", 8))):
        bone = f"{leg}_ankle"
        target = bpy.data.objects.new(f"{name}-{leg}-foot-target", None)
        target.empty_display_type, target.empty_display_size = "SPHERE", 0.04
        collection.objects.link(target)
        length = armature.data.bones[bone].length
        tail = joints[:, ankle] + rotations[:, ankle, :, 1] * length  # model +Y = the bone's direction
        animate.write_object_location(target, f"{name}-{leg}-foot-target", frames, _to_world(world, tail))
        constraint = armature.pose.bones[bone].constraints.new("IK")
        constraint.target, constraint.chain_count = target, 3
        constraint.use_tail, constraint.use_stretch = True, False
        animate.write_fcurve(bag, f'pose.bones["{bone}"].constraints["{constraint.name}"].influence', 0, bone,
                             frames, contacts[:, side])


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
