"""Cache folders of older versions are read; folders this version cannot use are refused, untouched."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vos_recommender.backends.cache import CachingBackend
from vos_recommender.backends.cache_format import FOLDER_FORMAT, FORMAT_FILE, CacheFormatError

from .test_backend_cache import CountingBackend, _episode


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_format_3_folder_is_read_and_kept(tmp_path):
    # The previous layout: float32 probabilities in every arrays file, format-3 records, no format file.
    reference = _episode(CachingBackend(CountingBackend(), tmp_path, store_probs="float32"))
    (tmp_path / FORMAT_FILE).unlink()
    for path in tmp_path.glob("??/*.json"):
        record = json.loads(path.read_text())
        del record["probs"]
        record["format"] = 3
        path.write_text(json.dumps(record))
    old_entries = {k: v for k, v in _snapshot(tmp_path).items() if k.suffix == ".npz"}
    inner = CountingBackend()
    cache = CachingBackend(inner, tmp_path, memory_arrays=0)
    replayed = _episode(cache)
    for ref, result in zip(reference, replayed):
        np.testing.assert_array_equal(result.masks, ref.masks)
        np.testing.assert_array_equal(result.probs, ref.probs)
    assert cache.hits == 3 and inner.calls == 0 and cache.probs_recomputed == 0
    assert json.loads((tmp_path / FORMAT_FILE).read_text())["format"] == FOLDER_FORMAT
    assert {k: v for k, v in _snapshot(tmp_path).items() if k.suffix == ".npz"} == old_entries


def test_a_folder_of_a_newer_version_is_refused_and_left_alone(tmp_path):
    _episode(CachingBackend(CountingBackend(), tmp_path))
    (tmp_path / FORMAT_FILE).write_text(json.dumps({"format": FOLDER_FORMAT + 1, "max_bytes": None}))
    before = _snapshot(tmp_path)
    with pytest.raises(CacheFormatError, match=f"{tmp_path}.*format {FOLDER_FORMAT + 1}.*newer.*delete"):
        CachingBackend(CountingBackend(), tmp_path)
    assert _snapshot(tmp_path) == before


def test_a_damaged_format_file_is_named(tmp_path):
    tmp_path.joinpath(FORMAT_FILE).write_text("{not json")
    with pytest.raises(CacheFormatError, match=f"{FORMAT_FILE} is not a cache format file"):
        CachingBackend(CountingBackend(), tmp_path)
    assert issubclass(CacheFormatError, ValueError)


def test_training_on_a_newer_folder_stops_with_the_message_only(tmp_path):
    from tests.vos.generated import generated_videos
    from vos_recommender.train import main

    generated_videos(tmp_path / "data", num_train=1, num_val=0, num_frames=4, height=32, width=40, seed=1)
    newer = tmp_path / "cache"
    newer.mkdir()
    (newer / FORMAT_FILE).write_text(json.dumps({"format": FOLDER_FORMAT + 1}))
    argv = ["--data", str(tmp_path / "data"), "--cache-dir", str(newer), "--runs-dir", str(tmp_path / "runs")]
    argv += ["--stats-dir", "", "--total-timesteps", "4", "--no-progress-bar", "--verbose", "0"]
    with pytest.raises(
        SystemExit, match=f"^error: the cache folder {newer} holds format {FOLDER_FORMAT + 1}"
    ):
        main(argv)
    assert [p.name for p in newer.iterdir()] == [FORMAT_FILE]
