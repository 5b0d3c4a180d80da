"""While a round runs: progress by frames, and each finished frame's new mask served to the page."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
from PIL import Image

from tests.vos.app.conftest import first_strokes, local_client
from vos_recommender.app.render import overlay_png
from vos_recommender.app.server import AppConfig, create_app, open_annotator
from vos_recommender.backends import register_backend
from vos_recommender.backends.flow import FlowBackend


class HeldFlow(FlowBackend):
    """The flow backend held after the first frame it finishes, until the test releases it."""

    name = "held_flow"
    gate = threading.Event()

    def _finish_frame(self, t, probs):
        super()._finish_frame(t, probs)
        assert HeldFlow.gate.wait(30), "the test never released the round"


def _until(client, test, what: str) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = client.get("/api/job").json()
        if test(job):
            return job
        time.sleep(0.02)
    raise AssertionError(f"the round never {what}")


def _pixels(response) -> np.ndarray:
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)))


def test_finished_frames_are_served_while_the_round_runs(app_video, tmp_path):
    frames_dir, video = app_video
    register_backend("held_flow", HeldFlow, overwrite=True)
    annotator = open_annotator(AppConfig(session=str(tmp_path / "s"), backend="held_flow"), str(frames_dir))
    client = local_client(create_app(annotator=annotator))
    for k in range(video.num_objects):
        client.post("/api/objects", json={"name": f"o{k}"})
    frame, strokes = first_strokes(video)
    client.put(f"/api/strokes/{frame}", json={"strokes": strokes})
    HeldFlow.gate.clear()
    job = client.post("/api/run", json={"frame": frame}).json()
    try:
        held = _until(client, lambda j: j["frames_done"], "finished a frame")
        assert held["frames_done"] == [frame] and held["frames_total"] == video.num_frames
        assert held["message"] == f"propagating from frame {frame}: 1/{video.num_frames} frames"
        assert 0 < held["progress"] < 1
        live = _pixels(client.get(f"/api/overlay/{frame}?job={job['id']}"))
        mask = annotator.job.frame_mask(frame)
        assert mask.any()  # the strokes' objects are on their frame
        np.testing.assert_array_equal(live, _pixels_of(overlay_png(mask)))
        # A frame not propagated yet has no new mask, and before round 1 no saved one either.
        other = (frame + 1) % video.num_frames
        assert client.get(f"/api/overlay/{other}?job={job['id']}").status_code == 404
        assert client.get("/api/state").json()["job"]["frames_done"] == [frame]
    finally:
        HeldFlow.gate.set()
    done = _until(client, lambda j: j["state"] != "running", "ended")
    assert done["state"] == "done" and sorted(done["frames_done"]) == list(range(video.num_frames))
    for t in range(video.num_frames):  # the live masks were the round's masks
        np.testing.assert_array_equal(annotator.job.frame_mask(t), annotator.state.masks[t])
    # Once the round has ended the saved masks are served, also to a request naming the job (a later
    # change such as deleting an object edits the saved masks, not the job's).
    annotator.state.masks[frame][:] = 0
    annotator.mask_version += 1
    stale = _pixels(client.get(f"/api/overlay/{frame}?job={job['id']}"))
    assert not stale[..., 3].any()
    annotator.close()


def _pixels_of(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))
