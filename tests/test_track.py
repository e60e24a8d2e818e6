"""core.track: identities through crossings, occlusions, absences; interpolation; selection."""

from __future__ import annotations

import numpy as np
import pytest

from core.track import iou_matrix, select_tracks, track_boxes


def _box(x, y, w, h, score=0.9):
    return [x, y, x + w, y + h, score]


def _crossing(n=30, speed=8.0, hidden=()):
    """A walks right, B walks left at the same height; they meet mid-way. `hidden`: frames where B is occluded."""
    dets, truth = [], []
    for t in range(n):
        a = _box(20 + speed * t, 50, 40, 100)
        b = _box(20 + speed * (n - 1) - speed * t, 50, 40, 96, 0.8)  # 96 px high: tells B from A
        dets.append(np.array([a] if t in hidden else [b, a] if t % 2 else [a, b], np.float32))
        truth.append((a, b))
    return dets, truth


def _identity_of(track, truth):
    """'A' or 'B' when every detected box of the track is that person's box, else None."""
    names = set()
    for f, box, interp in zip(track.frames, track.boxes, track.interpolated):
        if interp:
            continue
        a, b = truth[f]
        if np.allclose(box, a[:4]):
            names.add("A")
        elif np.allclose(box, b[:4]):
            names.add("B")
        else:
            return None
    return names.pop() if len(names) == 1 else None


def test_iou_matrix_by_hand():
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]], float)
    np.testing.assert_allclose(iou_matrix(a, b), [[50 / 150, 0.0, 1.0]])


def test_two_people_crossing():
    dets, truth = _crossing()
    tracks = track_boxes(dets, max_gap=3, min_length=3)
    assert len(tracks) == 2
    assert sorted(_identity_of(t, truth) for t in tracks) == ["A", "B"]
    for t in tracks:
        np.testing.assert_array_equal(t.frames, np.arange(30))
        assert not t.interpolated.any()


def test_crossing_with_occlusion_is_bridged():
    hidden = {14, 15, 16}  # B is behind A while they pass
    dets, truth = _crossing(hidden=hidden)
    tracks = track_boxes(dets, max_gap=3, min_length=3)
    assert len(tracks) == 2
    by_name = {_identity_of(t, truth): t for t in tracks}
    assert set(by_name) == {"A", "B"}
    b = by_name["B"]
    np.testing.assert_array_equal(b.frames, np.arange(30))
    np.testing.assert_array_equal(np.flatnonzero(b.interpolated), sorted(hidden))
    # Linear interpolation between frames 13 and 17 reproduces the (linear) true path.
    for f in hidden:
        np.testing.assert_allclose(b.boxes[f], truth[f][1][:4], atol=1e-4)
        assert b.scores[f] == 0
    assert by_name["B"].scores[0] == pytest.approx(0.8)


def test_strided_frame_indices():
    dets, truth = _crossing(n=20)
    frames = np.arange(20) * 3  # every third frame processed; motion per frame index is speed / 3
    tracks = track_boxes(dets, frame_indices=frames, max_gap=2, min_length=3)
    assert len(tracks) == 2
    for t in tracks:
        np.testing.assert_array_equal(t.frames, frames)


def test_leave_and_return_gets_new_id():
    dets = []
    for t in range(40):
        present = t < 10 or t >= 25  # away for 15 frames, longer than max_gap
        dets.append(np.array([_box(100 + t, 40, 50, 150)], np.float32) if present else np.zeros((0, 5), np.float32))
    tracks = track_boxes(dets, max_gap=5, min_length=3)
    assert [t.track_id for t in tracks] == [0, 1]
    np.testing.assert_array_equal(tracks[0].frames, np.arange(10))
    np.testing.assert_array_equal(tracks[1].frames, np.arange(25, 40))
    # The same absence within max_gap is bridged into one track.
    tracks = track_boxes(dets, max_gap=15, min_length=3)
    assert len(tracks) == 1 and tracks[0].interpolated.sum() == 15


def test_gap_limit_is_inclusive():
    dets = [np.array([_box(10, 10, 40, 100)], np.float32)] * 3 + [np.zeros((0, 5), np.float32)] * 4 \
        + [np.array([_box(10, 10, 40, 100)], np.float32)] * 3
    assert len(track_boxes(dets, max_gap=4, min_length=1)) == 1
    assert len(track_boxes(dets, max_gap=3, min_length=1)) == 2


def test_short_tracks_dropped_and_score_threshold():
    dets = [np.array([_box(10, 10, 40, 100), _box(300, 10, 40, 100, 0.2)], np.float32) for _ in range(8)]
    dets[3] = np.concatenate([dets[3], np.array([_box(150, 150, 20, 20)], np.float32)])  # one-frame blip
    tracks = track_boxes(dets, min_length=3)
    assert len(tracks) == 2
    assert len(track_boxes(dets, min_length=3, score_thr=0.5)) == 1


def test_select_tracks():
    dets = [np.array([_box(10, 10, 40, 100), _box(300, 10, 60, 160)], np.float32) for _ in range(6)]
    dets += [np.array([_box(10, 10, 40, 100)], np.float32) for _ in range(10)]
    tracks = track_boxes(dets, max_gap=2, min_length=3)
    assert len(tracks) == 2
    # Track 0: 16 frames x 4000 px^2 = 64000; track 1: 6 frames x 9600 = 57600 -> largest is track 0.
    assert [t.track_id for t in select_tracks(tracks, "largest")] == [0]
    assert len(select_tracks(tracks, "all")) == 2
    assert [t.track_id for t in select_tracks(tracks, [1])] == [1]
    with pytest.raises(ValueError, match="not found"):
        select_tracks(tracks, [7])
    with pytest.raises(ValueError, match="people"):
        select_tracks(tracks, "biggest")
    assert select_tracks([], "largest") == []


def test_bad_input():
    with pytest.raises(ValueError, match="frame indices"):
        track_boxes([np.zeros((0, 5))] * 3, frame_indices=[0, 1])
    with pytest.raises(ValueError, match="increasing"):
        track_boxes([np.zeros((0, 5))] * 3, frame_indices=[0, 2, 2])
