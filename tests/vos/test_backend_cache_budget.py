"""The cache folder's disk budget: sizes, least-recently-used eviction, recorded budgets, reporting."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from vos_recommender.backends.cache import CachingBackend
from vos_recommender.backends.cache_format import FORMAT_FILE, CacheFormatError, parse_bytes
from vos_recommender.backends.cache_store import CacheStore

from .test_backend_cache import CountingBackend, _episode, _scribble


def _folder_bytes(folder):
    return sum(p.stat().st_size for p in folder.glob("??/*"))


def _keys(folder):
    return {p.name.split(".")[0] for p in folder.glob("??/*.json")}


def _masks(value):
    return np.full((4, 32, 32), value, np.uint8), np.zeros((4, 2, 32, 32), np.float32)


@pytest.mark.parametrize(
    "text, size",
    [("1GB", 10**9), ("500MB", 5 * 10**8), ("1.5GiB", int(1.5 * 2**30)), (" 64 kb ", 64_000), (2048, 2048)],
)
def test_sizes_are_parsed(text, size):
    assert parse_bytes(text) == size


@pytest.mark.parametrize(
    "bad", ["1 parsec", "GB", "-5MB", True, -1, "0.5", 0.5, "0.0001KB", float("nan"), [1]]
)
def test_bad_sizes_name_the_argument_and_value(bad):
    with pytest.raises(ValueError, match=f"cache_budget .*{bad!r}".replace("(", r"\(").replace(")", r"\)")):
        parse_bytes(bad, "cache_budget")
    assert parse_bytes(None) is None and parse_bytes(0) is None and parse_bytes("0GB") is None


def test_least_recently_used_entries_are_evicted_first(tmp_path):
    store = CacheStore(tmp_path, memory_entries=0, memory_arrays=0)
    keys = [f"{i:02x}" + "0" * 38 for i in range(6)]
    for i, key in enumerate(keys):
        store.write(key, *_masks(i), elapsed=float(i))
    entry = _folder_bytes(tmp_path) // len(keys)
    past = time.time() - 1000
    for i, key in enumerate(keys):  # written in order, long ago; key 0 oldest
        for path in (tmp_path / key[:2]).iterdir():
            os.utime(path, (past + i, past + i))
    reader = CacheStore(tmp_path, memory_entries=0, memory_arrays=0)
    assert reader.record(keys[0]) is not None
    reader.used(keys[0])  # a replay: key 0 becomes the most recently used
    budgeted = CacheStore(tmp_path, memory_entries=0, max_bytes=int(4.5 * entry))
    assert budgeted.budget.usage == _folder_bytes(tmp_path)
    budgeted.write("ff" + "0" * 38, *_masks(9), elapsed=9.0)  # over budget: evict down to 90 %
    left = _keys(tmp_path)
    assert keys[0] in left and "ff" + "0" * 38 in left
    assert keys[1] not in left and keys[2] not in left  # the two least recently used went
    assert _folder_bytes(tmp_path) <= int(4.5 * entry)
    assert budgeted.budget.evictions == len(keys) + 1 - len(left)
    assert budgeted.budget.usage == _folder_bytes(tmp_path)


def test_a_budget_bounds_the_folder_and_replays_stay_correct(tmp_path):
    reference = _episode(CountingBackend())
    cache = CachingBackend(CountingBackend(), tmp_path, max_bytes=5000)
    for shift in range(12):  # many different episodes: far more entries than the budget holds
        cache.start_video(*_video())
        for frame in (1, 2, 3):
            cache.interact(_scribble(frame, 0.1 + 0.05 * shift, 0.5), frame)
    stats = cache.stats()
    assert stats["evictions"] == cache.evictions > 0 and stats["max_bytes"] == 5000
    assert _folder_bytes(tmp_path) <= 5000 and stats["bytes"] == _folder_bytes(tmp_path)
    assert stats["bytes_written"] > 5000
    # The latest episode's entries are the most recent: they replay.
    replayed = _episode(cache)
    for ref, result in zip(reference, replayed):
        np.testing.assert_array_equal(result.masks, ref.masks)
        np.testing.assert_array_equal(result.probs, ref.probs)


def test_an_entry_evicted_after_its_record_was_read_is_recomputed(tmp_path):
    reference = _episode(CountingBackend())
    _episode(CachingBackend(CountingBackend(), tmp_path))
    inner = CountingBackend()
    cache = CachingBackend(inner, tmp_path, memory_arrays=0)
    replayed = _episode(cache)
    assert cache.hits == 3
    CacheStore(tmp_path, max_bytes=1).budget.enforce()  # another process evicts everything
    assert not _keys(tmp_path)
    for ref, result in zip(reference, replayed):
        np.testing.assert_array_equal(result.masks, ref.masks)
    assert cache.repairs == 3


def test_the_budget_is_recorded_in_the_folder(tmp_path):
    CachingBackend(CountingBackend(), tmp_path, max_bytes="2MB")
    assert json.loads((tmp_path / FORMAT_FILE).read_text())["max_bytes"] == 2_000_000
    assert CachingBackend(CountingBackend(), tmp_path).stats()["max_bytes"] == 2_000_000
    CachingBackend(CountingBackend(), tmp_path, max_bytes=0)  # removes it
    assert CachingBackend(CountingBackend(), tmp_path).store.max_bytes is None
    with pytest.raises(ValueError, match="max_bytes must be a size .*'lots'"):
        CachingBackend(CountingBackend(), tmp_path, max_bytes="lots")


@pytest.mark.parametrize("recorded", [-5, "0.5", True, float("nan"), "2 parsecs", [2]])
def test_a_bad_budget_in_the_format_file_is_named_when_the_folder_opens(tmp_path, recorded):
    (tmp_path / FORMAT_FILE).write_text(json.dumps({"format": 4, "max_bytes": recorded}))
    with pytest.raises(CacheFormatError, match=f"max_bytes in {tmp_path / FORMAT_FILE} .*{recorded!r}"):
        CacheStore(tmp_path)  # opening, not the first miss, says what is wrong
    # A budget given replaces the recorded one, which needs no hand repair then.
    store = CacheStore(tmp_path, max_bytes="1MB")
    assert store.max_bytes == 10**6
    assert json.loads((tmp_path / FORMAT_FILE).read_text())["max_bytes"] == 10**6


@pytest.mark.parametrize(
    "recorded, budget", [("2GB", 2 * 10**9), (150_000, 150_000), (0, None), (None, None)]
)
def test_a_size_with_a_unit_in_the_format_file_is_read(tmp_path, recorded, budget):
    (tmp_path / FORMAT_FILE).write_text(json.dumps({"format": 4, "max_bytes": recorded}))
    store = CacheStore(tmp_path)
    assert store.max_bytes == budget
    store.write("ab" + "0" * 38, *_masks(1), elapsed=1.0)  # a miss compares sizes with the budget
    assert _keys(tmp_path) == {"ab" + "0" * 38}


def test_side_files_count_and_go_least_recently_used_first(tmp_path):
    scribbles = tmp_path / "scribbles" / "a"
    scribbles.mkdir(parents=True)
    (scribbles / "old.json").write_bytes(b"x" * 3900)
    past = time.time() - 1000
    os.utime(scribbles / "old.json", (past, past))
    (tmp_path / "goal_stats").mkdir()
    (tmp_path / "goal_stats" / "stats.json").write_bytes(b"y" * 9000)  # never counted nor evicted
    store = CacheStore(tmp_path, max_bytes=4000)
    assert store.budget.usage == 3900
    store.write("ab" + "0" * 38, *_masks(1), elapsed=1.0)
    assert not (scribbles / "old.json").exists() and (tmp_path / "goal_stats" / "stats.json").exists()
    assert _keys(tmp_path) == {"ab" + "0" * 38}


def _video():
    from .test_backend_cache import FRAMES

    return FRAMES, 2
