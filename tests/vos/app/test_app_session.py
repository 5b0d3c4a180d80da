"""The annotation session: rounds, saving after every round, continuing after a restart, objects, cancel."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time

import numpy as np
import pytest

from tests.vos.app.conftest import first_strokes, open_session
from vos_recommender.app import AppBusyError, AppInputError
from vos_recommender.app.jobs import JobCancelled
from vos_recommender.app.state import load_session
from vos_recommender.backends import register_backend
from vos_recommender.backends.flow import FlowBackend
from vos_recommender.interaction.simulated_user import SimulatedUser


def _correct(annotator, video, frame):
    """The simulated user's correction strokes on ``frame`` of the latest masks."""
    scribble = SimulatedUser().correction(video, annotator.state.masks, frame)
    return scribble["scribbles"][frame]


def _count_interactions(annotator) -> list[int]:
    """Record the frame of every round the annotator's backend runs from now on."""
    calls, interact = [], annotator.backend.interact

    def counted(scribble, frame, **kwargs):
        calls.append(frame)
        return interact(scribble, frame, **kwargs)

    annotator.backend.interact = counted
    return calls


def test_round_is_saved_and_a_restart_continues_exactly_without_running_earlier_rounds(app_video, tmp_path):
    frames_dir, video = app_video
    frame, strokes = first_strokes(video)

    straight = open_session(frames_dir, tmp_path / "straight", video)
    straight.set_strokes(frame, strokes)
    assert straight.run_round(frame).state == "done"
    second = straight.state.recommendation["frame"]
    correction = _correct(straight, video, second)
    straight.set_strokes(second, correction)
    straight.run_round(second)

    first = open_session(frames_dir, tmp_path / "resumed", video)
    first.set_strokes(frame, strokes)
    first.run_round(frame)
    assert first.state.recommendation["frame"] == second
    first.set_strokes(second, correction)  # drawn, not run: a draft must survive the restart too
    saved = json.loads((tmp_path / "resumed" / "session.json").read_text())
    assert [r["frame"] for r in saved["rounds"]] == [frame]
    assert saved["drafts"][str(second)][0]["path"] == [[float(x), float(y)] for x, y in correction[0]["path"]]
    assert saved["backend_state"]["rounds"] == 1 and saved["backend_state"]["backend"] == "flow"
    assert (tmp_path / "resumed" / saved["backend_state"]["file"]).is_file()
    assert list((tmp_path / "resumed" / "backend-cache").glob("flow-dis-*/*.npy"))  # the flows, on disk
    first.close()  # the app stops: the session folder is free for the next one

    resumed = open_session(frames_dir, tmp_path / "resumed", video)
    calls = _count_interactions(resumed)
    assert resumed.resumed
    assert resumed.state.annotated() == [frame]
    np.testing.assert_array_equal(resumed.state.masks, first.state.masks)
    assert resumed.state.recommendation == first.state.recommendation
    job = resumed.run_round(second)  # the backend continues from its saved state: round 1 is not run again
    assert job.state == "done"
    assert calls == [second]
    assert job.history[0] == "starting the model on the video"
    assert not any("restoring" in m for m in job.history)
    assert resumed.state.annotated() == [frame, second]
    np.testing.assert_array_equal(resumed.state.masks, straight.state.masks)
    assert resumed.state.drafts == {}


def test_without_a_usable_backend_state_the_saved_rounds_are_replayed(app_video, tmp_path):
    frames_dir, video = app_video
    frame, strokes = first_strokes(video)
    with open_session(frames_dir, tmp_path / "s", video) as first:
        first.set_strokes(frame, strokes)
        first.run_round(frame)
        state_file = tmp_path / "s" / first.state.backend_state["file"]
    state_file.write_bytes(b"not a state")  # damaged: the rounds run again, with a warning naming it
    with open_session(frames_dir, tmp_path / "s", video) as resumed:
        calls = _count_interactions(resumed)
        resumed.set_strokes(frame, strokes)
        with pytest.warns(UserWarning, match=f"cannot read the backend state {re.escape(str(state_file))}"):
            job = resumed.run_round(frame)
        assert calls == [frame, frame] and "restoring round 1/1" in job.history
        with open_session(frames_dir, tmp_path / "again", video) as straight:
            straight.set_strokes(frame, strokes)
            straight.run_round(frame)
            straight.set_strokes(frame, strokes)
            straight.run_round(frame)
            np.testing.assert_array_equal(resumed.state.masks, straight.state.masks)


