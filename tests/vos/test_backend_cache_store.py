"""The cache's on-disk store: a record and its arrays change together; crashed writes are cleaned up."""

from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest

from vos_recommender.backends.cache import CachingBackend
from vos_recommender.backends.cache_store import RECORD_FORMAT, CacheStore

from .test_backend_cache import CountingBackend, _episode

KEY = "ab" + "0" * 38


def _arrays(value: float, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    probs = np.full((3, 2, size, size), value, dtype=np.float32)
    probs += np.random.default_rng(int(value * 1000)).uniform(0, 1e-3, probs.shape).astype(np.float32)
    return np.zeros((3, size, size), np.uint8), probs


def _read_on_disk(folder, key=KEY):
    """A fresh store's view of an entry: (record, arrays), with nothing kept in memory."""
    store = CacheStore(folder, memory_entries=0, memory_arrays=0)
    record = store.record(key)
    if record is None:
        return None, None
    try:
        return record, store.load_arrays(key, record)
    except (OSError, ValueError, KeyError):
        return record, None


def test_racing_writers_never_pair_a_record_with_other_arrays(tmp_path):
    # Two writers store different results (told apart by `elapsed` and by the probabilities) under one
    # key as fast as they can while a reader checks every pair it sees.
    writers = {1.0: _arrays(0.25), 2.0: _arrays(0.75)}
    stop = threading.Event()
    errors: list[str] = []
    seen = {1.0: 0, 2.0: 0}

    def write(elapsed):
        store = CacheStore(tmp_path, memory_entries=0, memory_arrays=0, compress=False, store_probs="float32")
        masks, probs = writers[elapsed]
        while not stop.is_set():
            store.write(KEY, masks, probs, elapsed)

    threads = [threading.Thread(target=write, args=(e,)) for e in writers]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and min(seen.values()) < 20:
            record, arrays = _read_on_disk(tmp_path)
            if record is None or arrays is None:
                continue
            elapsed = record["elapsed"]
            seen[elapsed] += 1
            if not np.array_equal(arrays[1], writers[elapsed][1]):
                errors.append(f"record of writer {elapsed} paired with other arrays")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors
    assert min(seen.values()) > 0, seen  # both writers' entries were read
    record, arrays = _read_on_disk(tmp_path)
    np.testing.assert_array_equal(arrays[1], writers[record["elapsed"]][1])


def test_record_names_its_own_arrays_file(tmp_path):
    store = CacheStore(tmp_path)
    store.write(KEY, *_arrays(0.5), elapsed=1.5)
    record = json.loads(store.record_path(KEY).read_text())
    assert record["format"] == RECORD_FORMAT and record["elapsed"] == 1.5
    path = store.arrays_path(KEY, record)
    assert path.name.startswith(KEY + ".") and path.stat().st_size == record["npz_size"]
    store.write(KEY, *_arrays(0.6), elapsed=2.5)
    second = json.loads(store.record_path(KEY).read_text())
    assert second["arrays"] != record["arrays"]
    # The superseded file is young: it could still belong to a writer that has not written its record.
    assert path.exists()


def test_superseded_arrays_are_removed_after_the_grace_period(tmp_path):
    store = CacheStore(tmp_path, orphan_grace=60.0)
    store.write(KEY, *_arrays(0.5), elapsed=1.0)
    old = store.arrays_path(KEY, store.record(KEY))
    past = time.time() - 120
    os.utime(old, (past, past))
    store.write(KEY, *_arrays(0.6), elapsed=2.0)
    assert not old.exists()
    assert sorted(p.name for p in old.parent.glob("*.npz")) == [store.record(KEY)["arrays"]]


def test_stale_temporaries_are_removed_when_a_cache_is_opened(tmp_path):
    CachingBackend(CountingBackend(), tmp_path)
    folder = tmp_path / "ab"
    folder.mkdir()
    stale = folder / f".{KEY}.json.x1y2.tmp"
    live = folder / f".{KEY}.abc.npz.z9.tmp"
    for path in (stale, live):
        path.write_bytes(b"partial")
    past = time.time() - 2 * 3600
    os.utime(stale, (past, past))
    cache = CachingBackend(CountingBackend(), tmp_path)
    assert not stale.exists() and live.exists()  # a live writer's temporary file is kept
    assert cache.store.removed_temporaries == 1


def test_arrays_without_a_record_are_adopted(tmp_path):
    # A writer that died between its two renames leaves an arrays file without a record.
    store = CacheStore(tmp_path, store_probs="float32")
    store.write(KEY, *_arrays(0.5), elapsed=3.0)
    store.record_path(KEY).unlink()
    record, arrays = _read_on_disk(tmp_path)
    assert record["elapsed"] == 3.0 and record["derived"] == {}
    np.testing.assert_array_equal(arrays[1], _arrays(0.5)[1])
    assert store.record_path(KEY).is_file()


def test_adoption_skips_arrays_evicted_between_listing_and_stat(tmp_path, monkeypatch):
    # Another process sharing the folder may evict a listed arrays file before it is dated: skip it.
    store = CacheStore(tmp_path, memory_entries=0, memory_arrays=0, store_probs="float32")
    store.write(KEY, *_arrays(0.5), elapsed=3.0)
    store.record_path(KEY).unlink()
    real = store._arrays_candidates(KEY)
    vanished = real[0].with_name(f"{KEY}.0000000000000000.npz")  # listed, gone before its stat
    monkeypatch.setattr(store, "_arrays_candidates", lambda key: [vanished, *real])
    record = store.record(KEY)
    assert record is not None and record["elapsed"] == 3.0 and record["arrays"] == real[0].name


def test_format_2_records_are_read(tmp_path):
    reference = _episode(CachingBackend(CountingBackend(), tmp_path, store_probs="float32"))
    for path in tmp_path.glob("??/*.json"):  # rewrite as the previous layout: <key>.npz + format-2 record
        record = json.loads(path.read_text())
        arrays = path.parent / record.pop("arrays")
        arrays.rename(path.parent / f"{path.stem}.npz")
        record["format"] = 2
        path.write_text(json.dumps(record))
    inner = CountingBackend()
    cache = CachingBackend(inner, tmp_path, memory_arrays=0)
    replayed = _episode(cache)
    assert cache.hits == 3 and inner.calls == 0
    for ref, result in zip(reference, replayed):
        np.testing.assert_array_equal(result.probs, ref.probs)
    assert cache.entry_path(replayed[0].key).name == f"{replayed[0].key}.npz"


def test_records_naming_other_folders_are_rejected(tmp_path):
    store = CacheStore(tmp_path)
    store.write(KEY, *_arrays(0.5), elapsed=1.0)
    record = json.loads(store.record_path(KEY).read_text())
    record["arrays"] = "../elsewhere.npz"
    store.record_path(KEY).write_text(json.dumps(record))
    assert CacheStore(tmp_path, memory_entries=0).record(KEY, check=False) is None


def test_negative_memory_is_refused(tmp_path):
    with pytest.raises(ValueError, match="memory_arrays"):
        CacheStore(tmp_path, memory_arrays=-1)
