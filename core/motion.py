"""MotionClip: the one file format between core and everything else (numpy only; the Blender add-on imports it).

A clip holds the SMPL-X parameters of every tracked person of one video, in the video's OpenCV camera
(x right, y down, z forward, metres), with the camera intrinsics in pixels of the original video.
SMPL-X semantics (vchoutas/smplx): vertex = R(v - J0) + J0 + transl, where J0 is the root joint of the shaped
template; `transl` is what smplx takes as its `transl` keyword.

Hand poses: SMPLer-X predicts them relative to the model's `hands_mean` (reference/model_spec.md §3.11,
flat_hand_mean=False). `MotionClip.hands_include_mean` says which convention a clip uses; `flat_hand_poses` and
`with_hand_mean` give the absolute poses a flat-hand rig needs (smplx adds the mean in axis-angle, so mean + pose).

Grounding (core/ground.py): `MotionClip.camera_to_world` (4,4) maps the OpenCV camera to a world frame with Z up and
the floor at Z = 0 (identity when no floor is known); `MotionTrack.contacts` (N,2) bool says which foot [left, right]
is planted on each frame (all False when unknown).

File: one `.npz` (no pickles) holding `format_version`, a JSON string `metadata`, `camera_to_world` and the arrays of
track *i* as `track{i}/{field}`. Version 1 files (before grounding) still load, with the defaults above. Exports to
other layouts live in `core.motion_export`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write  # re-exported: older callers import it from here

__all__ = [
    "FORMAT_VERSION",
    "POSE_FIELDS",
    "MotionTrack",
    "MotionClip",
    "rest_root_joint",
    "atomic_write",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)
_FORMAT_NAME = "smplx-video motion clip"

# Per-frame SMPL-X parameters of a track: name -> trailing shape (the leading axis is the track length N).
POSE_FIELDS: dict[str, tuple[int, ...]] = {
    "global_orient": (3,),
    "body_pose": (21, 3),
    "left_hand_pose": (15, 3),
    "right_hand_pose": (15, 3),
    "jaw_pose": (3,),
    "betas": (10,),
    "expression": (10,),
    "transl": (3,),
}
# Every per-frame array of a track, with its dtype.
_TRACK_ARRAYS: dict[str, tuple[tuple[int, ...], type]] = {
    "frames": ((), np.int64),
    "times": ((), np.float64),
    **{name: (shape, np.float32) for name, shape in POSE_FIELDS.items()},
    "boxes": ((4,), np.float32),
    "scores": ((), np.float32),
    "contacts": ((2,), np.bool_),
}
_SINCE_V2 = ("contacts",)  # track arrays that version 1 files lack (they load with their defaults)
_GENDERS = ("neutral", "male", "female")


def _as_array(value: Any, name: str, trailing: tuple[int, ...], dtype: type, n: int | None) -> np.ndarray:
    """Checks kind, shape and finiteness of one array and casts it to `dtype`; raises ValueError naming `name`."""
    arr = np.asarray(value)
    expected = ("N" if n is None else str(n),) + tuple(str(s) for s in trailing)
    expected_txt = "(" + ", ".join(expected) + ("," if len(expected) == 1 else "") + ")"
    if arr.ndim != 1 + len(trailing) or arr.shape[1:] != trailing or (n is not None and arr.shape[0] != n):
        raise ValueError(f"{name}: expected shape {expected_txt}, got {arr.shape}")
    if dtype is np.bool_:
        if arr.dtype != np.bool_:
            raise ValueError(f"{name}: expected a boolean array, got dtype {arr.dtype}")
    elif np.issubdtype(dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name}: expected an integer array ({np.dtype(dtype).name}), got dtype {arr.dtype}")
    elif not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name}: expected a real-valued array ({np.dtype(dtype).name}), got dtype {arr.dtype}")
    out = np.ascontiguousarray(arr, dtype=dtype)
    if np.issubdtype(dtype, np.floating) and not np.all(np.isfinite(out)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    return out


@dataclass
class MotionTrack:
    """One person's SMPL-X parameters over the frames where the tracker saw them.

    Attributes:
        track_id: identity from the tracker (unique within a clip).
        frames: (N,) int64 video frame indices, strictly increasing.
        times: (N,) float64 seconds, presentation time of each frame.
        global_orient: (N,3) float32 axis-angle, root orientation in the OpenCV camera frame.
        body_pose: (N,21,3) float32 axis-angle, SMPL-X joints 1..21.
        left_hand_pose, right_hand_pose: (N,15,3) float32 axis-angle (see `MotionClip.hands_include_mean`).
        jaw_pose: (N,3) float32 axis-angle.
        betas: (N,10) float32 shape coefficients.
        expression: (N,10) float32 expression coefficients.
        transl: (N,3) float32 metres, OpenCV camera (smplx `transl`).
        boxes: (N,4) float32 detector boxes xyxy, pixels of the original video.
        scores: (N,) float32 detector confidence in [0,1].
        gender: "neutral", "male" or "female": the body model the parameters belong to.
        contacts: (N,2) bool, foot [left, right] planted on the floor (None → all False: unknown).
    """

    track_id: int
    frames: np.ndarray
    times: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    left_hand_pose: np.ndarray
    right_hand_pose: np.ndarray
    jaw_pose: np.ndarray
    betas: np.ndarray
    expression: np.ndarray
    transl: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    gender: str = "neutral"
    contacts: np.ndarray | None = None

    def __post_init__(self) -> None:
        if isinstance(self.track_id, bool) or not isinstance(self.track_id, (int, np.integer)):
            raise ValueError(f"track_id: expected an int, got {type(self.track_id).__name__}")
        self.track_id = int(self.track_id)
        frames = _as_array(self.frames, "frames", (), np.int64, None)
        n = frames.shape[0]
        if n == 0:
            raise ValueError(f"track {self.track_id}: frames is empty; a track needs at least one frame")
        if self.contacts is None:
            self.contacts = np.zeros((n, 2), bool)
        if np.any(frames < 0):
            raise ValueError(f"track {self.track_id}: frames must be >= 0, got min {frames.min()}")
        if n > 1 and np.any(np.diff(frames) <= 0):
            bad = int(np.argmax(np.diff(frames) <= 0))
            raise ValueError(
                f"track {self.track_id}: frames must be strictly increasing, got {frames[bad]} then {frames[bad + 1]}"
                f" at index {bad}"
            )
        for name, (trailing, dtype) in _TRACK_ARRAYS.items():
            setattr(self, name, _as_array(getattr(self, name), f"track {self.track_id} {name}", trailing, dtype, n))
        if str(self.gender).lower() not in _GENDERS:
            raise ValueError(f"track {self.track_id} gender: expected one of {_GENDERS}, got {self.gender!r}")
        self.gender = str(self.gender).lower()

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def replace(self, **changes: Any) -> MotionTrack:
        """A validated copy with some fields replaced (arrays are shared unless replaced)."""
        return dataclasses.replace(self, **changes)

    def select(self, index: np.ndarray | slice) -> MotionTrack:
        """A new track holding the rows `index` of every per-frame array (e.g. a boolean mask)."""
        return self.replace(**{name: getattr(self, name)[index] for name in _TRACK_ARRAYS})

    def smplx_params(self) -> dict[str, np.ndarray]:
        """The smplx forward keywords (N rows): body_pose (N,63), hand poses (N,45), the rest as stored."""
        n = len(self)
        return {
            "global_orient": self.global_orient,
            "body_pose": self.body_pose.reshape(n, 63),
            "left_hand_pose": self.left_hand_pose.reshape(n, 45),
            "right_hand_pose": self.right_hand_pose.reshape(n, 45),
            "jaw_pose": self.jaw_pose,
            "leye_pose": np.zeros((n, 3), np.float32),
            "reye_pose": np.zeros((n, 3), np.float32),
            "betas": self.betas,
            "expression": self.expression,
            "transl": self.transl,
        }


def _hand_mean(value: Any, name: str) -> np.ndarray:
    """A hand mean given as (45,) or (15,3) → (15,3) float32."""
    arr = np.asarray(value, dtype=np.float32)
    if arr.size != 45:
        raise ValueError(f"{name}: expected 45 values ((45,) or (15,3) axis-angle), got shape {arr.shape}")
    return arr.reshape(15, 3)


@dataclass
class MotionClip:
    """Every tracked person of one video, in one OpenCV camera.

    Attributes:
        fps: frames per second of the video (> 0).
        num_frames: frame count of the source video; tracks cover subsets of [0, num_frames).
        image_size: (width, height) of the original video in pixels.
        focal: (2,) float64 fx, fy in pixels.
        princpt: (2,) float64 cx, cy in pixels (pixel centres at integer coordinates).
        tracks: list of MotionTrack.
        hands_include_mean: True if hand poses are absolute (flat-hand rig), False if relative to hands_mean
            (the network's output).
        source: path of the source video (informative).
        metadata: JSON-serialisable extras (model variant, smoothing settings, ...).
        camera_to_world: (4,4) float64, metres: OpenCV camera → world (Z up, floor Z = 0); identity when no floor
            was found (None → identity).
    """

    fps: float
    num_frames: int
    image_size: tuple[int, int]
    focal: np.ndarray
    princpt: np.ndarray
    tracks: list[MotionTrack] = field(default_factory=list)
    hands_include_mean: bool = False
    source: str = ""
    metadata: dict = field(default_factory=dict)
    camera_to_world: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.fps = float(self.fps)
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise ValueError(f"fps: expected a finite number > 0, got {self.fps}")
        if isinstance(self.num_frames, bool) or not isinstance(self.num_frames, (int, np.integer)):
            raise ValueError(f"num_frames: expected an int, got {type(self.num_frames).__name__}")
        self.num_frames = int(self.num_frames)
        if self.num_frames < 0:
            raise ValueError(f"num_frames: expected >= 0, got {self.num_frames}")
        size = np.asarray(self.image_size)
        if size.shape != (2,) or not np.issubdtype(size.dtype, np.integer) or np.any(size <= 0):
            raise ValueError(f"image_size: expected (width, height) positive ints, got {self.image_size!r}")
        self.image_size = (int(size[0]), int(size[1]))
        self.focal = _as_array(self.focal, "focal", (), np.float64, 2)
        if np.any(self.focal <= 0):
            raise ValueError(f"focal: expected positive values, got {self.focal.tolist()}")
        self.princpt = _as_array(self.princpt, "princpt", (), np.float64, 2)
        self.tracks = list(self.tracks)
        ids = []
        for i, track in enumerate(self.tracks):
            if not isinstance(track, MotionTrack):
                raise ValueError(f"tracks[{i}]: expected a MotionTrack, got {type(track).__name__}")
            if track.frames[-1] >= self.num_frames:
                raise ValueError(
                    f"tracks[{i}] (id {track.track_id}): frame {track.frames[-1]} is outside the video's"
                    f" num_frames={self.num_frames}"
                )
            ids.append(track.track_id)
        if len(set(ids)) != len(ids):
            raise ValueError(f"tracks: track_id values must be unique, got {ids}")
        self.hands_include_mean = bool(self.hands_include_mean)
        self.camera_to_world = _rigid(np.eye(4) if self.camera_to_world is None else self.camera_to_world)
        self.source = str(self.source)
        try:
            json.dumps(self.metadata)
        except TypeError as err:
            raise ValueError(f"metadata: must be JSON-serialisable ({err})") from None

    @property
    def has_floor(self) -> bool:
        """Whether `camera_to_world` holds a floor (it is the identity when none was found)."""
        return not np.allclose(self.camera_to_world, np.eye(4))

    # ---- convenience -------------------------------------------------------------------------------------------
    def replace(self, **changes: Any) -> MotionClip:
        """A validated copy with some fields replaced."""
        return dataclasses.replace(self, **changes)

    def track(self, track_id: int) -> MotionTrack:
        """The track with this id; raises KeyError naming the ids present."""
        for track in self.tracks:
            if track.track_id == track_id:
                return track
        raise KeyError(f"no track with id {track_id}; ids present: {[t.track_id for t in self.tracks]}")

    def flat_hand_poses(self, track: MotionTrack, hands_mean_left: Any, hands_mean_right: Any) -> tuple[np.ndarray, np.ndarray]:
        """Absolute hand poses for a flat-hand rig: mean + pose when the clip stores them relative to the mean.

        Args:
            track: a track of this clip.
            hands_mean_left, hands_mean_right: (45,) or (15,3) axis-angle, the model's `hands_meanl`/`hands_meanr`.

        Returns:
            left, right: (N,15,3) float32 axis-angle.
        """
        if self.hands_include_mean:
            return track.left_hand_pose.copy(), track.right_hand_pose.copy()
        left = track.left_hand_pose + _hand_mean(hands_mean_left, "hands_mean_left")
        right = track.right_hand_pose + _hand_mean(hands_mean_right, "hands_mean_right")
        return left, right

    def relative_hand_poses(self, track: MotionTrack, hands_mean_left: Any = None, hands_mean_right: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Hand poses relative to hands_mean (the network's convention, smplx flat_hand_mean=False).

        The means are only needed when the clip stores absolute poses; raises ValueError if they are missing then.
        """
        if not self.hands_include_mean:
            return track.left_hand_pose.copy(), track.right_hand_pose.copy()
        if hands_mean_left is None or hands_mean_right is None:
            raise ValueError(
                "this clip stores hand poses including hands_mean; pass the model's hands_meanl/hands_meanr "
                "(core.body.read_model_arrays(model_dir)) to get poses relative to the mean"
            )
        left = track.left_hand_pose - _hand_mean(hands_mean_left, "hands_mean_left")
        right = track.right_hand_pose - _hand_mean(hands_mean_right, "hands_mean_right")
        return left, right

    def with_hand_mean(self, hands_mean_left: Any, hands_mean_right: Any) -> MotionClip:
        """A copy whose hand poses include hands_mean (hands_include_mean=True); self if it already does."""
        if self.hands_include_mean:
            return self
        tracks = []
        for track in self.tracks:
            left, right = self.flat_hand_poses(track, hands_mean_left, hands_mean_right)
            tracks.append(track.replace(left_hand_pose=left, right_hand_pose=right))
        return self.replace(tracks=tracks, hands_include_mean=True)

    # ---- file I/O ----------------------------------------------------------------------------------------------
    def _metadata_json(self) -> str:
        return json.dumps(
            {
                "format": _FORMAT_NAME,
                "fps": self.fps,
                "num_frames": self.num_frames,
                "image_size": list(self.image_size),
                "focal": self.focal.tolist(),
                "princpt": self.princpt.tolist(),
                "hands_include_mean": self.hands_include_mean,
                "source": self.source,
                "metadata": self.metadata,
                "tracks": [{"track_id": t.track_id, "gender": t.gender} for t in self.tracks],
            }
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Writes the clip atomically (temp file in the same folder, then os.replace); makes parent folders.

        Returns:
            The path written (exactly `path`; no suffix is added).
        """
        arrays: dict[str, np.ndarray] = {
            "format_version": np.asarray(FORMAT_VERSION, np.int64),
            "metadata": np.asarray(self._metadata_json()),
            "camera_to_world": self.camera_to_world,
        }
        for i, track in enumerate(self.tracks):
            for name in _TRACK_ARRAYS:
                arrays[f"track{i}/{name}"] = getattr(track, name)
        written = atomic_write(path, lambda f: np.savez_compressed(f, **arrays))
        logger.debug("saved %d tracks to %s", len(self.tracks), written)
        return written

    @classmethod
    def load(cls, path: str | os.PathLike) -> MotionClip:
        """Reads and validates a clip written by `save` (no pickles are loaded).

        Raises:
            FileNotFoundError: the file does not exist.
            ValueError: the file is not a MotionClip (not an npz, truncated, missing keys, other version, bad shapes);
                the message names the file and the problem.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such MotionClip file (expected an .npz written by MotionClip.save)")
        try:
            with open(path, "rb") as f:
                magic = f.read(4)
            if magic != b"PK\x03\x04":
                raise ValueError("not an .npz (zip) archive")
            return cls._from_arrays(_read_clip_arrays(path))
        except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile, zlib.error, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not a valid MotionClip file: {err}. Re-run the conversion to rewrite it.") from err

    @classmethod
    def _from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> MotionClip:
        for key in ("format_version", "metadata"):
            if key not in arrays:
                raise ValueError(f"missing key {key!r}")
        version = arrays["format_version"]
        if version.shape != () or not np.issubdtype(version.dtype, np.integer):
            raise ValueError(f"format_version must be an integer scalar, got {version.dtype} {version.shape}")
        if int(version) not in _READABLE_VERSIONS:
            raise ValueError(f"format_version {int(version)} is not supported (this code reads {_READABLE_VERSIONS})")
        meta = json.loads(str(arrays["metadata"]))
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT_NAME:
            raise ValueError("metadata is not a MotionClip header")
        _check_header_types(meta)
        tracks = []
        for i, info in enumerate(meta["tracks"]):
            fields = {}
            for name in _TRACK_ARRAYS:
                key = f"track{i}/{name}"
                if key not in arrays and name in _SINCE_V2 and int(version) < 2:
                    continue
                if key not in arrays:
                    raise ValueError(f"missing key {key!r}")
                fields[name] = arrays[key]
            tracks.append(MotionTrack(track_id=int(info["track_id"]), gender=info["gender"], **fields))
        return cls(
            fps=meta["fps"],
            num_frames=meta["num_frames"],
            image_size=tuple(meta["image_size"]),
            focal=np.asarray(meta["focal"], np.float64),
            princpt=np.asarray(meta["princpt"], np.float64),
            tracks=tracks,
            hands_include_mean=meta["hands_include_mean"],
            source=meta["source"],
            metadata=meta["metadata"],
            camera_to_world=arrays["camera_to_world"] if int(version) >= 2 else None,
        )


MAX_LOAD_BYTES = 2 << 30  # a clip this tool writes for hours of video with several people stays far below
_META_BYTES = 16 << 20
_HEADER_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "fps": ((int, float), "a number"),
    "num_frames": ((int,), "an integer"),
    "image_size": ((list,), "[width, height]"),
    "focal": ((list,), "[fx, fy]"),
    "princpt": ((list,), "[cx, cy]"),
    "hands_include_mean": ((bool,), "true or false"),
    "source": ((str,), "a string"),
    "metadata": ((dict,), "an object"),
    "tracks": ((list,), "a list"),
}


def _rigid(value: Any) -> np.ndarray:
    """(4,4) float64 rigid transform (rotation with det +1, last row 0 0 0 1); ValueError naming camera_to_world."""
    m = _as_array(value, "camera_to_world", (4,), np.float64, 4)
    rot = m[:3, :3]
    if not (np.allclose(m[3], [0, 0, 0, 1]) and np.allclose(rot @ rot.T, np.eye(3), atol=1e-5)
            and np.linalg.det(rot) > 0):
        raise ValueError("camera_to_world: expected a rigid transform (rotation with det +1, last row 0 0 0 1)")
    return m


def _check_header_types(meta: dict) -> None:
    """ValueError naming the first header field of the wrong JSON type (before any conversion can raise TypeError)."""
    for key, (kinds, what) in _HEADER_TYPES.items():
        value = meta.get(key)
        if key not in meta or not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            raise ValueError(f"metadata field {key!r} must be {what}, got {json.dumps(value)[:40]}")
    for key in ("image_size", "focal", "princpt"):
        if len(meta[key]) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in meta[key]):
            raise ValueError(f"metadata field {key!r} must be {_HEADER_TYPES[key][1]}, got {json.dumps(meta[key])[:40]}")
    for i, info in enumerate(meta["tracks"]):
        if not isinstance(info, dict) or isinstance(info.get("track_id"), bool) \
                or not isinstance(info.get("track_id"), int) or not isinstance(info.get("gender"), str):
            raise ValueError(f"metadata tracks[{i}] must be {{\"track_id\": int, \"gender\": str}}, "
                             f"got {json.dumps(info)[:60]}")