def test_a_round_reports_every_frame_as_it_is_propagated(app_video, tmp_path):
    frames_dir, video = app_video
    frame, strokes = first_strokes(video)
    with open_session(frames_dir, tmp_path / "s", video) as annotator:
        annotator.set_strokes(frame, strokes)
        job = annotator.run_round(frame)
        done = job.frames_done
        assert sorted(done) == list(range(video.num_frames)) and done[0] == frame  # the annotated frame first
        for t in range(video.num_frames):
            np.testing.assert_array_equal(job.frame_mask(t), annotator.state.masks[t])
        assert job.to_dict()["frames_total"] == video.num_frames


def test_job_progress_and_message_count_the_frames_done():
    from vos_recommender.app.jobs import Job

    release = threading.Event()
    job = Job("run", lambda j: release.wait(10)).start()
    job.phase(1, 4, "propagating from frame 2")
    job.track_frames(5)
    assert job.progress == pytest.approx(1 / 4)
    assert job.message == "propagating from frame 2: 0/5 frames"
    mask = np.ones((3, 4), dtype=np.uint8)
    job.frame_done(2, mask)
    job.frame_done(3, mask * 2)
    assert job.message == "propagating from frame 2: 2/5 frames"
    assert job.progress == pytest.approx((1 + 2 / 5) / 4)
    assert job.to_dict()["frames_done"] == [2, 3] and job.frame_mask(4) is None
    np.testing.assert_array_equal(job.frame_mask(3), mask * 2)
    job.cancel()
    with pytest.raises(JobCancelled):  # a cancel stops a backend between two frames
        job.frame_done(4, mask)
    release.set()
    job.wait(10)


def test_session_of_another_video_is_refused(app_video, tmp_path):
    frames_dir, video = app_video
    session = open_session(frames_dir, tmp_path / "s", video)
    data = json.loads((tmp_path / "s" / "session.json").read_text())
    data["fingerprint"] = "0" * 16
    (tmp_path / "s" / "session.json").write_text(json.dumps(data))
    with pytest.raises(AppInputError, match="holds a session of another video"):
        load_session(tmp_path / "s", session.video)
    (tmp_path / "s" / "session.json").write_text("{not json")
    with pytest.raises(AppInputError, match="cannot read .*session.json"):
        load_session(tmp_path / "s", session.video)


def test_objects_add_rename_delete_keeps_ids_consecutive(app_video, tmp_path):
    frames_dir, video = app_video
    annotator = open_session(frames_dir, tmp_path / "s", video)
    extra = annotator.add_object("spare")
    assert extra.id == video.num_objects + 1
    annotator.rename_object(1, "front")
    assert annotator.state.objects[0].name == "front"
    with pytest.raises(ValueError, match="cannot be empty"):
        annotator.rename_object(1, "  ")
    frame, strokes = first_strokes(video)
    spare_stroke = {"path": [[0.5, 0.5], [0.6, 0.5]], "object_id": extra.id}
    annotator.set_strokes(frame, [*strokes, spare_stroke])
    annotator.run_round(frame)
    assert annotator.state.num_objects == video.num_objects + 1

    annotator.delete_object(1)
    assert [o.id for o in annotator.state.objects] == list(range(1, video.num_objects + 1))
    assert annotator.state.objects[-1].name == "spare"
    ids = {s["object_id"] for s in annotator.state.rounds[0].scribble["scribbles"][frame]}
    assert ids <= set(range(0, video.num_objects + 1)) and video.num_objects in ids
    assert int(annotator.state.masks.max()) <= video.num_objects
    with pytest.raises(KeyError, match="no object with id 9"):
        annotator.delete_object(9)
    # The backend restarts with the new object count and replays the edited round.
    annotator.set_strokes(frame, [{"path": [[0.1, 0.1], [0.2, 0.1]], "object_id": 0}])
    assert annotator.run_round(frame).state == "done"


class SlowFlow(FlowBackend):
    """The flow backend held at every round until the test releases it."""

    name = "slow_flow"
    gate = threading.Event()

    def _interact(self, scribble, frame):
        assert SlowFlow.gate.wait(30), "the test never released the round"
        return super()._interact(scribble, frame)


