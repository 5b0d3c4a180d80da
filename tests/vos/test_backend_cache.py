"""The caching backend: keys, replay, persistence, crash safety, hit rate."""

from __future__ import annotations

import numpy as np
import pytest

from vos_recommender.backends import build_backend
from vos_recommender.backends.base import VOSBackend, objects_to_probs, probs_to_masks
from vos_recommender.backends.cache import CachingBackend, scribble_hash
from vos_recommender.interaction.scribbles import empty_scribble

T, H, W = 5, 12, 16


class CountingBackend(VOSBackend):
    """Deterministic toy backend whose output depends on the whole history; counts its rounds."""

    name = "counting"

    def __init__(self):
        super().__init__()
        self.calls = 0
        self.starts = 0

    def _start(self):
        self.starts += 1
        self.state = np.zeros((T, self.num_objects, H, W), np.float32)

    def _interact(self, scribble, frame):
        self.calls += 1
        for stroke in scribble["scribbles"][frame]:
            x, y = stroke["path"][0]
            obj = stroke["object_id"]
            if obj > 0:
                self.state[:, obj - 1, int(y * H), int(x * W)] += 1.0 / (1 + np.arange(T))
        probs = objects_to_probs(np.clip(self.state + 0.01 * (frame + 1), 0, 1))
        return probs_to_masks(probs), probs


def _scribble(frame, x=0.5, y=0.5, obj=1):
    scribble = empty_scribble("toy", T)
    scribble["scribbles"][frame] = [{"path": [[x, y]], "object_id": obj, "start_time": 0, "end_time": 5}]
    return scribble


FRAMES = np.random.default_rng(0).integers(0, 255, size=(T, H, W, 3), dtype=np.uint8)
ROUNDS = [(_scribble(1, 0.2, 0.3), 1), (_scribble(3, 0.6, 0.1, 2), 3), (_scribble(3, 0.1, 0.9), 3)]


def _episode(backend, rounds=ROUNDS):
    backend.start_video(FRAMES, 2, video_id="toy")
    return [backend.interact(s, f) for s, f in rounds]


def test_replay_is_identical_and_counted(tmp_path):
    reference = _episode(CountingBackend())
    inner = CountingBackend()
    cache = CachingBackend(inner, tmp_path)
    first = _episode(cache)
    assert (cache.hits, cache.misses) == (0, 3) and inner.calls == 3
    second = _episode(cache)
    assert (cache.hits, cache.misses) == (3, 3) and inner.calls == 3 and cache.hit_rate == 0.5
    for ref, a, b in zip(reference, first, second):
        np.testing.assert_array_equal(a.masks, ref.masks)
        np.testing.assert_array_equal(a.probs, ref.probs)
        np.testing.assert_array_equal(b.masks, a.masks)
        np.testing.assert_array_equal(b.probs, a.probs)
        assert b.elapsed == a.elapsed and b.from_cache and not a.from_cache
    stats = cache.stats()
    assert {k: stats[k] for k in ("hits", "misses", "hit_rate")} == {"hits": 3, "misses": 3, "hit_rate": 0.5}
    assert stats["evictions"] == 0 and stats["max_bytes"] == 0
    assert stats["bytes"] == stats["bytes_written"] == sum(p.stat().st_size for p in tmp_path.glob("??/*"))


def test_persists_across_instances(tmp_path):
    _episode(CachingBackend(CountingBackend(), tmp_path))
    inner = CountingBackend()
    again = CachingBackend(inner, tmp_path)
    _episode(again)
    assert again.hits == 3 and inner.calls == 0 and inner.starts == 0  # the model was never started


def test_history_is_part_of_the_key_and_inner_state_is_caught_up(tmp_path):
    cache = CachingBackend(CountingBackend(), tmp_path)
    _episode(cache, ROUNDS[:2])
    # Same rounds 1-2 (hits), a new round 3 (miss): the wrapped backend must first replay rounds 1-2.
    inner = CountingBackend()
    cache2 = CachingBackend(inner, tmp_path)
    results = _episode(cache2)
    assert (cache2.hits, cache2.misses) == (2, 1)
    reference = _episode(CountingBackend())
    np.testing.assert_array_equal(results[2].probs, reference[2].probs)
    # A different earlier round changes the key of the same later round.
    other = [(_scribble(2), 2)] + ROUNDS[1:]
    cache3 = CachingBackend(CountingBackend(), tmp_path)
    _episode(cache3, other)
    assert cache3.hits == 0


def test_keys_depend_on_video_namespace_and_strokes(tmp_path):
    assert scribble_hash(_scribble(1, 0.2, 0.3), 1) != scribble_hash(_scribble(1, 0.2, 0.31), 1)
    _episode(CachingBackend(CountingBackend(), tmp_path, namespace="a"))
    other_namespace = CachingBackend(CountingBackend(), tmp_path, namespace="b")
    _episode(other_namespace)
    assert other_namespace.hits == 0
    other_video = CachingBackend(CountingBackend(), tmp_path, namespace="a")
    other_video.start_video(FRAMES[::-1].copy(), 2)
    other_video.interact(*ROUNDS[0])
    assert other_video.hits == 0


def test_damaged_entries_are_recomputed(tmp_path):
    cache = CachingBackend(CountingBackend(), tmp_path)
    first = _episode(cache)
    entries = sorted(tmp_path.rglob("*.npz"))
    assert len(entries) == 3 and not list(tmp_path.rglob("*.tmp"))
    for entry in entries:
        entry.write_bytes(entry.read_bytes()[:40])  # as if a foreign process truncated them
    (entries[0].parent / ".leftover.tmp").write_bytes(b"partial")  # a crashed writer's temporary file
    inner = CountingBackend()
    cache2 = CachingBackend(inner, tmp_path)
    again = _episode(cache2)
    assert cache2.misses == 3 and inner.calls == 3
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.probs, b.probs)
    cache3 = CachingBackend(CountingBackend(), tmp_path)
    _episode(cache3)
    assert cache3.hits == 3  # rewritten entries are whole again


def test_float16_store_replays_what_it_returned(tmp_path):
    cache = CachingBackend(CountingBackend(), tmp_path, store_probs="float16")
    first = _episode(cache)
    second = _episode(cache)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.probs, b.probs)
    with pytest.raises(ValueError, match="store_dtype"):
        CachingBackend(CountingBackend(), tmp_path, store_dtype="int8")


def test_built_by_name_around_a_registered_backend(tmp_path):
    backend = build_backend("cache", backend="flow", cache_dir=tmp_path, backend_kwargs={"beta": 1500.0})
    assert backend.inner.name == "flow" and backend.inner.beta == 1500.0
    with pytest.raises(ValueError, match="cannot wrap"):
        build_backend("cache", backend="cache", cache_dir=tmp_path)
