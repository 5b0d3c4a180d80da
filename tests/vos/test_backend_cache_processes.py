"""Two processes sharing one cache folder, with a disk budget that evicts all the time, never corrupt it."""

from __future__ import annotations

import hashlib
import multiprocessing
import traceback

import numpy as np

from vos_recommender.backends.cache_store import CacheStore

KEYS = [hashlib.sha1(str(i).encode()).hexdigest() for i in range(24)]
BUDGET = 120_000  # about ten of the 24 entries


def expected(key: str) -> tuple[np.ndarray, np.ndarray, float, list[int]]:
    """The one value an entry with this key may hold (as a real cache's key fixes its result)."""
    rng = np.random.default_rng(int(key[:8], 16))
    masks = rng.integers(0, 4, size=(4, 32, 32), dtype=np.uint8)
    probs = rng.integers(0, 256, size=(4, 2, 32, 32)).astype(np.float32) / 255.0  # uint8 levels: exact
    return masks, probs, float(int(key[:4], 16)), [int(key[:6], 16), 7]


def _check(store: CacheStore, key: str) -> str | None:
    """None if the entry is absent or whole and right, else what is wrong."""
    record = store.record(key)
    if record is None:
        return None
    masks, probs, elapsed, derived = expected(key)
    try:
        loaded_masks, loaded_probs = store.load_arrays(key, record)
    except Exception:  # evicted between reading the record and the arrays: a miss, not an error
        return None
    if record["elapsed"] != elapsed:
        return f"{key}: record of another entry"
    if not (np.array_equal(loaded_masks, masks) and np.array_equal(loaded_probs, probs)):
        return f"{key}: arrays differ"
    value = store.derived(key, "check")
    if value is not None and value != derived:
        return f"{key}: derived value {value} differs"
    return None


def _worker(folder: str, seed: int, iterations: int, out) -> None:
    """Report the run, or the exception that stopped it (so a crash fails the test with its traceback)."""
    try:
        _run_worker(folder, seed, iterations, out)
    except BaseException:
        out.put({"crash": traceback.format_exc()})
        raise


def _run_worker(folder: str, seed: int, iterations: int, out) -> None:
    store = CacheStore(folder, memory_entries=0, memory_arrays=0, store_probs="uint8", max_bytes=BUDGET)
    rng = np.random.default_rng(seed)
    errors, writes, reads = [], 0, 0
    for _ in range(iterations):
        key = KEYS[int(rng.integers(len(KEYS)))]
        problem = _check(store, key)
        if problem:
            errors.append(problem)
        if store.record(key) is None:
            masks, probs, elapsed, derived = expected(key)
            store.write(key, masks, probs, elapsed)
            writes += 1
            try:
                store.put_derived(key, "check", derived)
            except KeyError:  # evicted by the other process right after the write
                pass
        else:
            reads += 1
            store.used(key)
    out.put({"errors": errors, "writes": writes, "reads": reads, "evictions": store.budget.evictions})


def test_two_processes_share_one_folder_without_corrupting_it(tmp_path):
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [context.Process(target=_worker, args=(str(tmp_path), seed, 300, out)) for seed in (1, 2)]
    for worker in workers:
        worker.start()
    reports = [out.get(timeout=300) for _ in workers]
    assert [r["crash"] for r in reports if "crash" in r] == []
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert [e for r in reports for e in r["errors"]] == []
    assert all(r["writes"] > 0 and r["reads"] > 0 for r in reports), reports
    assert sum(r["evictions"] for r in reports) > 0, reports  # the budget was at work all along

    # Every entry left loads and equals its expected value; nothing half-written is left.
    store = CacheStore(tmp_path, memory_entries=0, memory_arrays=0)
    present = [key for key in KEYS if store.record(key) is not None]
    assert present
    for key in present:
        assert _check(store, key) is None
        np.testing.assert_array_equal(store.load_masks(key), expected(key)[0])
    assert not list(tmp_path.rglob(".*.tmp*"))
    # Both count every write in the folder's shared count: when they are done, the folder is within budget.
    size = sum(p.stat().st_size for p in tmp_path.glob("??/*"))
    assert size <= BUDGET, size


def _folder_bytes(folder) -> int:
    return sum(p.stat().st_size for p in folder.glob("??/*"))


def test_two_writers_in_turn_keep_the_folder_within_the_budget_after_every_write(tmp_path):
    """Two stores on one folder (as two processes) writing in turn: each write is counted once for
    both, so neither adds entries on top of writes it has not seen, and no write leaves the folder over."""
    budget = 150_000
    writers = [
        CacheStore(tmp_path, memory_entries=0, memory_arrays=0, store_probs="uint8", max_bytes=budget)
        for _ in range(2)
    ]
    rng = np.random.default_rng(0)
    sizes = []
    for i in range(200):  # entries of about 3.5 KB: fewer than 5 % of the budget each
        masks = rng.integers(0, 4, size=(2, 16, 32), dtype=np.uint8)
        probs = rng.integers(0, 256, size=(2, 2, 16, 32)).astype(np.float32) / 255.0
        writers[i % 2].write(hashlib.sha1(str(i).encode()).hexdigest(), masks, probs, 1.0)
        sizes.append(_folder_bytes(tmp_path))
    assert sum(w.budget.evictions for w in writers) > 0
    assert max(sizes) <= budget, max(sizes)
    assert writers[1].budget.usage >= _folder_bytes(tmp_path)  # the last writer's count covers the folder
