"""What an entry keeps of the probabilities (store_probs), and what a replay gives back."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from vos_recommender.backends.cache import CachingBackend

from .test_backend_cache import ROUNDS, CountingBackend, _episode


def _members(folder):
    names = set()
    for path in folder.glob("??/*.npz"):
        with zipfile.ZipFile(path) as archive:
            names |= {n.removesuffix(".npy") for n in archive.namelist()}
    return names


def test_default_entries_hold_masks_only_and_replays_recompute_probs_exactly(tmp_path):
    reference = _episode(CountingBackend())
    first = _episode(CachingBackend(CountingBackend(), tmp_path))
    assert "masks" in _members(tmp_path) and not _members(tmp_path) & {"probs", "probs_u8"}
    for ref, result in zip(reference, first):  # the computed result keeps its exact probabilities
        np.testing.assert_array_equal(result.probs, ref.probs)

    inner = CountingBackend()
    cache = CachingBackend(inner, tmp_path, memory_arrays=0)
    replayed = _episode(cache)
    for ref, result in zip(reference, replayed):
        np.testing.assert_array_equal(result.masks, ref.masks)
    assert inner.calls == 0 and cache.probs_recomputed == 0  # masks came from disk
    for ref, result in zip(reference, replayed):
        np.testing.assert_array_equal(result.probs, ref.probs)
        assert result.probs.dtype == np.float32
    # Asked round after round, the wrapped backend runs each round once, from one start.
    assert cache.probs_recomputed == 3 and inner.calls == 3 and inner.starts == 1
    assert cache.stats()["probs_recomputed"] == 3 and cache.repairs == 0


def test_uint8_store_quantises_and_replays_what_it_returned(tmp_path):
    reference = _episode(CountingBackend())
    cache = CachingBackend(CountingBackend(), tmp_path, store_probs="uint8")
    first = _episode(cache)
    assert _members(tmp_path) >= {"masks", "probs_u8"}
    inner = CountingBackend()
    replay = CachingBackend(inner, tmp_path, memory_arrays=0)  # a reader needs no setting to decode them
    second = _episode(replay)
    for ref, a, b in zip(reference, first, second):
        np.testing.assert_array_equal(b.probs, a.probs)
        np.testing.assert_array_equal(b.masks, ref.masks)
        assert np.abs(a.probs - ref.probs).max() <= 0.5 / 255 + 1e-6
        assert not np.array_equal(a.probs, ref.probs)  # rounded, as documented
    assert inner.calls == 0


@pytest.mark.parametrize("store", ["float16", "float32"])
def test_float_stores_keep_probs_at_their_precision(tmp_path, store):
    reference = _episode(CountingBackend())
    first = _episode(CachingBackend(CountingBackend(), tmp_path, store_probs=store))
    second = _episode(CachingBackend(CountingBackend(), tmp_path, memory_arrays=0))
    for ref, a, b in zip(reference, first, second):
        np.testing.assert_array_equal(b.probs, a.probs)
        np.testing.assert_array_equal(a.probs, ref.probs.astype(store).astype(np.float32))


def test_a_probs_keeping_cache_adds_them_to_masks_only_entries(tmp_path):
    reference = _episode(CountingBackend())
    recorded = _episode(CachingBackend(CountingBackend(), tmp_path))  # masks only
    upgrading = CachingBackend(CountingBackend(), tmp_path, store_probs="float32", memory_arrays=0)
    np.testing.assert_array_equal(_episode(upgrading)[1].probs, reference[1].probs)
    assert upgrading.probs_recomputed == 1
    inner = CountingBackend()
    later = CachingBackend(inner, tmp_path, memory_arrays=0)
    replayed = _episode(later)
    np.testing.assert_array_equal(replayed[1].probs, reference[1].probs)
    assert inner.calls == 0 and later.probs_recomputed == 0
    assert replayed[1].elapsed == recorded[1].elapsed  # the entry keeps the time of its first run


def test_probs_setting_is_checked_and_store_dtype_still_works(tmp_path):
    with pytest.raises(ValueError, match="store_probs must be one of .*'int8'"):
        CachingBackend(CountingBackend(), tmp_path, store_probs="int8")
    with pytest.warns(DeprecationWarning, match="store_probs"):
        cache = CachingBackend(CountingBackend(), tmp_path, store_dtype="float16")
    assert cache.store_probs == "float16"
    cache.start_video(*_video())
    assert cache.interact(*ROUNDS[0]).probs.dtype == np.float32


def _video():
    from .test_backend_cache import FRAMES

    return FRAMES, 2