def test_cancel_drops_the_round_and_keeps_the_strokes(app_video, tmp_path):
    frames_dir, video = app_video
    register_backend("slow_flow", SlowFlow, overwrite=True)
    annotator = open_session(frames_dir, tmp_path / "s", video, backend="slow_flow")
    frame, strokes = first_strokes(video)
    annotator.set_strokes(frame, strokes)
    SlowFlow.gate.clear()
    job = annotator.start_round(frame)
    deadline = time.monotonic() + 10
    while "propagating" not in job.message and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "propagating" in job.message
    with pytest.raises(AppBusyError, match="while a round is running"):
        annotator.add_object()
    with pytest.raises(AppBusyError, match="is being run"):
        annotator.set_strokes(frame, [])
    annotator.cancel()
    assert job.to_dict()["state"] == "cancelled"  # reported at once, before the model returns
    SlowFlow.gate.set()
    job.wait(30)
    assert job.state == "cancelled"
    assert annotator.state.rounds == [] and annotator.state.masks is None
    assert annotator.state.drafts[frame]  # nothing drawn is lost
    assert json.loads((tmp_path / "s" / "session.json").read_text())["rounds"] == []
    again = annotator.run_round(frame)  # the backend, a round ahead, is restarted
    assert again.state == "done" and annotator.state.annotated() == [frame]
    assert again.history[0] == "starting the model on the video"
    assert not any("restoring" in m for m in again.history)
    later = annotator.run_round(frame) if annotator.set_strokes(frame, strokes) else None
    assert later.history[0].startswith("propagating")  # in step again: no restart


def test_run_after_a_cancel_waits_for_the_cancelled_round_by_itself(app_video, tmp_path):
    frames_dir, video = app_video
    register_backend("slow_flow", SlowFlow, overwrite=True)
    annotator = open_session(frames_dir, tmp_path / "s", video, backend="slow_flow")
    frame, strokes = first_strokes(video)
    annotator.set_strokes(frame, strokes)
    SlowFlow.gate.clear()
    cancelled = annotator.start_round(frame)
    deadline = time.monotonic() + 10
    while "propagating" not in cancelled.message and time.monotonic() < deadline:
        time.sleep(0.01)
    annotator.cancel()
    assert cancelled.to_dict()["finishing"]  # cancelled, but the model's call is still under way
    with pytest.raises(AppBusyError, match="the cancelled round is still finishing the model's current step"):
        annotator.add_object()
    job = annotator.start_round(frame)  # not refused: it waits
    deadline = time.monotonic() + 10
    while "waiting for the cancelled round" not in job.message and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.to_dict()["state"] == "running" and job.message.startswith("waiting for the cancelled round")
    SlowFlow.gate.set()
    job.wait(60)
    assert cancelled.state == "cancelled" and not cancelled.to_dict()["finishing"]
    assert job.state == "done" and annotator.state.annotated() == [frame]
    assert job.history[:2] == [
        "waiting for the cancelled round to finish the model's current step",
        "starting the model on the video",
    ]
    # A wait can itself be cancelled.
    annotator.set_strokes(frame, strokes)
    SlowFlow.gate.clear()
    first = annotator.start_round(frame)
    annotator.cancel()
    waiting = annotator.start_round(frame)
    annotator.cancel()
    SlowFlow.gate.set()
    first.wait(30), waiting.wait(30)
    assert waiting.state == "cancelled" and annotator.state.annotated() == [frame]
    annotator.close()


def test_round_needs_objects_and_strokes(app_video, tmp_path):
    from vos_recommender.app import Annotator, load_video

    frames_dir, video = app_video
    annotator = Annotator(load_video(frames_dir), tmp_path / "s")
    with pytest.raises(ValueError, match="add an object"):
        annotator.start_round(0)
    annotator.add_object()
    with pytest.raises(ValueError, match="draw at least one stroke on frame 2"):
        annotator.start_round(2)
    with pytest.raises(ValueError, match="frame 10 is outside the video"):
        annotator.start_round(10)


def test_a_video_with_the_same_names_count_and_size_does_not_open_anothers_session(app_video, tmp_path):
    from PIL import Image

    from vos_recommender.app import Annotator, load_video
    from vos_recommender.app.server import AppConfig, session_folder

    frames_dir, video = app_video
    other = tmp_path / "other" / frames_dir.name
    shutil.copytree(frames_dir, other)
    first = sorted(other.iterdir())[0]
    pixels = np.asarray(Image.open(first)).copy()
    pixels[:10] = 255 - pixels[:10]
    Image.fromarray(pixels).save(first)
    with open_session(frames_dir, tmp_path / "s", video):
        pass
    with pytest.raises(AppInputError, match="holds a session of another video: .* whose frames differ"):
        Annotator(load_video(other), tmp_path / "s")
    # Default session folders: one per frame folder (same name or not), never the root itself.
    config = AppConfig(session_root=str(tmp_path / "runs"))
    mine, theirs = session_folder(config, load_video(frames_dir)), session_folder(config, load_video(other))
    assert mine != theirs and mine.parent == theirs.parent == tmp_path / "runs"
    assert mine.name.startswith(f"{video.name}-")


