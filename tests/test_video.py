"""core.video: decoding, rotation metadata, VFR timestamps, frame ranges, image folders and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from core.video import open_video
from tests._media import moving_shapes, write_video


def _marker_frames(n: int, h: int = 48, w: int = 64) -> list[np.ndarray]:
    """Frames with a white block in the top-left corner and the frame number encoded as grey level elsewhere."""
    frames = []
    for i in range(n):
        img = np.full((h, w, 3), 20 + 20 * i, np.uint8)
        img[:16, :16] = 255
        frames.append(img)
    return frames


def _corner_of_white(image: np.ndarray) -> str:
    """Which corner holds the white block (independent of how the decoder rotated the frame)."""
    h, w = image.shape[:2]
    corners = {"tl": image[:8, :8], "tr": image[:8, w - 8:], "bl": image[h - 8:, :8], "br": image[h - 8:, w - 8:]}
    return max(corners, key=lambda k: corners[k].mean())


def test_decode_basic(tmp_path):
    frames, _ = moving_shapes(6, 64, 96)
    path = write_video(tmp_path / "a.mp4", frames, fps=25)
    src = open_video(path)
    assert src.fps == pytest.approx(25)
    assert src.size == (96, 64)
    assert src.total_frames == 6
    out = list(src)
    assert [f.index for f in out] == list(range(6))
    np.testing.assert_allclose([f.time for f in out], np.arange(6) / 25, atol=1e-3)
    for f, ref in zip(out, frames):
        assert f.image.dtype == np.uint8 and f.image.shape == (64, 96, 3)
        assert np.abs(f.image.astype(int) - ref).mean() < 4  # lossy but close (crf 18)
    assert len(list(src)) == 6  # re-iterable


@pytest.mark.parametrize("rotation, corner", [("cw90", "tr"), ("ccw90", "bl"), ("180", "br")])
def test_rotation_metadata(tmp_path, rotation, corner):
    # The display matrices are the MP4 track-header matrices phones write (see tests/_media.py); by the ISO BMFF
    # definition cw90 maps the stored top-left corner to the shown top-right one, ccw90 to bottom-left, 180 to
    # bottom-right. The stored frames are 64 wide x 48 high with the white block top-left.
    path = write_video(tmp_path / "r.mp4", _marker_frames(3), fps=30, rotation=rotation)
    src = open_video(path)
    frames = list(src)
    if rotation == "180":
        assert src.size == (64, 48) and frames[0].image.shape == (48, 64, 3)
    else:
        assert src.size == (48, 64) and frames[0].image.shape == (64, 48, 3)
    assert _corner_of_white(frames[0].image) == corner


def test_variable_frame_rate_times(tmp_path):
    times = [0.0, 0.033, 0.070, 0.200, 0.230, 0.5]
    path = write_video(tmp_path / "vfr.mp4", _marker_frames(len(times)), fps=30, vfr_times=times)
    out = list(open_video(path))
    np.testing.assert_allclose([f.time for f in out], times, atol=1e-6)
    # The grey level encodes the frame number: frames come out in presentation order.
    levels = [int(np.median(f.image[30:, 30:, 0])) for f in out]
    np.testing.assert_allclose(levels, [20 + 20 * i for i in range(len(times))], atol=3)


def test_forced_fps_overrides_timestamps(tmp_path):
    times = [0.0, 0.033, 0.070, 0.200]
    path = write_video(tmp_path / "vfr.mp4", _marker_frames(4), fps=30, vfr_times=times)
    out = list(open_video(path, fps=10))
    np.testing.assert_allclose([f.time for f in out], [0.0, 0.1, 0.2, 0.3])


def test_range_and_stride(tmp_path):
    path = write_video(tmp_path / "a.mp4", _marker_frames(10), fps=20)
    src = open_video(path, start=2, end=9, stride=3)
    out = list(src)
    assert [f.index for f in out] == [2, 5, 8]
    assert src.num_frames == 3
    np.testing.assert_allclose([f.time for f in out], [0.1, 0.25, 0.4], atol=1e-3)
    levels = [int(np.median(f.image[30:, 30:, 0])) for f in out]
    np.testing.assert_allclose(levels, [60, 120, 180], atol=3)
    assert [f.index for f in open_video(path, start=7)] == [7, 8, 9]


def test_bad_range(tmp_path):
    path = write_video(tmp_path / "a.mp4", _marker_frames(2), fps=20)
    with pytest.raises(ValueError, match="range"):
        open_video(path, start=5, end=3)
    with pytest.raises(ValueError, match="range"):
        open_video(path, stride=0)


def test_image_folder(tmp_path):
    import cv2

    folder = tmp_path / "frames"
    folder.mkdir()
    frames = _marker_frames(12)
    for i, img in enumerate(frames):  # natural order: frame_2 before frame_10
        cv2.imwrite(str(folder / f"frame_{i}.png"), img[:, :, ::-1])
    (folder / "notes.txt").write_text("ignored")
    src = open_video(folder, start=1, stride=5, fps=12)
    assert src.fps == 12 and src.size == (64, 48) and src.total_frames == 12
    out = list(src)
    assert [f.index for f in out] == [1, 6, 11]
    np.testing.assert_allclose([f.time for f in out], [1 / 12, 0.5, 11 / 12])
    for f in out:
        np.testing.assert_array_equal(f.image, frames[f.index])  # PNG is lossless, RGB order kept
    assert open_video(folder).fps == 30


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.mp4"):
        open_video(tmp_path / "nothere.mp4")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.mp4.*empty"):
        open_video(path)


def test_not_a_video(tmp_path):
    path = tmp_path / "junk.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="junk.mp4"):
        open_video(path)


def test_truncated_video(tmp_path):
    frames, _ = moving_shapes(10, 64, 96)
    good = write_video(tmp_path / "good.mp4", frames)
    path = tmp_path / "cut.mp4"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 3])  # moov atom at the end is lost
    with pytest.raises(ValueError, match="cut.mp4"):
        src = open_video(path)
        list(src)


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="no .jpg"):
        open_video(tmp_path)


def test_truncated_stream_warns(tmp_path, caplog):
    frames, _ = moving_shapes(30, 64, 96)
    good = write_video(tmp_path / "good.mkv", frames)  # Matroska: the header survives a cut, the frames do not
    path = tmp_path / "cut.mkv"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with caplog.at_level("WARNING", logger="core.video"):
        out = list(open_video(path))
    assert 0 < len(out) < 30
    assert "cut.mkv" in caplog.text and "truncated" in caplog.text


def test_iteration_is_lazy(tmp_path):
    import types

    frames, _ = moving_shapes(20, 64, 96)
    src = open_video(write_video(tmp_path / "a.mp4", frames))
    it = iter(src)
    assert isinstance(it, types.GeneratorType)  # one frame at a time, never a list of the whole video
    assert next(it).index == 0 and next(it).index == 1
    it.close()  # stopping early closes the container


def test_image_folder_exif_orientation(tmp_path):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # EXIF Orientation 6: the stored image must be turned 90 degrees clockwise to be shown
    Image.fromarray(_marker_frames(1)[0]).save(folder / "0001.jpg", exif=exif, quality=95)
    src = open_video(folder)
    (frame,) = list(src)
    assert src.size == (48, 64) and frame.image.shape == (64, 48, 3)
    assert _corner_of_white(frame.image) == "tr"
