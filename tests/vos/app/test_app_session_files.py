"""Every session change is one atomic switch, and one app at a time has a session folder open.

A process killed just before a file operation leaves the folder as it is at that moment. Each test below
copies the session folder right before every file operation that a change makes inside it (creating a
temporary file, renaming, deleting, making a folder), then opens every copy: each must hold either the
session from before the change or the one after it, complete, and opening it must clean up what the
interrupted save left.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.vos.app.conftest import first_strokes, local_client, open_session
from vos_recommender.app import Annotator, load_video
from vos_recommender.app.errors import SessionInUseError
from vos_recommender.app.server import AppConfig, create_app
from vos_recommender.app.state import BACKEND_CACHE, load_session

ROOT = Path(__file__).resolve().parents[3]
FILE_OPERATIONS = [
    (os, "replace"),
    (os, "rename"),
    (os, "unlink"),
    (os, "remove"),
    (os, "rmdir"),
    (os, "mkdir"),
    (shutil, "rmtree"),
    (tempfile, "mkstemp"),
]


def _without_cache(folder: str, names: list[str]) -> list[str]:
    return [BACKEND_CACHE] if BACKEND_CACHE in names else []


class CrashPoints:
    """Copies ``folder`` into ``<copies>/NNN`` just before each file operation inside it."""

    def __init__(self, folder: Path, copies: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder = str(folder.resolve())
        self.copies = copies
        self.operations: list[str] = []
        self._copying = False
        for module, name in FILE_OPERATIONS:
            monkeypatch.setattr(module, name, self._wrap(getattr(module, name), name))

    def _inside(self, value) -> bool:
        """A path of the session (the backend's cache of per-video work, written by the backend's own
        thread, is not part of it)."""
        if not isinstance(value, (str, os.PathLike)):
            return False
        path = os.path.abspath(os.fspath(value))
        return path.startswith(self.folder) and not path.startswith(os.path.join(self.folder, BACKEND_CACHE))

    def _wrap(self, real, name):
        def operation(*args, **kwargs):
            if not self._copying and any(self._inside(v) for v in (*args, *kwargs.values())):
                self._copying = True
                try:
                    self.operations.append(f"{name} {args[0] if args else kwargs.get('dir')}")
                    if os.path.isdir(self.folder):  # else a crash leaves no folder (and no copy)
                        copy = self.copies / f"{len(self.operations):03d}"
                        shutil.copytree(self.folder, copy, symlinks=True, ignore=_without_cache)
                finally:
                    self._copying = False
            return real(*args, **kwargs)

        return operation


def _summary(state) -> str | None:
    """What the user made in a session (without timings), comparable across loads."""
    if state is None:
        return None
    masks = None if state.masks is None else hashlib.sha1(state.masks.tobytes()).hexdigest()
    content = {
        "objects": [(o.id, o.name) for o in state.objects],
        "drafts": {str(t): s for t, s in sorted(state.drafts.items())},
        "rounds": [(r.frame, r.scribble) for r in state.rounds],
        "masks": masks,
        "edited": state.edited,
        "history": state.history.to_json(),
        "quality": state.quality,
        "recommendation": state.recommendation,
    }
    return json.dumps(content, sort_keys=True, default=str)


def _named_files(folder: Path) -> set[str]:
    from vos_recommender.app.history import SessionHistory

    data = json.loads((folder / "session.json").read_text())
    rounds = {entry["file"] for entry in data["rounds"]}
    rounds |= {entry["annotations_file"] for entry in data["rounds"] if entry.get("annotations_file")}
    history = SessionHistory.from_json(data.get("history")).files()  # masks and rounds undo can go back to
    backend_state = data.get("backend_state")
    return (
        rounds
        | history
        | ({data["masks_file"]} if data["masks_file"] else set())
        | ({backend_state["file"]} if backend_state else set())
    )


def _session_files(folder: Path) -> set[str]:
    """The session's own files (not the backend's cache of per-video work, which any save may leave)."""
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.relative_to(folder).parts[0] != "backend-cache"
    }


@pytest.fixture(scope="module")
def two_rounds(app_video, tmp_path_factory):
    """A saved session: the video's objects plus a spare one, two rounds, a draft."""
    frames_dir, video = app_video
    folder = tmp_path_factory.mktemp("two_rounds") / "session"
    with open_session(frames_dir, folder, video) as annotator:
        spare = annotator.add_object("spare")
        frame, strokes = first_strokes(video)
        annotator.set_strokes(frame, [*strokes, {"path": [[0.5, 0.5], [0.6, 0.5]], "object_id": spare.id}])
        annotator.run_round(frame)
        second = annotator.state.recommendation["frame"]
        annotator.set_strokes(second, [{"path": [[0.2, 0.2], [0.3, 0.25]], "object_id": 1}])
        annotator.run_round(second)
        annotator.set_strokes(0, [{"path": [[0.7, 0.7]], "object_id": 2}])
    return folder


