"""What a request may carry: sizes, strict finite numbers, the error shape, and the app's own errors as 500."""

from __future__ import annotations

import json

import pytest

from tests.vos.app.conftest import local_client
from vos_recommender.app import AppInputError
from vos_recommender.app import strokes as strokes_module
from vos_recommender.app.annotator import MAX_NAME_LENGTH
from vos_recommender.app.bodies import MAX_BODY_BYTES
from vos_recommender.app.server import AppConfig, create_app, open_annotator
from vos_recommender.app.strokes import (
    MAX_DRAFT_POINTS,
    MAX_POINTS_PER_STROKE,
    MAX_STROKES_PER_FRAME,
    check_strokes,
)


@pytest.fixture
def served(app_video, tmp_path):
    """``(client, annotator)`` on the test video with one object; server errors come back as answers."""
    frames_dir, _ = app_video
    annotator = open_annotator(AppConfig(session=str(tmp_path / "s")), str(frames_dir))
    annotator.add_object("one")
    client = local_client(create_app(annotator=annotator), raise_server_exceptions=False)
    yield client, annotator
    annotator.close()


def _raw(client, method, path, text):
    return client.request(method, path, content=text.encode(), headers={"Content-Type": "application/json"})


def _stroke(**extra):
    return {"path": [[0.5, 0.5], [0.6, 0.5]], "object_id": 1, **extra}


