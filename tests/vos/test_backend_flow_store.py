"""The flow backend's per-video work and state: flows computed once (on disk), frames reported, state files."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from vos_recommender.backends import BackendStateError, build_backend
from vos_recommender.backends.flow import FlowBackend
from vos_recommender.backends.flow_store import FlowStore, dense_flow
from vos_recommender.data.generate import human_scribble
from vos_recommender.data.synthesis import synthesize_video


@pytest.fixture(scope="module")
def video():
    return synthesize_video(np.random.default_rng(5), 8, 40, 64, 2)


def _scribble(video, frame, seed):
    return human_scribble(video.masks, frame, 2, "v", np.random.default_rng(seed))


def _rounds(backend, video, frames, on_frame=None):
    return [backend.interact(_scribble(video, f, i), f, on_frame=on_frame) for i, f in enumerate(frames)]


def test_flows_are_the_dense_flows_and_computed_once(video, monkeypatch):
    store = FlowStore(video.frames)
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in video.frames]
    computed = []
    real = dense_flow

    def counting(src, dst, method="dis"):
        computed.append(1)
        return real(src, dst, method)

    monkeypatch.setattr("vos_recommender.backends.flow_store.dense_flow", counting)
    flow = store.from_prev(3)
    assert flow.shape == (40, 64, 2) and flow.dtype == np.float32
    np.testing.assert_array_equal(flow, real(grey[3], grey[2]))
    assert store.from_prev(3) is flow and len(computed) == 1
    with pytest.raises(KeyError, match="no flow \\('next', 7\\) in a video of 8 frames"):
        store.from_next(7)


def test_the_disk_cache_is_read_back_and_a_damaged_file_is_computed_again(video, tmp_path, monkeypatch):
    first = FlowStore(video.frames, cache_dir=tmp_path)
    expected = {key: first.get(key).copy() for key in first.keys()}
    files = sorted(first.folder.glob("*.npy"))
    assert len(files) == 2 * (len(video.frames) - 1)
    monkeypatch.setattr(
        "vos_recommender.backends.flow_store.dense_flow",
        lambda *a, **k: pytest.fail("a cached flow was computed again"),
    )
    again = FlowStore(video.frames, cache_dir=tmp_path)
    for key, flow in expected.items():
        np.testing.assert_array_equal(again.get(key), flow)
    monkeypatch.undo()
    damaged = again.path(("next", 2))
    damaged.write_bytes(b"\x93NUMPY broken")
    third = FlowStore(video.frames, cache_dir=tmp_path)
    with pytest.warns(UserWarning, match=f"{damaged.name} cannot be read.*computing it again"):
        np.testing.assert_array_equal(third.from_next(2), expected[("next", 2)])
    np.testing.assert_array_equal(np.load(damaged), expected[("next", 2)])  # replaced
    # Another video (other pixels) has another folder.
    other = FlowStore(video.frames[::-1].copy(), cache_dir=tmp_path)
    assert other.folder != first.folder


def test_prefetch_computes_in_the_propagation_order_and_never_twice(video, monkeypatch):
    store = FlowStore(video.frames)
    order = FlowStore.propagation_order([4], 4, 8)
    assert order[:2] == [("prev", 5), ("next", 3)]  # forward to the right, backward to the left
    assert set(order) == {("prev", t) for t in range(5, 8)} | {("next", t) for t in range(4)}
    assert set(FlowStore.propagation_order([1, 6], 1, 8)) == {("prev", t) for t in range(2, 8)} | {
        ("next", t) for t in range(6)
    }
    every = FlowStore.propagation_order([4], 4, 8, others=True)
    assert every[: len(order)] == order and sorted(every) == sorted(store.keys())
    seen, lock, real = [], threading.Lock(), dense_flow

    def recording(src, dst, method="dis"):
        with lock:
            seen.append(1)
        return real(src, dst, method)

    monkeypatch.setattr("vos_recommender.backends.flow_store.dense_flow", recording)
    store.prefetch(order)
    for key in reversed(order):  # asked for meanwhile, in another order
        store.get(key)
    store.stop()
    assert len(seen) == len(order) == store.computed


def test_rounds_are_the_same_with_flows_from_the_cache_and_report_every_frame(video, tmp_path):
    plain = FlowBackend()
    plain.start_video(video.frames, 2)
    expected = _rounds(plain, video, [4, 1, 6])
    cached = FlowBackend()
    for _ in range(2):  # flows computed, then read back from disk by a new backend
        cached = FlowBackend()
        cached.precompute(video.frames, tmp_path, frame=4)
        cached.start_video(video.frames, 2)
        reported: list[int] = []
        masks: dict[int, np.ndarray] = {}

        def on_frame(t, mask, reported=reported, masks=masks):
            reported.append(t)
            masks[t] = mask.copy()

        results = _rounds(cached, video, [4, 1, 6], on_frame)
        for got, want in zip(results, expected):
            np.testing.assert_array_equal(got.masks, want.masks)
            np.testing.assert_array_equal(got.probs, want.probs)
        last = reported[-len(video.frames) :]
        assert sorted(last) == list(range(len(video.frames))) and set(last[:3]) == {
            1,
            4,
            6,
        }  # annotated first
        for t, mask in masks.items():
            np.testing.assert_array_equal(mask, results[-1].masks[t])
    cached.stop_precompute()


def test_a_saved_state_continues_exactly_in_a_new_backend(video, tmp_path):
    straight = FlowBackend()
    straight.start_video(video.frames, 2)
    _rounds(straight, video, [4, 1])
    straight.save_state(tmp_path / "state.npz")
    want = straight.interact(_scribble(video, 6, 9), 6)

    restored = FlowBackend()
    restored.start_video(video.frames.copy(), 2)
    restored.load_state(tmp_path / "state.npz")
    assert restored.annotated_frames == [4, 1]
    got = restored.interact(_scribble(video, 6, 9), 6)
    np.testing.assert_array_equal(got.masks, want.masks)
    np.testing.assert_array_equal(got.probs, want.probs)


def test_a_state_of_another_backend_size_or_object_count_is_refused(video, tmp_path):
    backend = FlowBackend()
    with pytest.raises(RuntimeError, match="save_state called before start_video"):
        backend.save_state(tmp_path / "s.npz")
    backend.start_video(video.frames, 2)
    _rounds(backend, video, [4])
    backend.save_state(tmp_path / "s.npz")
    three = FlowBackend()
    three.start_video(video.frames, 3)
    with pytest.raises(BackendStateError, match="saved with num_objects 2, not 3"):
        three.load_state(tmp_path / "s.npz")
    small = FlowBackend()
    small.start_video(video.frames[:4], 2)
    with pytest.raises(
        BackendStateError, match="saved with shape \\[8, 40, 64, 3\\], not \\[4, 40, 64, 3\\]"
    ):
        small.load_state(tmp_path / "s.npz")
    (tmp_path / "bad.npz").write_bytes(b"nothing")
    with pytest.raises(BackendStateError, match="cannot read the backend state .*bad.npz"):
        backend.load_state(tmp_path / "bad.npz")
    other = build_backend("cache", backend="flow", cache_dir=str(tmp_path / "c"))
    other.start_video(video.frames, 2)
    with pytest.raises(BackendStateError, match="cannot write its state to a file"):
        other.save_state(tmp_path / "o.npz")


def test_a_flow_that_fails_ahead_of_time_fails_where_it_is_needed(video, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("broken frame")

    monkeypatch.setattr("vos_recommender.backends.flow_store.dense_flow", broken)
    store = FlowStore(video.frames)
    with pytest.warns(
        UserWarning, match=r"optical flow \('prev', 1\) could not be computed ahead of time: broken"
    ):
        store.prefetch([("prev", 1), ("prev", 2)])
        store.stop()  # waits for the thread, which stopped at the first failure
    assert store.computed == 0
    with pytest.raises(ValueError, match="broken frame"):
        store.from_prev(1)
