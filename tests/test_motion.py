"""core.motion: MotionClip validation, file round trip, rejection of bad files, atomic writes and exports."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from core import motion as motion_module
from core.motion import FORMAT_VERSION, MotionClip, MotionTrack, rest_root_joint
from core.motion_export import export_amass, export_per_frame

MODEL_NPZ = "smplx/SMPLX_NEUTRAL.npz"


def make_track(track_id: int = 0, frames=None, seed: int = 0, **overrides) -> MotionTrack:
    frames = np.arange(5, 17) if frames is None else np.asarray(frames)
    n = len(frames)
    rng = np.random.default_rng(seed)
    fields = dict(
        track_id=track_id,
        frames=frames,
        times=frames / 30.0,
        global_orient=rng.normal(0, 0.5, (n, 3)),
        body_pose=rng.normal(0, 0.3, (n, 21, 3)),
        left_hand_pose=rng.normal(0, 0.3, (n, 15, 3)),
        right_hand_pose=rng.normal(0, 0.3, (n, 15, 3)),
        jaw_pose=rng.normal(0, 0.1, (n, 3)),
        betas=rng.normal(0, 1, (n, 10)),
        expression=rng.normal(0, 1, (n, 10)),
        transl=rng.normal(0, 0.3, (n, 3)) + [0, 0, 4],
        boxes=np.tile([100.0, 50.0, 300.0, 450.0], (n, 1)) + rng.normal(0, 2, (n, 4)),
        scores=rng.uniform(0.5, 1, n),
        gender="neutral",
    )
    fields.update(overrides)
    return MotionTrack(**fields)


def make_clip(**overrides) -> MotionClip:
    fields = dict(
        fps=29.97,
        num_frames=40,
        image_size=(640, 480),
        focal=[700.0, 700.0],
        princpt=[319.5, 239.5],
        tracks=[make_track(0), make_track(3, frames=[0, 1, 2, 10, 11, 39], seed=1, gender="female")],
        hands_include_mean=False,
        source="/videos/walk.mp4",
        metadata={"variant": "s32"},
    )
    fields.update(overrides)
    return MotionClip(**fields)


def assert_clips_equal(a: MotionClip, b: MotionClip) -> None:
    for name in ("fps", "num_frames", "image_size", "hands_include_mean", "source", "metadata"):
        assert getattr(a, name) == getattr(b, name), name
    np.testing.assert_array_equal(a.focal, b.focal)
    np.testing.assert_array_equal(a.princpt, b.princpt)
    np.testing.assert_array_equal(a.camera_to_world, b.camera_to_world)
    assert len(a.tracks) == len(b.tracks)
    for ta, tb in zip(a.tracks, b.tracks):
        assert (ta.track_id, ta.gender) == (tb.track_id, tb.gender)
        for name in motion_module._TRACK_ARRAYS:
            va, vb = getattr(ta, name), getattr(tb, name)
            assert va.dtype == vb.dtype and va.shape == vb.shape, name
            np.testing.assert_array_equal(va, vb, err_msg=name)


# ---- validation ---------------------------------------------------------------------------------------------------
def test_fields_are_cast_to_contract_dtypes_and_shapes():
    track = make_track()
    assert track.frames.dtype == np.int64 and track.times.dtype == np.float64
    for name in ("global_orient", "body_pose", "left_hand_pose", "betas", "transl", "boxes", "scores"):
        assert getattr(track, name).dtype == np.float32, name
    assert track.body_pose.shape == (12, 21, 3) and track.left_hand_pose.shape == (12, 15, 3)
    assert len(track) == 12


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("body_pose", np.zeros((12, 63)), r"body_pose: expected shape \(12, 21, 3\), got \(12, 63\)"),
        ("left_hand_pose", np.zeros((11, 15, 3)), r"left_hand_pose: expected shape \(12, 15, 3\), got \(11, 15, 3\)"),
        ("global_orient", np.zeros((12, 1, 3)), r"global_orient: expected shape \(12, 3\), got \(12, 1, 3\)"),
        ("betas", np.zeros((12, 16)), r"betas: expected shape \(12, 10\), got \(12, 16\)"),
        ("scores", np.zeros((12, 1)), r"scores: expected shape \(12,\), got \(12, 1\)"),
        ("transl", np.full((12, 3), np.nan), r"transl: contains NaN"),
        ("jaw_pose", np.full((12, 3), "a"), r"jaw_pose: expected a real-valued array"),
    ],
)
def test_shape_and_dtype_errors_name_field_expected_and_actual(field, value, expected):
    with pytest.raises(ValueError, match=expected):
        make_track(**{field: value})


def test_frames_must_be_strictly_increasing_integers():
    with pytest.raises(ValueError, match="strictly increasing, got 3 then 3"):
        make_track(frames=[1, 2, 3, 3, 4])
    with pytest.raises(ValueError, match="frames: expected an integer array"):
        make_track(frames=np.arange(12, dtype=float))
    with pytest.raises(ValueError, match="frames: expected shape"):
        make_track(frames=np.zeros((12, 1), int))
    with pytest.raises(ValueError, match="empty"):
        make_track(frames=np.zeros(0, int))


def test_clip_level_checks():
    with pytest.raises(ValueError, match="fps"):
        make_clip(fps=0)
    with pytest.raises(ValueError, match="fps"):
        make_clip(fps=float("nan"))
    with pytest.raises(ValueError, match=r"frame 39 is outside the video's num_frames=30"):
        make_clip(num_frames=30)
    with pytest.raises(ValueError, match="track_id values must be unique"):
        make_clip(tracks=[make_track(1), make_track(1)])
    with pytest.raises(ValueError, match=r"focal: expected shape \(2,\), got \(3,\)"):
        make_clip(focal=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="image_size"):
        make_clip(image_size=(640.5, 480))
    with pytest.raises(ValueError, match="gender"):
        make_track(gender="other")
    with pytest.raises(ValueError, match="metadata"):
        make_clip(metadata={"x": object()})


# ---- round trip and malformed files --------------------------------------------------------------------------------
def test_round_trip_keeps_every_field(tmp_path):
    clip = make_clip()
    path = clip.save(tmp_path / "deep" / "folder" / "clip.npz")
    assert path == tmp_path / "deep" / "folder" / "clip.npz" and path.is_file()
    assert_clips_equal(clip, MotionClip.load(path))
    empty = make_clip(tracks=[], hands_include_mean=True, metadata={})
    assert_clips_equal(empty, MotionClip.load(empty.save(tmp_path / "empty.npz")))
    assert [p.name for p in (tmp_path / "deep" / "folder").iterdir()] == ["clip.npz"]  # no temp files left


def test_file_layout_is_versioned_npz_without_pickles(tmp_path):
    path = make_clip().save(tmp_path / "clip.npz")
    with np.load(path, allow_pickle=False) as data:
        assert int(data["format_version"]) == FORMAT_VERSION
        meta = json.loads(str(data["metadata"]))
        assert meta["tracks"] == [{"track_id": 0, "gender": "neutral"}, {"track_id": 3, "gender": "female"}]
        assert data["track1/body_pose"].shape == (6, 21, 3)
        assert data["track0/frames"].dtype == np.int64


def _rewrite(path: Path, out: Path, change) -> Path:
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    change(arrays)
    with open(out, "wb") as f:
        np.savez(f, **arrays)
    return out


def test_load_rejects_malformed_files_naming_the_file(tmp_path):
    good = make_clip().save(tmp_path / "good.npz")
    raw = good.read_bytes()
    cases = {}
    cases["truncated"] = tmp_path / "truncated.npz"
    cases["truncated"].write_bytes(raw[: len(raw) // 2])
    cases["text"] = tmp_path / "text.npz"
    cases["text"].write_text("hello, not a clip\n")
    cases["npy"] = tmp_path / "array.npz"
    with open(cases["npy"], "wb") as f:
        np.save(f, np.zeros(3))
    cases["version"] = _rewrite(good, tmp_path / "version.npz",
                                lambda a: a.__setitem__("format_version", np.asarray(FORMAT_VERSION + 1)))
    cases["missing"] = _rewrite(good, tmp_path / "missing.npz", lambda a: a.pop("track1/transl"))
    cases["shape"] = _rewrite(good, tmp_path / "shape.npz",
                              lambda a: a.__setitem__("track0/body_pose", a["track0/body_pose"].reshape(12, 63)))
    cases["no_header"] = _rewrite(good, tmp_path / "noheader.npz", lambda a: a.pop("metadata"))
    cases["corrupt"] = tmp_path / "corrupt.npz"
    middle = len(raw) // 2
    cases["corrupt"].write_bytes(raw[:middle] + bytes(b ^ 0xFF for b in raw[middle : middle + 16]) + raw[middle + 16 :])
    cases["pickle"] = tmp_path / "pickle.npz"
    with open(cases["pickle"], "wb") as f:
        np.savez(f, format_version=np.asarray(FORMAT_VERSION), metadata=np.array([{"a": 1}], dtype=object))
    expected = {
        "truncated": "not a zip file", "text": r"not an .npz \(zip\) archive", "npy": "not an .npz", "corrupt": None, "version": f"format_version {FORMAT_VERSION + 1} is not supported",
        "missing": "missing key 'track1/transl'", "shape": r"body_pose: expected shape \(12, 21, 3\), got \(12, 63\)",
        "no_header": "missing key 'metadata'", "pickle": "Object arrays cannot be loaded",
    }
    for name, path in cases.items():
        with pytest.raises(ValueError, match=expected[name]) as info:
            MotionClip.load(path)
        assert str(path) in str(info.value), name
        assert "not a valid MotionClip file" in str(info.value)


def test_grounding_fields_round_trip_and_validate(tmp_path):
    track = make_track()
    contacts = np.zeros((12, 2), bool)
    contacts[3:7, 0] = True
    rot = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])  # a level camera: forward → +Y, image down → −Z
    world = np.eye(4)
    world[:3, :3], world[:3, 3] = rot, [0.2, -4.0, 1.3]
    clip = make_clip(tracks=[track.replace(contacts=contacts)], camera_to_world=world)
    back = MotionClip.load(clip.save(tmp_path / "g.npz"))
    assert_clips_equal(clip, back)
    assert back.has_floor and back.tracks[0].contacts.dtype == np.bool_
    assert back.tracks[0].select(np.arange(3, 5)).contacts.tolist() == [[True, False]] * 2
    assert not make_clip().has_floor and make_clip().tracks[0].contacts.shape == (12, 2)
    assert not make_clip().tracks[0].contacts.any()
    with pytest.raises(ValueError, match="contacts: expected a boolean array"):
        track.replace(contacts=np.zeros((12, 2)))
    with pytest.raises(ValueError, match=r"contacts: expected shape \(12, 2\)"):
        track.replace(contacts=np.zeros((12, 3), bool))
    skewed = world.copy()
    skewed[0, 1] = 0.5
    for bad in (skewed, np.diag([1.0, 1.0, -1.0, 1.0]), np.eye(3)):
        with pytest.raises(ValueError, match="camera_to_world"):
            make_clip(camera_to_world=bad)


def test_version_1_files_still_load(tmp_path):
    """A clip written before grounding (no camera_to_world, no contacts, format_version 1) loads with the defaults."""
    good = make_clip().save(tmp_path / "v2.npz")

    def as_v1(arrays):
        arrays["format_version"] = np.asarray(1)
        del arrays["camera_to_world"]
        for key in [k for k in arrays if k.endswith("/contacts")]:
            del arrays[key]

    old = MotionClip.load(_rewrite(good, tmp_path / "v1.npz", as_v1))
    assert not old.has_floor and np.array_equal(old.camera_to_world, np.eye(4))
    assert all(t.contacts.shape == (len(t), 2) and not t.contacts.any() for t in old.tracks)
    np.testing.assert_array_equal(old.tracks[1].transl, make_clip().tracks[1].transl)


def test_load_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.npz"):
        MotionClip.load(tmp_path / "nothere.npz")


def test_save_is_atomic_no_partial_file_on_error(tmp_path, monkeypatch):
    path = tmp_path / "clip.npz"
    old = make_clip(source="old").save(path)
    before = old.read_bytes()

    def failing_savez(f, **arrays):
        f.write(b"PK\x03\x04 partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        make_clip(source="new").save(path)
    with pytest.raises(OSError):
        make_clip().save(tmp_path / "fresh.npz")
    assert path.read_bytes() == before  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.npz"]  # no temp or partial file


# ---- hands mean ----------------------------------------------------------------------------------------------------
def test_flat_hand_poses_add_the_mean_once():
    clip = make_clip()
    mean_l = np.linspace(-0.3, 0.3, 45)
    mean_r = np.linspace(0.2, -0.1, 45).reshape(15, 3)
    track = clip.tracks[0]
    left, right = clip.flat_hand_poses(track, mean_l, mean_r)
    np.testing.assert_allclose(left, track.left_hand_pose + mean_l.reshape(15, 3), atol=1e-6)
    np.testing.assert_allclose(right, track.right_hand_pose + mean_r, atol=1e-6)
    absolute = clip.with_hand_mean(mean_l, mean_r)
    assert absolute.hands_include_mean and not clip.hands_include_mean
    np.testing.assert_allclose(absolute.tracks[0].left_hand_pose, left)
    assert absolute.with_hand_mean(mean_l, mean_r) is absolute  # never twice
    again = absolute.flat_hand_poses(absolute.tracks[0], mean_l, mean_r)
    np.testing.assert_allclose(again[0], left)
    back = absolute.relative_hand_poses(absolute.tracks[0], mean_l, mean_r)
    np.testing.assert_allclose(back[0], track.left_hand_pose, atol=1e-6)
    with pytest.raises(ValueError, match="hands_meanl"):
        absolute.relative_hand_poses(absolute.tracks[0])
    with pytest.raises(ValueError, match="45 values"):
        clip.flat_hand_poses(track, np.zeros(44), mean_r)


# ---- exports -------------------------------------------------------------------------------------------------------
def test_export_per_frame_matches_original_layout(tmp_path):
    clip = make_clip()
    written = export_per_frame(clip, tmp_path / "out")
    assert len(written) == 12 + 6
    npz = tmp_path / "out" / "smplx" / "00010_3.npz"
    assert npz in written
    expected_shapes = {
        "global_orient": (1, 3), "body_pose": (21, 3), "left_hand_pose": (15, 3), "right_hand_pose": (15, 3),
        "jaw_pose": (1, 3), "leye_pose": (1, 3), "reye_pose": (1, 3), "betas": (1, 10), "expression": (1, 10),
        "transl": (1, 3),
    }
    track = clip.tracks[1]
    i = 3  # frame 10 is the 4th frame of track 3
    with np.load(npz) as data:
        assert {k: data[k].shape for k in data.files} == expected_shapes
        assert data["leye_pose"].dtype == np.float64 and not data["leye_pose"].any() and not data["reye_pose"].any()
        assert data["body_pose"].dtype == np.float32
        np.testing.assert_array_equal(data["body_pose"], track.body_pose[i])
        np.testing.assert_array_equal(data["transl"][0], track.transl[i])
        np.testing.assert_array_equal(data["left_hand_pose"], track.left_hand_pose[i])
    meta = json.loads((tmp_path / "out" / "meta" / "00010_3.json").read_text())
    assert meta["focal"] == [700.0, 700.0] and meta["princpt"] == [319.5, 239.5] and meta["bbox_id"] == 3
    x1, y1, x2, y2 = track.boxes[i].astype(float)
    np.testing.assert_allclose(meta["bbox"], [x1, y1, x2 - x1, y2 - y1])
    assert meta["img_path"] == "/videos/walk.mp4"


def test_export_per_frame_subtracts_the_mean_of_absolute_hands(tmp_path):
    mean_l, mean_r = np.full(45, 0.1), np.full(45, -0.2)
    clip = make_clip().with_hand_mean(mean_l, mean_r)
    with pytest.raises(ValueError, match="hands_meanl"):
        export_per_frame(clip, tmp_path / "a")
    export_per_frame(clip, tmp_path / "b", model_arrays={"hands_meanl": mean_l, "hands_meanr": mean_r})
    with np.load(tmp_path / "b" / "smplx" / "00005_0.npz") as data:
        np.testing.assert_allclose(data["right_hand_pose"], make_clip().tracks[0].right_hand_pose[0], atol=1e-6)


@pytest.fixture(scope="module")
def model_arrays(parity_model_dir) -> dict[str, np.ndarray]:
    with np.load(parity_model_dir / MODEL_NPZ) as data:
        return {k: data[k] for k in ("v_template", "shapedirs", "J_regressor", "hands_meanl", "hands_meanr")}


def test_export_amass_camera_frame_layout(tmp_path, model_arrays):
    clip = make_clip()
    track = clip.tracks[1]
    path = export_amass(clip, tmp_path / "amass.npz", track_index=1, model_arrays=model_arrays, z_up=False)
    n = len(track)
    expected = np.zeros((n, 165))
    expected[:, 0:3] = track.global_orient
    expected[:, 3:66] = track.body_pose.reshape(n, 63)
    expected[:, 66:69] = track.jaw_pose
    # 69:75 eyes stay zero
    expected[:, 75:120] = track.left_hand_pose.reshape(n, 45) + model_arrays["hands_meanl"]
    expected[:, 120:165] = track.right_hand_pose.reshape(n, 45) + model_arrays["hands_meanr"]
    with np.load(path) as data:
        np.testing.assert_allclose(data["poses"], expected, atol=1e-6)
        assert data["poses"].shape == (n, 165) and data["trans"].shape == (n, 3)
        assert str(data["surface_model_type"]) == "smplx" and str(data["gender"]) == "female"
        assert float(data["mocap_framerate"]) == pytest.approx(29.97)
        np.testing.assert_allclose(data["betas"], np.median(track.betas, axis=0), atol=1e-6)
        np.testing.assert_array_equal(data["pose_hand"], data["poses"][:, 75:])
        assert str(data["world"]) == "opencv_camera"
        # same root position with the per-sequence betas: J0(betas_t, expr_t) + t == J0(median betas) + trans
        j0_src = rest_root_joint(model_arrays, track.betas, track.expression)
        j0_dst = rest_root_joint(model_arrays, data["betas"][None])
        np.testing.assert_allclose(j0_dst + data["trans"], j0_src + track.transl, atol=1e-5)


def test_export_amass_z_up_keeps_the_body_in_place(tmp_path, model_arrays, parity_model_dir):
    """Vertices from the Z-up file equal camera-frame vertices rotated to Z up (smplx forward as the reference)."""
    smplx = pytest.importorskip("smplx")
    import torch

    track = make_track(0, frames=np.arange(4), seed=4)
    track = track.replace(betas=np.tile(track.betas[0], (4, 1)), expression=np.zeros((4, 10)))
    clip = make_clip(tracks=[track])
    path = export_amass(clip, tmp_path / "amass.npz", model_arrays=model_arrays, z_up=True)
    body = smplx.create(str(parity_model_dir), "smplx", gender="neutral", use_pca=False, flat_hand_mean=True,
                        num_betas=10, num_expression_coeffs=10, batch_size=4)

    def verts(poses, trans, betas):
        t = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float32)  # noqa: E731
        out = body(global_orient=t(poses[:, :3]), body_pose=t(poses[:, 3:66]), jaw_pose=t(poses[:, 66:69]),
                   leye_pose=t(poses[:, 69:72]), reye_pose=t(poses[:, 72:75]), left_hand_pose=t(poses[:, 75:120]),
                   right_hand_pose=t(poses[:, 120:165]), betas=t(np.tile(betas, (4, 1))), transl=t(trans),
                   expression=torch.zeros(4, 10))
        return out.vertices.detach().numpy()

    with np.load(path) as data:
        assert str(data["world"]) == "z_up"
        zup = verts(data["poses"], data["trans"], data["betas"])
        cam_poses = data["poses"].copy()
        cam_poses[:, :3] = track.global_orient
        cam = verts(cam_poses, track.transl, track.betas[0])
        # the AMASS root rotation is R_w · R (checked with scipy)
        rw = Rotation.from_matrix([[1, 0, 0], [0, 0, 1], [0, -1, 0]])
        expected_root = (rw * Rotation.from_rotvec(track.global_orient)).as_matrix()
        np.testing.assert_allclose(Rotation.from_rotvec(data["poses"][:, :3]).as_matrix(), expected_root, atol=1e-5)
    cam_as_zup = np.stack([cam[..., 0], cam[..., 2], -cam[..., 1]], axis=-1)  # x, z, -y: camera looking along +y
    assert np.abs(zup - cam_as_zup).max() < 1e-4


def test_export_amass_needs_model_arrays_and_a_valid_track(tmp_path):
    clip = make_clip()
    with pytest.raises(ValueError, match="read_model_arrays"):
        export_amass(clip, tmp_path / "a.npz")
    with pytest.raises(ValueError, match="track_index 5 out of range"):
        export_amass(clip, tmp_path / "a.npz", track_index=5)
    assert not (tmp_path / "a.npz").exists()


def test_rest_root_joint_matches_regressor(model_arrays):
    betas = np.random.default_rng(0).normal(0, 1, (3, 10))
    expr = np.random.default_rng(1).normal(0, 1, (3, 10))
    shaped = model_arrays["v_template"][None] + np.einsum("vck,nk->nvc", model_arrays["shapedirs"][:, :, :10], betas) \
        + np.einsum("vck,nk->nvc", model_arrays["shapedirs"][:, :, 300:310], expr)
    expected = np.einsum("v,nvc->nc", model_arrays["J_regressor"][0], shaped)
    np.testing.assert_allclose(rest_root_joint(model_arrays, betas, expr), expected, atol=1e-5)


def test_motion_module_imports_with_numpy_only():
    import subprocess
    import sys

    code = ("import sys; import core.motion; "
            "bad = [m for m in ('torch', 'scipy', 'cv2', 'smplx', 'av') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1],
                   env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})


def test_select_and_track_lookup():
    clip = make_clip()
    track = clip.track(3)
    assert track is clip.tracks[1]
    with pytest.raises(KeyError, match=r"ids present: \[0, 3\]"):
        clip.track(7)
    part = track.select(track.frames >= 10)
    np.testing.assert_array_equal(part.frames, [10, 11, 39])
    np.testing.assert_array_equal(part.body_pose, track.body_pose[3:])
    assert part.gender == "female" and part.track_id == 3
    params = track.smplx_params()
    assert params["body_pose"].shape == (6, 63) and params["left_hand_pose"].shape == (6, 45)
    assert not params["leye_pose"].any()
