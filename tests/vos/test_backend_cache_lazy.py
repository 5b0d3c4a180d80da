"""The cache backend's warm path: records, derived values, lazily loaded arrays, memory bounds, repair."""

from __future__ import annotations

import numpy as np
import pytest

from vos_recommender.backends.cache import CachedVOSResult, CachingBackend, scribble_hash

from .test_backend_cache import FRAMES, ROUNDS, CountingBackend, _episode


def test_hits_load_arrays_only_on_access_and_equal_the_originals(tmp_path):
    reference = _episode(CountingBackend())
    _episode(CachingBackend(CountingBackend(), tmp_path, store_probs="float32"))
    inner = CountingBackend()
    cache = CachingBackend(inner, tmp_path, memory_arrays=0)
    replayed = _episode(cache)
    assert cache.hits == 3 and inner.calls == 0
    for ref, result in zip(reference, replayed):
        assert isinstance(result, CachedVOSResult) and result.from_cache and not result.loaded
        np.testing.assert_array_equal(result.masks, ref.masks)
        assert result.loaded
        np.testing.assert_array_equal(result.probs, ref.probs)
        assert result.masks.dtype == np.uint8 and result.probs.dtype == np.float32
    assert inner.calls == 0  # loading the arrays never ran the model


def test_derived_values_persist_with_the_entry(tmp_path):
    cache = CachingBackend(CountingBackend(), tmp_path)
    results = _episode(cache)
    keys = [r.key for r in results]
    assert len(set(keys)) == 3
    cache.put_derived(keys[1], "jf/x", {"J": [[0.25, 1 / 3]], "F": [[0.1, 0.7]]})
    assert cache.derived(keys[1], "jf/x")["J"] == [[0.25, 1 / 3]]
    assert cache.derived(keys[0], "jf/x") is None
    fresh = CachingBackend(CountingBackend(), tmp_path, memory_entries=0)  # nothing kept in memory
    assert fresh.derived(keys[1], "jf/x") == {"J": [[0.25, 1 / 3]], "F": [[0.1, 0.7]]}  # floats exact
    again = _episode(fresh)
    assert [r.key for r in again] == keys and fresh.hits == 3
    with pytest.raises(KeyError, match="no cache entry"):
        fresh.put_derived("0" * 40, "x", 1)


def test_memory_is_bounded(tmp_path):
    cache = CachingBackend(CountingBackend(), tmp_path, memory_entries=2, memory_arrays=1)
    _episode(cache)
    assert len(cache._records) == 2 and len(cache._arrays) == 1
    with pytest.raises(ValueError, match="memory_entries"):
        CachingBackend(CountingBackend(), tmp_path, memory_entries=-1)


def test_unreadable_arrays_behind_a_valid_record_are_recomputed(tmp_path):
    reference = _episode(CountingBackend())
    _episode(CachingBackend(CountingBackend(), tmp_path, store_probs="float32"))
    for entry in tmp_path.rglob("*.npz"):  # same size, garbage content: the record still matches
        entry.write_bytes(b"\0" * entry.stat().st_size)
    inner = CountingBackend()
    cache = CachingBackend(inner, tmp_path)
    replayed = _episode(cache)
    assert cache.hits == 3 and inner.calls == 0
    # Loading round 2's arrays replays rounds 1-2 in the wrapped backend and rewrites the entry.
    np.testing.assert_array_equal(replayed[1].probs, reference[1].probs)
    assert cache.repairs == 1 and inner.calls == 2
    np.testing.assert_array_equal(replayed[2].masks, reference[2].masks)
    assert cache.repairs == 2
    fresh = CachingBackend(CountingBackend(), tmp_path, memory_arrays=0)
    np.testing.assert_array_equal(_episode(fresh)[1].probs, reference[1].probs)
    assert fresh.repairs == 0  # the repaired file is whole


def test_entries_without_records_are_adopted(tmp_path):
    reference = _episode(CachingBackend(CountingBackend(), tmp_path))
    for record in tmp_path.glob("??/*.json"):
        record.unlink()  # the layout before records existed: .npz files only
    inner = CountingBackend()
    cache = CachingBackend(inner, tmp_path)
    replayed = _episode(cache)
    assert cache.hits == 3 and inner.calls == 0 and len(list(tmp_path.glob("??/*.json"))) == 3
    for ref, result in zip(reference, replayed):
        np.testing.assert_array_equal(result.probs, ref.probs)
        assert result.elapsed == ref.elapsed


def test_lazy_scribbles_are_resolved_only_on_a_miss(tmp_path):
    calls = []

    def lazy(scribble):
        def load():
            calls.append(1)
            return scribble

        return load

    rounds = [(lazy(s), f, scribble_hash(s, f)) for s, f in ROUNDS]
    cache = CachingBackend(CountingBackend(), tmp_path)
    cache.start_video(FRAMES, 2)
    first = [cache.interact(s, f, scribble_digest=d) for s, f, d in rounds]
    assert len(calls) == 3 and cache.misses == 3
    cache.start_video(FRAMES, 2)
    second = [cache.interact(s, f, scribble_digest=d) for s, f, d in rounds]
    assert len(calls) == 3 and cache.hits == 3  # never needed
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.probs, b.probs)
    with pytest.raises(ValueError, match="scribble_digest"):
        cache.interact(rounds[0][0], 1)