CHANGES = {
    "add object": lambda a: a.add_object("new"),
    "rename object": lambda a: a.rename_object(2, "renamed"),
    "delete object": lambda a: a.delete_object(1),
    "draw strokes": lambda a: a.set_strokes(5, [{"path": [[0.1, 0.9], [0.2, 0.8]], "object_id": 1}]),
    "clear strokes": lambda a: a.set_strokes(0, []),
    "run a round": lambda a: a.run_round(0),
    "edit a mask": lambda a: a.edit_mask(
        4, {"op": "polygon", "object_id": 1, "points": [[0.1, 0.1], [0.6, 0.1], [0.3, 0.7]]}
    ),
    "undo": lambda a: a.undo(),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_crash_at_any_file_operation_leaves_the_old_or_the_new_session(
    change, two_rounds, app_video, tmp_path, monkeypatch
):
    frames_dir, _ = app_video
    folder = tmp_path / "session"
    shutil.copytree(two_rounds, folder)
    video = load_video(frames_dir)
    annotator = Annotator(video, folder)
    old = _summary(load_session(folder, video))
    with monkeypatch.context() as patch:
        crashes = CrashPoints(folder, tmp_path / "crashed", patch)
        CHANGES[change](annotator)
    annotator.close()
    new = _summary(load_session(folder, video))
    assert new != old
    assert crashes.operations, "the change wrote nothing"
    seen = []
    for index, operation in enumerate(crashes.operations, start=1):
        copy = tmp_path / "crashed" / f"{index:03d}"
        found = _summary(load_session(copy, video))  # opens without error
        assert found in (old, new), (
            f"killed before {operation}: a session that is neither the old nor the new"
        )
        seen.append("old" if found == old else "new")
        with Annotator(video, copy) as reopened:  # the app opens it and removes what the crash left
            assert _summary(reopened.state) == found
            assert _session_files(copy) == _named_files(copy) | {"session.json", ".lock"}, operation
    assert seen[0] == "old"


def test_a_new_session_killed_while_it_is_created_opens_as_new(app_video, tmp_path, monkeypatch):
    frames_dir, _ = app_video
    video = load_video(frames_dir)
    folder = tmp_path / "session"
    with monkeypatch.context() as patch:
        crashes = CrashPoints(folder, tmp_path / "crashed", patch)
        Annotator(video, folder).close()
    assert crashes.operations
    for index in range(1, len(crashes.operations) + 1):
        copy = tmp_path / "crashed" / f"{index:03d}"
        assert load_session(copy, video) is None or load_session(copy, video).rounds == []
        with Annotator(video, copy) as reopened:
            assert reopened.state.rounds == [] and reopened.state.objects == []


def test_a_second_app_on_the_same_session_is_refused_naming_the_first(app_video, tmp_path):
    frames_dir, video = app_video
    folder = tmp_path / "session"
    first = open_session(frames_dir, folder, video)
    host = socket.gethostname()
    with pytest.raises(SessionInUseError, match=rf"is open in another app \(process {os.getpid()} on {host}"):
        open_session(frames_dir, folder, video)
    client = local_client(create_app(AppConfig(session=str(folder))))
    answer = client.post("/api/open", json={"frames": str(frames_dir)})
    assert answer.status_code == 409 and f"process {os.getpid()}" in answer.json()["error"]
    first.add_object("still mine")  # the first app keeps working
    first.close()
    assert client.post("/api/open", json={"frames": str(frames_dir)}).status_code == 200
    # Opening the same session again from the page hands the lock over instead of refusing itself.
    again = client.post("/api/open", json={"frames": str(frames_dir)})
    assert again.status_code == 200 and again.json()["objects"][-1]["name"] == "still mine"
    client.app.state.holder["annotator"].close()


HOLD_LOCK = """
import sys
from vos_recommender.app.session_lock import SessionLock

lock = SessionLock(sys.argv[1]).acquire()
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_lock_held_by_another_process_refuses_and_a_dead_ones_is_taken_over(app_video, tmp_path):
    frames_dir, _ = app_video
    video = load_video(frames_dir)
    folder = tmp_path / "session"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(folder)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(SessionInUseError, match=rf"process {holder.pid} on {socket.gethostname()}"):
            Annotator(video, folder)
        assert not (folder / "session.json").exists()  # refused before anything was written
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
    assert json.loads((folder / ".lock").read_text())["pid"] == holder.pid  # left by a dead process
    with Annotator(video, folder) as taken_over:
        assert json.loads((folder / ".lock").read_text())["pid"] == os.getpid()
        taken_over.add_object()
    assert load_session(folder, video).num_objects == 1


def test_files_the_app_did_not_write_survive_its_saves(app_video, tmp_path):
    # e.g. --session my_video next to the user's own my_video/masks/*.png
    frames_dir, video = app_video
    folder = tmp_path / "my_video"
    (folder / "masks").mkdir(parents=True)
    (folder / "masks" / "00000.png").write_bytes(b"the user's mask")
    (folder / "rounds").mkdir()
    (folder / "rounds" / "notes.json").write_text("{}")
    with open_session(frames_dir, folder, video) as annotator:
        frame, strokes = first_strokes(video)
        annotator.set_strokes(frame, strokes)
        annotator.run_round(frame)
        annotator.delete_object(1)
    assert (folder / "masks" / "00000.png").read_bytes() == b"the user's mask"
    assert (folder / "rounds" / "notes.json").read_text() == "{}"