def test_dot_as_the_frame_folder_gets_its_own_session(app_video, tmp_path, monkeypatch):
    from vos_recommender.app import load_video
    from vos_recommender.app.server import AppConfig, session_folder

    frames_dir, video = app_video
    monkeypatch.chdir(frames_dir)
    opened = load_video(".")
    assert opened.name == video.name
    folder = session_folder(AppConfig(session_root=str(tmp_path / "runs")), opened)
    assert folder.parent == tmp_path / "runs" and folder.name.startswith(f"{video.name}-")
    assert folder == session_folder(AppConfig(session_root=str(tmp_path / "runs")), load_video(frames_dir))


def test_a_session_saved_in_the_first_format_continues_and_is_upgraded(app_video, tmp_path):
    from vos_recommender.app import Annotator, load_video

    frames_dir, video = app_video
    folder = tmp_path / "s"
    with open_session(frames_dir, folder, video) as annotator:
        frame, strokes = first_strokes(video)
        annotator.set_strokes(frame, strokes)
        annotator.run_round(frame)
        masks = annotator.state.masks.copy()
    # The first format: rounds/001.json, masks/round_001.npz, names-only fingerprint.
    data = json.loads((folder / "session.json").read_text())
    (folder / data["rounds"][0]["file"]).rename(folder / "rounds" / "001.json")
    (folder / data["masks_file"]).rename(folder / "masks" / "round_001.npz")
    opened = load_video(frames_dir)
    data.update(format=1, fingerprint=opened.names_fingerprint(), masks_file="masks/round_001.npz")
    data["rounds"][0]["file"] = "rounds/001.json"
    (folder / "session.json").write_text(json.dumps(data))
    with Annotator(opened, folder) as resumed:
        assert resumed.resumed and resumed.state.annotated() == [frame]
        np.testing.assert_array_equal(resumed.state.masks, masks)
    upgraded = json.loads((folder / "session.json").read_text())
    assert upgraded["format"] == 2 and upgraded["fingerprint"] == opened.fingerprint()


def test_two_videos_in_folders_named_frames_get_their_own_default_sessions(app_video, tmp_path):
    from vos_recommender.app import load_video
    from vos_recommender.app.server import AppConfig, session_folder

    frames_dir, _ = app_video
    config = AppConfig(session_root=str(tmp_path / "runs"))
    folders = []
    for video in ("a", "b"):
        shutil.copytree(frames_dir, tmp_path / video / "frames")
        folders.append(session_folder(config, load_video(tmp_path / video / "frames")))
    assert folders[0] != folders[1]
    assert all(f.parent == tmp_path / "runs" and f.name.startswith("frames-") for f in folders)
    # The same folder reached by another path (relative, with "..") is the same session.
    again = load_video(tmp_path / "b" / ".." / "a" / "frames")
    assert session_folder(config, again) == folders[0]


def test_a_restart_after_a_round_from_an_edited_mask_continues_from_the_saved_state(app_video, tmp_path):
    frames_dir, video = app_video
    frame, strokes = first_strokes(video)
    height, width = video.masks.shape[1:]
    box = [[x / width, y / height] for x, y in ((2, 2), (20, 2), (20, 14), (2, 14))]
    edit = {"op": "polygon", "object_id": 1, "points": box}

    def first_rounds(annotator):
        annotator.set_strokes(frame, strokes)
        annotator.run_round(frame)
        edited = annotator.state.recommendation["frame"]
        annotator.edit_mask(edited, edit)
        annotator.run_round(edited)  # a round of the edited mask only
        return edited

    with open_session(frames_dir, tmp_path / "straight", video) as straight:
        edited = first_rounds(straight)
        second = straight.state.recommendation["frame"]
        straight.set_strokes(second, _correct(straight, video, second))
        straight.run_round(second)
        expected = straight.state.masks.copy()
    with open_session(frames_dir, tmp_path / "resumed", video) as first:
        assert first_rounds(first) == edited
    with open_session(frames_dir, tmp_path / "resumed", video) as resumed:
        calls = _count_interactions(resumed)
        resumed.set_strokes(second, _correct(resumed, video, second))
        job = resumed.run_round(second)
        assert calls == [second] and not any("restoring" in m for m in job.history)
        np.testing.assert_array_equal(resumed.state.masks, expected)  # the edited key frame was in the state