def _read_clip_arrays(path: Path) -> dict[str, np.ndarray]:
    """Only the arrays a MotionClip has, each size-checked from its .npy header before it is read, so a small file
    cannot make the reader allocate gigabytes (a zip bomb in an extra entry is never opened)."""
    with zipfile.ZipFile(path) as zf:
        members = {info.filename[:-4]: info for info in zf.infolist() if info.filename.endswith(".npy")}
        budget = [MAX_LOAD_BYTES]

        def read(key: str, limit: int) -> np.ndarray:
            if key not in members:
                raise ValueError(f"missing key {key!r}")
            with zf.open(members[key]) as fh:
                version = np.lib.format.read_magic(fh)
                reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, dtype = reader(fh)
                size = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if dtype.hasobject:
                    raise ValueError(f"{key}: Object arrays cannot be loaded (pickled data is never read)")
                if size > min(limit, budget[0]):
                    raise ValueError(f"{key}: a {dtype} array of shape {shape} ({size / 1e6:.0f} MB) is larger than a "
                                     f"MotionClip holds (at most {MAX_LOAD_BYTES >> 30} GiB in all)")
                budget[0] -= size
            with zf.open(members[key]) as fh:
                return np.lib.format.read_array(fh, allow_pickle=False)

        arrays = {"format_version": read("format_version", 64), "metadata": read("metadata", _META_BYTES)}
        version = arrays["format_version"]
        since_v2 = version.shape == () and np.issubdtype(version.dtype, np.integer) and int(version) >= 2
        if since_v2:
            arrays["camera_to_world"] = read("camera_to_world", 16 * 8)
        meta = json.loads(str(arrays["metadata"]))
        tracks = meta.get("tracks") if isinstance(meta, dict) else None
        count = len(tracks) if isinstance(tracks, list) else 0  # the header's types are checked by the caller
        for i in range(count):
            for name in _TRACK_ARRAYS:
                if name in _SINCE_V2 and not since_v2:
                    continue  # a version-1 file: the caller fills the default
                arrays[f"track{i}/{name}"] = read(f"track{i}/{name}", MAX_LOAD_BYTES)
    return arrays


