"""Only the app's own page may use it: foreign Host (DNS rebinding) and foreign Origin are refused."""

from __future__ import annotations

import socket

import pytest
from fastapi.testclient import TestClient

from tests.vos.app.conftest import LOCAL, local_client
from vos_recommender.app.access import allowed_host_names
from vos_recommender.app.server import AppConfig, create_app, open_annotator

EVIL = "evil.example.com"


@pytest.fixture
def served(app_video, tmp_path):
    """``(client, annotator)``: the app on the test video, reached at ``LOCAL`` (port 8765)."""
    frames_dir, _ = app_video
    annotator = open_annotator(AppConfig(session=str(tmp_path / "s")), str(frames_dir))
    client = local_client(create_app(AppConfig(session_root=str(tmp_path / "runs")), annotator))
    yield client, annotator
    annotator.close()


def test_foreign_host_is_refused_before_anything_is_read_or_changed(served, tmp_path):
    client, annotator = served
    assert client.get("/api/state").status_code == 200
    for host in (f"{EVIL}:8765", EVIL, "127.0.0.1:9999", "localhost.evil.example.com:8765", "[::2]:8765"):
        answer = client.get("/api/state", headers={"Host": host})
        assert answer.status_code == 421, host
        error = answer.json()["error"]
        assert f"Host {host!r} is not this app's address" in error and "localhost:8765" in error
        assert client.get("/api/frame/0", headers={"Host": host}).status_code == 421
    for host in ("localhost:8765", "127.0.0.1:8765", "[::1]:8765", "LOCALHOST:8765"):
        assert client.get("/api/state", headers={"Host": host}).status_code == 200, host


def test_dns_rebinding_page_can_neither_read_nor_open_nor_export(served, app_video, tmp_path):
    # A page on evil.example.com whose name resolves to 127.0.0.1: its requests carry its own Host and Origin.
    client, annotator = served
    private = tmp_path / "private"
    private.mkdir()
    (private / "secret.txt").write_text("x")
    rebound = {"Host": f"{EVIL}:8765", "Origin": f"http://{EVIL}:8765"}
    assert client.get("/api/state", headers=rebound).status_code == 421
    opened = client.post("/api/open", json={"frames": str(app_video[0])}, headers=rebound)
    assert opened.status_code == 421
    exported = client.post("/api/export", json={"out": str(tmp_path / "stolen")}, headers=rebound)
    assert exported.status_code == 421 and not (tmp_path / "stolen").exists()
    assert client.post("/api/objects", json={"name": "x"}, headers=rebound).status_code == 421
    assert annotator.state.num_objects == 0
    assert client.app.state.holder["annotator"] is annotator


def test_state_changing_requests_from_another_origin_are_refused(served):
    client, annotator = served
    changes = [
        ("POST", "/api/objects", {"name": "x"}),
        ("PATCH", "/api/objects/1", {"name": "y"}),
        ("DELETE", "/api/objects/1", None),
        ("PUT", "/api/strokes/2", {"strokes": [{"path": [[0.5, 0.5]], "object_id": 0}]}),
        ("POST", "/api/run", {"frame": 2}),
        ("POST", "/api/job/cancel", None),
        ("POST", "/api/export", {}),
        ("POST", "/api/open", {"frames": "/tmp"}),
    ]
    for origin in (f"http://{EVIL}", f"http://{EVIL}:8765", "http://localhost:3000", "null", "file://"):
        for method, path, body in changes:
            answer = client.request(method, path, json=body, headers={"Origin": origin})
            assert answer.status_code == 403, (origin, method, path)
            assert f"a page from {origin!r} may not change this session" in answer.json()["error"]
    assert annotator.state.num_objects == 0 and annotator.state.drafts == {}
    # Reading with a foreign Origin gets no CORS header, so the browser keeps the answer from that page.
    read = client.get("/api/state", headers={"Origin": f"http://{EVIL}"})
    assert "access-control-allow-origin" not in read.headers
    # The app's own page (any of its names, same port) and clients that send no Origin may change it.
    for origin in ("http://localhost:8765", "http://127.0.0.1:8765", "http://[::1]:8765"):
        assert client.post("/api/objects", json={}, headers={"Origin": origin}).status_code == 200, origin
    assert client.post("/api/objects", json={}).status_code == 200
    assert annotator.state.num_objects == 4


def test_the_host_given_on_the_command_line_is_allowed_with_its_port():
    app = create_app(host="192.168.1.5", port=8000)
    on_lan = TestClient(app, base_url="http://192.168.1.5:8000")
    assert on_lan.get("/api/state").status_code == 200
    assert on_lan.get("/api/state", headers={"Host": "192.168.1.5:8765"}).status_code == 421
    ok = on_lan.post("/api/objects", json={}, headers={"Origin": "http://192.168.1.5:8000"})
    assert ok.status_code == 409  # allowed through; no video is open
    assert TestClient(create_app(), base_url=LOCAL).get("/api/state").status_code == 200
    assert TestClient(create_app(), base_url="http://192.168.1.5:8765").get("/api/state").status_code == 421
    assert allowed_host_names("::1") == ("localhost", "127.0.0.1", "[::1]")
    assert socket.gethostname().lower() in allowed_host_names("0.0.0.0")
