"""Where a request may export: under the session folder or the --export-root, with a 4xx otherwise."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.vos.app.conftest import first_strokes, local_client
from vos_recommender.app.errors import AppForbiddenError
from vos_recommender.app.export import export_folder
from vos_recommender.app.server import AppConfig, create_app, open_annotator
from vos_recommender.data.davis import DavisDataset


@pytest.fixture
def exported_session(app_video, tmp_path):
    """An annotator on the test video after one round (so it has masks to export)."""
    frames_dir, video = app_video
    annotator = open_annotator(AppConfig(session=str(tmp_path / "s")), str(frames_dir))
    for _ in range(video.num_objects):
        annotator.add_object()
    frame, strokes = first_strokes(video)
    annotator.set_strokes(frame, strokes)
    annotator.run_round(frame)
    yield annotator
    annotator.close()


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) if folder.exists() else []


def test_export_only_under_the_session_folder_or_the_export_root(exported_session, tmp_path):
    annotator = exported_session
    session = tmp_path / "s"
    client = local_client(create_app(annotator=annotator))
    (tmp_path / "outside").mkdir()
    (session / "link").symlink_to(tmp_path / "outside")
    refused = [
        str(tmp_path / "outside"),  # another folder
        "/proc/x",  # not a place to write at all
        "../outside",  # relative paths start at the session folder; '..' leaves it
        "link/davis",  # a link out of the session folder
        str(session),  # the session folder itself
        "rounds",  # and its own files
        "masks/davis",
        "backend/davis",  # the backend's state
        "backend-cache",  # and its cache of per-video work
    ]
    for out in refused:
        answer = client.post("/api/export", json={"out": out})
        assert answer.status_code == 403, (out, answer.json())
        assert answer.json()["error"].startswith("export: "), answer.json()
    outside = client.post("/api/export", json={"out": str(tmp_path / "outside")}).json()["error"]
    assert "outside the folders exports may go to" in outside and "--export-root" in outside
    assert _files(tmp_path / "outside") == []
    assert sorted(p.name for p in session.iterdir()) == [
        ".lock",
        "backend",
        "backend-cache",
        "link",
        "masks",
        "rounds",
        "session.json",
    ]

    answer = client.post("/api/export", json={"out": "davis"})
    assert answer.status_code == 200 and answer.json()["root"] == str((session / "davis").resolve())
    assert (
        DavisDataset(session / "davis", split="val")[annotator.video.name].num_frames
        == annotator.video.num_frames
    )
    assert client.post("/api/export", json={}).json()["root"] == str((session / "export").resolve())

    rooted = local_client(create_app(annotator=annotator, export_root=str(tmp_path / "outside")))
    answer = rooted.post("/api/export", json={"out": str(tmp_path / "outside" / "davis")})
    assert answer.status_code == 200
    exported = DavisDataset(tmp_path / "outside" / "davis", split="val")[annotator.video.name]
    np.testing.assert_array_equal(exported.masks, annotator.state.masks)
    assert rooted.post("/api/export", json={"out": str(tmp_path / "elsewhere")}).status_code == 403


def test_export_into_a_file_or_an_unwritable_place_is_a_clear_4xx(exported_session, tmp_path):
    annotator = exported_session
    session = tmp_path / "s"
    client = local_client(create_app(annotator=annotator, export_root="/proc"), raise_server_exceptions=False)
    (session / "a_file").write_text("keep me")
    answer = client.post("/api/export", json={"out": "a_file"})
    assert answer.status_code == 400 and "is an existing file; give a folder" in answer.json()["error"]
    assert (session / "a_file").read_text() == "keep me"
    answer = client.post("/api/export", json={"out": "a_file/davis"})
    assert answer.status_code == 403 and "is not a writable folder" in answer.json()["error"]
    # /proc is allowed by --export-root here, but nothing can be written there.
    answer = client.post("/api/export", json={"out": "/proc/davis"})
    assert answer.status_code == 403 and answer.json()["error"].startswith("export: "), answer.json()
    if os.geteuid() != 0:  # permissions do not stop root
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        rooted = local_client(create_app(annotator=annotator, export_root=str(locked)))
        answer = rooted.post("/api/export", json={"out": str(locked / "davis")})
        assert answer.status_code == 403 and "not a writable folder" in answer.json()["error"]


def test_export_folder_resolves_relative_paths_in_the_session(tmp_path):
    session = tmp_path / "s"
    session.mkdir()
    assert export_folder(None, session) == (session / "export").resolve()
    assert export_folder("a/b", session) == (session / "a" / "b").resolve()
    assert (
        export_folder(str(tmp_path / "r" / "x"), session, tmp_path / "r") == (tmp_path / "r" / "x").resolve()
    )
    with pytest.raises(AppForbiddenError, match="outside the folders"):
        export_folder(str(tmp_path / "r"), session)
