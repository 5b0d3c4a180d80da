"""Rendering helpers and the job's progress: what the page draws and the bar it shows."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image

from vos_recommender.app.jobs import Job, JobCancelled
from vos_recommender.app.render import ImageCache, object_colour, overlay_png, thumbnail
from vos_recommender.data.davis import davis_palette


def test_overlay_uses_the_davis_palette_and_clear_background():
    mask = np.zeros((6, 8), np.uint8)
    mask[1:5, 1:4] = 1
    mask[1:5, 5:8] = 2
    rgba = np.asarray(Image.open(io.BytesIO(overlay_png(mask))))
    assert rgba.shape == (6, 8, 4)
    assert (rgba[mask == 0, 3] == 0).all()
    assert (rgba[mask > 0, 3] > 0).all()
    np.testing.assert_array_equal(rgba[2, 2, :3], davis_palette()[1])
    assert rgba[1, 1, 3] == 255 and rgba[2, 2, 3] < 255  # opaque outline, translucent inside
    assert object_colour(2) == [int(v) for v in davis_palette()[2]]
    small = Image.open(
        io.BytesIO(thumbnail(np.zeros((60, 80, 3), np.uint8), mask.repeat(10, 0).repeat(10, 1)[:60, :80], 40))
    )
    assert small.size == (40, 30)


def test_image_cache_keeps_frames_and_drops_old_overlays():
    cache, made = ImageCache(), []
    make = lambda tag: lambda: made.append(tag) or tag.encode()  # noqa: E731
    cache.get("frame", 0, 0, make("f"))
    cache.get("overlay", 0, 0, make("o0"))
    cache.get("overlay", 0, 0, make("again"))
    cache.get("frame", 0, 1, make("f-again"))
    assert cache.get("overlay", 0, 1, make("o1")) == b"o1"
    assert made == ["f", "o0", "o1"]


def test_job_progress_phases_and_cancel_points():
    release, entered = threading.Event(), threading.Event()

    def work(job):
        job.phase(0, 4, "one")
        job.phase(1, 4, "two", expected_seconds=1000.0)
        entered.set()
        release.wait(10)
        job.phase(2, 4, "three")

    job = Job("run", work, {"frame": 3}).start()
    assert entered.wait(10)
    assert 0.25 <= job.progress < 0.5 and job.to_dict()["frame"] == 3
    job.cancel()
    release.set()
    job.wait(10)
    assert job.state == "cancelled" and job.history == ["one", "two"]

    def commit(job):
        job.begin_commit()
        job.cancel()  # too late: refused

    done = Job("run", commit).start().wait(10)
    assert done.state == "done" and done.progress == 1.0

    def fails(job):
        raise RuntimeError("model exploded")

    failed = Job("run", fails).start().wait(10)
    assert failed.state == "failed" and failed.error == "RuntimeError: model exploded"
    with pytest.raises(JobCancelled):
        cancelled = Job("run", lambda job: None)
        cancelled.cancel()
        cancelled.check_cancelled()


def test_image_cache_answers_concurrent_requests_across_a_version_change():
    import time
    from concurrent.futures import ThreadPoolExecutor

    cache = ImageCache()

    def ask(i):
        version = i // 250

        def make():
            time.sleep(0.001)  # encoding takes time: other requests, of other versions, run meanwhile
            return f"{i % 16}:{version}".encode()

        return cache.get("thumb", i % 16, version, make)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(2000)))
    assert answers == [f"{i % 16}:{i // 250}".encode() for i in range(2000)]