def rest_root_joint(model_arrays: Mapping[str, np.ndarray], betas: np.ndarray, expression: np.ndarray | None = None) -> np.ndarray:
    """Root joint J0 of the shaped, unposed SMPL-X template (the centre `global_orient` rotates about).

    Args:
        model_arrays: SMPL-X arrays (v_template (V,3), shapedirs (V,3,K), J_regressor (55,V)).
        betas: (N,10) shape coefficients.
        expression: (N,10) or None (zeros); uses shapedirs[:, :, 300:310] when K >= 400, else [:, :, 10:20] (smplx).

    Returns:
        (N,3) float64 metres, SMPL-X model frame.
    """
    betas = np.atleast_2d(np.asarray(betas, np.float64))
    reg0 = np.asarray(model_arrays["J_regressor"][0], np.float64)
    shapedirs = np.asarray(model_arrays["shapedirs"], np.float64)
    j0 = reg0 @ np.asarray(model_arrays["v_template"], np.float64)
    dirs0 = np.einsum("v,vck->ck", reg0, shapedirs)  # (3, K): how each component moves J0
    root = j0 + betas @ dirs0[:, : betas.shape[1]].T
    if expression is not None:
        expression = np.atleast_2d(np.asarray(expression, np.float64))
        start = 300 if shapedirs.shape[2] >= 400 else 10
        root = root + expression @ dirs0[:, start : start + expression.shape[1]].T
    return root
