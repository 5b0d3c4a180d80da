"""The HTTP API: state, strokes, runs with progress, export readable by DavisDataset, bad input as messages."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.vos.app.conftest import first_strokes, local_client
from vos_recommender.app.__main__ import main, parse_args
from vos_recommender.app.server import AppConfig, create_app, open_annotator
from vos_recommender.data.davis import DavisDataset, read_mask, write_mask


def _client(frames_dir, session, **config) -> TestClient:
    annotator = open_annotator(AppConfig(session=str(session), **config), str(frames_dir))
    return local_client(create_app(annotator=annotator))


def _wait(client: TestClient) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.get("/api/job").json()
        if job["state"] != "running":
            return job
        time.sleep(0.05)
    raise AssertionError("the round did not finish")


def _first_round(client: TestClient, video) -> dict:
    for k in range(video.num_objects):
        assert client.post("/api/objects", json={"name": f"o{k}"}).status_code == 200
    frame, strokes = first_strokes(video)
    assert client.put(f"/api/strokes/{frame}", json={"strokes": strokes}).status_code == 200
    started = client.post("/api/run", json={"frame": frame}).json()
    assert started["state"] == "running" and 0.0 <= started["progress"] < 1.0
    return _wait(client)


def test_run_updates_masks_quality_and_recommendation_then_export_reads_back(app_video, tmp_path):
    frames_dir, video = app_video
    client = _client(frames_dir, tmp_path / "s", strategy="worst")
    before = client.get("/api/state").json()
    assert before["recommendation"]["strategy"] == "start" and before["quality"] is None
    assert client.get("/api/overlay/0").status_code == 404
    job = _first_round(client, video)
    assert job["state"] == "done" and job["progress"] == 1.0
    after = client.get("/api/state").json()
    assert after["mask_version"] == before["mask_version"] + 1
    assert len(after["quality"]) == video.num_frames and all(0 <= q <= 1 for q in after["quality"])
    rec = after["recommendation"]
    assert rec["strategy"] == "worst" and rec["reason"].startswith("the lowest estimated quality")
    free = [t for t in range(video.num_frames) if after["counts"][t] == 0]
    assert rec["frame"] == min(free, key=lambda t: after["quality"][t])
    overlay = client.get("/api/overlay/3")
    assert overlay.status_code == 200 and overlay.headers["content-type"] == "image/png"
    assert client.get("/api/thumb/3").status_code == 200
    assert client.get("/api/frame/3").headers["content-type"] == "image/jpeg"

    answer = client.post("/api/export", json={"out": str(tmp_path / "s" / "davis")}).json()
    assert answer["frames"] == video.num_frames and answer["scribbles"] == 1
    exported = DavisDataset(tmp_path / "s" / "davis", split="val")[video.name]
    annotator = client.app.state.holder["annotator"]
    np.testing.assert_array_equal(exported.masks, annotator.state.masks)
    assert exported.num_objects == int(annotator.state.masks.max())
    assert len(exported.scribbles) == 1
    assert exported.scribbles[0]["scribbles"] == annotator.state.rounds[0].scribble["scribbles"]
    assert np.abs(exported.frames.astype(int) - video.frames.astype(int)).mean() < 3  # JPEG round trip
    png = Image.open(tmp_path / "s" / "davis" / "Annotations" / "480p" / video.name / "00000.png")
    assert png.mode == "P"
    zipped = client.get("/api/export.zip")
    assert zipped.status_code == 200 and zipped.content[:2] == b"PK"


def test_bad_strokes_and_requests_get_messages(app_video, tmp_path):
    frames_dir, video = app_video
    client = _client(frames_dir, tmp_path / "s")
    # A stroke for an object before any object exists: said in plain words; background strokes are fine.
    answer = client.put("/api/strokes/2", json={"strokes": [{"path": [[0.5, 0.2]], "object_id": 1}]})
    assert answer.status_code == 400 and answer.json()["error"] == (
        "frame 2, stroke 0: there is no object yet for this stroke to mark: add one first (+ Add, or the A "
        "key); background strokes need none"
    )
    assert client.put("/api/strokes/2", json={"strokes": [{"path": [[0.5, 0.2]], "object_id": 0}]}).is_success
    client.put("/api/strokes/2", json={"strokes": []})
    client.post("/api/objects", json={})
    cases = [
        ([{"path": [[1.5, 0.2]], "object_id": 1}], "outside [0, 1]"),
        ([{"path": [[0.5, 0.2]], "object_id": 7}], "object_id 7 is not 0 (background) or an object id 1..1"),
        ([{"object_id": 1}], "needs 'path' and 'object_id'"),
        ([{"path": [], "object_id": 1}], "path must be a list"),
    ]
    for strokes, message in cases:
        answer = client.put("/api/strokes/2", json={"strokes": strokes})
        assert answer.status_code == 400 and message in answer.json()["error"], answer.json()
    assert "frame 99 is outside" in client.put("/api/strokes/99", json={"strokes": []}).json()["error"]
    assert "draw at least one stroke" in client.post("/api/run", json={"frame": 1}).json()["error"]
    bad = client.post("/api/run", json={"frame": "x"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("bad request: body.frame")
    assert client.delete("/api/objects/5").status_code == 404
    assert "nothing to export yet" in client.post("/api/export", json={}).json()["error"]
    assert client.get("/api/frame/10").status_code == 404


def _mixed_sizes(folder):
    folder.mkdir()
    Image.new("RGB", (40, 30)).save(folder / "00000.jpg")
    Image.new("RGB", (42, 30)).save(folder / "00001.jpg")
    return folder


def test_bad_input_is_a_message_on_the_command_line_and_in_the_page(app_video, tmp_path, capsys):
    frames_dir, video = app_video
    (tmp_path / "empty").mkdir()
    masks_short = tmp_path / "short"
    masks_short.mkdir()
    write_mask(masks_short / "00000.png", np.zeros(video.frames.shape[1:3], np.uint8))
    masks_small = tmp_path / "small"
    masks_small.mkdir()
    for t in range(video.num_frames):
        write_mask(masks_small / f"{t:05d}.png", np.zeros((8, 8), np.uint8))
    cases = [
        (["--frames", str(tmp_path / "missing")], "frame folder not found"),
        (["--frames", str(tmp_path / "empty")], "no .jpg/.png frames in"),
        (["--frames", str(_mixed_sizes(tmp_path / "mixed"))], "all images of a sequence must have one size"),
        (["--frames", str(frames_dir), "--masks", str(masks_short)], "1 masks in"),
        (["--frames", str(frames_dir), "--masks", str(masks_small)], "masks must cover the whole frame"),
        (["--frames", str(frames_dir), "--backend", "nope"], "nope"),
        (["--frames", str(frames_dir), "--backend", "learned"], "--backend learned: cannot build it"),
        (["--frames", str(frames_dir), "--agent", str(tmp_path / "a.zip")], "agent file not found"),
        (["--frames", str(frames_dir), "--quality", str(tmp_path / "q.pt")], "checkpoint not found"),
        (
            ["--frames", str(frames_dir), "--strategy", "lookahead"],
            "--strategy lookahead: it tries frames with",
        ),
        (["--frames", str(frames_dir), "--strategy", "agent"], "--strategy agent needs a trained agent"),
        (
            ["--frames", str(frames_dir), "--ranker", str(tmp_path / "r.pt")],
            "--ranker: the gain ranker reads",
        ),
    ]
    for argv, message in cases:
        assert main([*argv, "--session", str(tmp_path / "sess"), "--check"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err, (argv, err)
    with pytest.raises(SystemExit):
        parse_args(["--backend-kwargs", "[1]"])
    assert "must be a JSON object" in capsys.readouterr().err

    # The page started on bad input shows the message and opens another folder from its form.
    client = local_client(
        create_app(AppConfig(session_root=str(tmp_path / "runs")), startup_error="--frames: nope")
    )
    assert client.get("/api/state").json() == {"video": None, "error": "--frames: nope"}
    assert client.get("/api/frame/0").status_code == 409
    answer = client.post("/api/open", json={"frames": str(tmp_path / "mixed")})
    assert answer.status_code == 400 and "one size" in answer.json()["error"]
    opened = client.post("/api/open", json={"frames": str(frames_dir)}).json()
    assert opened["video"]["num_frames"] == video.num_frames
    assert opened["session_dir"].startswith(str(tmp_path / "runs" / f"{video.name}-"))


def test_the_open_form_takes_a_session_folder(app_video, tmp_path):
    frames_dir, video = app_video
    client = local_client(create_app(AppConfig(session_root=str(tmp_path / "runs"))))
    mine = tmp_path / "my sessions" / "take 2"
    opened = client.post("/api/open", json={"frames": str(frames_dir), "session": str(mine)}).json()
    assert opened["session_dir"] == str(mine) and (mine / "session.json").is_file()
    client.post("/api/objects", json={"name": "kept"})
    # Opened again from the form (the same session: its lock is handed over), the object is there.
    again = client.post("/api/open", json={"frames": str(frames_dir), "session": str(mine)}).json()
    assert [o["name"] for o in again["objects"]] == ["kept"]
    # A folder of other files is not taken over as a session; neither is a file.
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"x")
    for folder, message in [
        (tmp_path / "photos", "holds other files but no session (session.json)"),
        (tmp_path / "photos" / "a.jpg", "is a file, not a folder"),
        (tmp_path / "  ", ""),
    ]:
        answer = client.post("/api/open", json={"frames": str(frames_dir), "session": str(folder)})
        if message:
            assert answer.status_code == 400 and message in answer.json()["error"], answer.json()
    assert not (tmp_path / "photos" / "session.json").exists()
    # Without a session the default is one folder per frame folder under the session root.
    default = client.post("/api/open", json={"frames": str(frames_dir), "session": None}).json()
    assert default["session_dir"].startswith(str(tmp_path / "runs" / f"{video.name}-"))


def test_starting_masks_give_objects_quality_and_a_recommendation(app_video, tmp_path, capsys):
    frames_dir, video = app_video
    masks_dir = tmp_path / "masks"
    for t, mask in enumerate(video.masks):
        write_mask(masks_dir / f"{t:05d}.png", mask)
    assert (
        main(
            [
                "--frames",
                str(frames_dir),
                "--masks",
                str(masks_dir),
                "--session",
                str(tmp_path / "s"),
                "--check",
            ]
        )
        == 0
    )
    assert f"{video.num_objects} objects" in capsys.readouterr().out
    annotator = open_annotator(AppConfig(session=str(tmp_path / "s2")), str(frames_dir), str(masks_dir))
    assert annotator.state.num_objects == video.num_objects
    np.testing.assert_array_equal(
        annotator.state.masks, np.stack([read_mask(p) for p in sorted(masks_dir.iterdir())])
    )
    assert (
        annotator.state.recommendation["strategy"] == "stride"
    )  # the best measured rule without an estimator


def test_cache_backend_and_defaults(app_video, tmp_path):
    frames_dir, video = app_video
    kwargs = {"backend": "flow", "cache_dir": str(tmp_path / "cache")}
    client = _client(frames_dir, tmp_path / "s", backend="cache", backend_kwargs=kwargs)
    assert _first_round(client, video)["state"] == "done"
    assert client.get("/api/state").json()["backend"] == "cache"
    assert any((tmp_path / "cache").rglob("*"))
    args = parse_args([])
    assert args.host == "127.0.0.1" and args.backend == "flow"  # served on this machine only by default


def test_a_bad_or_busy_port_is_reported_before_anything_is_printed_or_created(app_video, tmp_path, capsys):
    import socket

    frames_dir, _ = app_video
    with pytest.raises(SystemExit):
        parse_args(["--port", "99999"])
    assert "--port: must be a port number 1..65535, got '99999'" in capsys.readouterr().err
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        argv = ["--frames", str(frames_dir), "--session", str(tmp_path / "s"), "--port", str(port)]
        assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert captured.err.startswith(f"error: --port {port}: cannot serve on 127.0.0.1:{port}")
    assert not (tmp_path / "s").exists()