def test_sizes_are_limited_with_a_clear_4xx(served, tmp_path):
    client, annotator = served
    huge = {"strokes": [{"path": [[0.123456789, 0.123456789]] * 100_000, "object_id": 1}]}
    answer = client.put("/api/strokes/2", json=huge)
    assert answer.status_code == 413 and f"at most {MAX_BODY_BYTES} bytes" in answer.json()["error"]
    chunked = (b" " * 1_000_000 for _ in range(3))  # sent without a Content-Length: counted as it arrives
    answer = client.put("/api/strokes/2", content=chunked, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and f"over {MAX_BODY_BYTES} bytes" in answer.json()["error"]
    many = {"strokes": [_stroke()] * (MAX_STROKES_PER_FRAME + 1)}
    answer = client.put("/api/strokes/2", json=many)
    assert answer.status_code == 400
    assert f"{MAX_STROKES_PER_FRAME + 1} strokes, at most {MAX_STROKES_PER_FRAME}" in answer.json()["error"]
    long = {"strokes": [{"path": [[0.5, 0.5]] * (MAX_POINTS_PER_STROKE + 1), "object_id": 1}]}
    answer = client.put("/api/strokes/2", json=long)
    assert answer.status_code == 400
    assert (
        f"1..{MAX_POINTS_PER_STROKE} [x, y] points, got {MAX_POINTS_PER_STROKE + 1}" in answer.json()["error"]
    )
    name = "n" * (MAX_NAME_LENGTH + 1)
    for method, path in (("POST", "/api/objects"), ("PATCH", "/api/objects/1")):
        answer = client.request(method, path, json={"name": name})
        assert answer.status_code == 400 and f"at most {MAX_NAME_LENGTH} characters" in answer.json()["error"]
    assert client.post("/api/objects", json={"name": "n" * MAX_NAME_LENGTH}).status_code == 200
    assert annotator.state.drafts == {} and [o.name for o in annotator.state.objects][0] == "one"
    assert (tmp_path / "s" / "session.json").stat().st_size < 10_000


def test_the_strokes_of_all_frames_together_are_bounded(served, monkeypatch):
    # Each frame's strokes within the limits, all frames together bounded too (they are saved with each edit).
    client, annotator = served
    assert MAX_DRAFT_POINTS >= 10 * MAX_POINTS_PER_STROKE
    monkeypatch.setattr(strokes_module, "MAX_DRAFT_POINTS", 300)
    frame_full = {"strokes": [{"path": [[0.5, 0.5]] * 50, "object_id": 1}] * 2}
    for t in range(3):
        assert client.put(f"/api/strokes/{t}", json=frame_full).status_code == 200
    answer = client.put("/api/strokes/9", json=frame_full)
    assert answer.status_code == 400
    assert "would hold 400 points, at most 300 are kept" in answer.json()["error"]
    assert client.put("/api/strokes/0", json=frame_full).status_code == 200  # replacing a frame's own strokes
    assert sorted(annotator.state.drafts) == [0, 1, 2]


def test_numbers_are_finite_and_of_their_type(served, tmp_path):
    client, annotator = served
    for body in ('{"frame": true}', '{"frame": "2"}', '{"frame": 2.0}', '{"frame": null}'):
        answer = _raw(client, "POST", "/api/run", body)
        assert answer.status_code == 400 and answer.json()["error"].startswith("bad request: body.frame"), (
            body
        )
    assert annotator.job is None
    bad = [
        (_stroke(start_time=float("nan")), "start_time/end_time must be finite numbers"),
        (_stroke(end_time=float("inf")), "start_time/end_time must be finite numbers"),
        (_stroke(start_time="5"), "start_time/end_time must be finite numbers"),
        (_stroke(brush=float("inf")), "brush inf must be a finite width"),
        (_stroke(brush=True), "brush True must be a finite width"),
        (_stroke(brush="3"), "brush '3' must be a finite width"),
        (_stroke(brush=-1), "brush -1 must be a finite width"),
        ({"path": [[float("nan"), 0.5]], "object_id": 1}, "is not [x, y] with finite numbers"),
        ({"path": [[True, 0.5]], "object_id": 1}, "is not [x, y] with finite numbers"),
        ({"path": [["0.5", 0.5]], "object_id": 1}, "is not [x, y] with finite numbers"),
        ({"path": [[0.5, 0.5]], "object_id": True}, "object_id True is not 0"),
        ({"path": [[0.5, 0.5]], "object_id": "1"}, "object_id '1' is not 0"),
        (_stroke(start_time=10**400), "start_time/end_time must be finite numbers"),
    ]
    for stroke, message in bad:
        text = json.dumps({"strokes": [stroke]})  # NaN and Infinity as Python's JSON parser accepts them
        answer = _raw(client, "PUT", "/api/strokes/2", text)
        assert answer.status_code == 400 and message in answer.json()["error"], (stroke, answer.json())
        with pytest.raises(AppInputError, match="frame 2, stroke 0"):
            check_strokes([stroke], 2, 10, 1)
    assert annotator.state.drafts == {}
    saved = (tmp_path / "s" / "session.json").read_text()
    assert "NaN" not in saved and "Infinity" not in saved
    assert client.get("/api/state").status_code == 200
    good = client.put("/api/strokes/2", json={"strokes": [_stroke(brush=3, start_time=1, end_time=2.5)]})
    assert good.status_code == 200 and good.json()["strokes"][0]["brush"] == 3.0


def test_every_error_has_the_documented_shape(served):
    client, _ = served
    nested = _raw(client, "PUT", "/api/strokes/2", '{"strokes": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert nested.status_code == 400 and nested.json()["error"].startswith("bad request: ")
    not_json = _raw(client, "PUT", "/api/strokes/2", "{strokes")
    assert not_json.status_code == 400 and "JSON" in not_json.json()["error"]
    extra = client.post("/api/objects", json={"name": "x", "colour": 3})
    assert extra.status_code == 400 and "body.colour" in extra.json()["error"]
    assert client.get("/api/nothing").json() == {"error": "Not Found"}
    assert client.delete("/api/state").json() == {"error": "Method Not Allowed"}
    assert client.get("/api/frame/x").status_code == 400


def test_the_apps_own_errors_are_500_with_a_message_not_the_clients_fault(served, monkeypatch):
    client, annotator = served
    assert client.delete("/api/objects/7").status_code == 404  # the client named no such object
    assert client.get("/api/frame/99").status_code == 404
    assert client.post("/api/run", json={"frame": 3}).status_code == 400  # no strokes drawn there

    def broken_snapshot():
        raise ValueError("a bug in the app")

    monkeypatch.setattr(annotator, "snapshot", broken_snapshot)
    answer = client.get("/api/state")
    assert answer.status_code == 500
    assert answer.json() == {
        "error": "internal error of the app (ValueError: a bug in the app); see the server's log"
    }
    monkeypatch.setattr(annotator, "snapshot", lambda: {}["video"])
    answer = client.post("/api/objects", json={})
    assert answer.status_code == 500 and "KeyError" in answer.json()["error"]


def test_a_session_with_strokes_no_request_may_send_opens_without_them(app_video, tmp_path):
    frames_dir, _ = app_video
    folder = tmp_path / "s"
    open_annotator(AppConfig(session=str(folder)), str(frames_dir)).close()
    data = json.loads((folder / "session.json").read_text())
    data["objects"] = [{"id": 1, "name": "one"}]
    data["drafts"] = {"3": [_stroke(start_time=float("nan"))], "4": [_stroke()]}  # as an older version saved
    (folder / "session.json").write_text(json.dumps(data))
    with pytest.warns(UserWarning, match="the unsent strokes of frame 3 are dropped: .*start_time"):
        annotator = open_annotator(AppConfig(session=str(folder)), str(frames_dir))
    with annotator:
        assert sorted(annotator.state.drafts) == [4]
        assert local_client(create_app(annotator=annotator)).get("/api/state").status_code == 200
