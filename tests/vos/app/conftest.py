"""A short generated video shared by the app's tests, and helpers to open it."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The address the app's tests reach it at (the app answers only to its own host names and port).
LOCAL = "http://127.0.0.1:8765"


@pytest.fixture(scope="session")
def app_video(tmp_path_factory):
    """``(frames_dir, VideoSample)`` of one generated 10-frame video in the DAVIS layout."""
    from vos_recommender.data.davis import DavisDataset
    from vos_recommender.data.generate import generate_davis_dataset

    root = generate_davis_dataset(
        tmp_path_factory.mktemp("app_data"),
        num_train=0,
        num_val=1,
        num_frames=10,
        height=72,
        width=112,
        seed=11,
    )
    video = DavisDataset(root, split="val")[0]
    return Path(root) / "JPEGImages" / "480p" / video.name, video


def first_strokes(video) -> tuple[int, list[dict]]:
    """The frame and strokes of the video's first human scribble."""
    scribble = video.scribbles[0]
    frame = next(t for t, strokes in enumerate(scribble["scribbles"]) if strokes)
    return frame, [dict(s) for s in scribble["scribbles"][frame]]


def open_session(frames_dir, session_dir, video, backend="flow", backend_kwargs=None, **kwargs):
    """An :class:`Annotator` on the video with its objects added."""
    from vos_recommender.app import Annotator, load_video

    annotator = Annotator(load_video(frames_dir), session_dir, backend, backend_kwargs, **kwargs)
    while annotator.state.num_objects < video.num_objects:
        annotator.add_object()
    return annotator


def local_client(app, **kwargs):
    """A ``TestClient`` that reaches ``app`` as the page served by it does (``LOCAL``)."""
    from fastapi.testclient import TestClient

    return TestClient(app, base_url=LOCAL, **kwargs)
