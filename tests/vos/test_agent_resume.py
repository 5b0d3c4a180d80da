"""Resume states are one atomic unit: a process killed while writing one leaves a resumable run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.vos.test_agent_dqn import small_model, toy_vec_env
from tests.vos.test_agent_toy_env import single_torch_thread  # noqa: F401  (autouse fixture)
from vos_recommender.agent import RecurrentDQN, ResumeCallback
from vos_recommender.agent.resume import POINTER, STATE_PREFIX, clean_resume_folder, current_state

ROOT = Path(__file__).resolve().parents[2]

# Trains to step 6 (a complete state), then 3 more steps, then saves again and is killed with SIGKILL
# just before the KILL_AT-th file is renamed into place (1: model.zip, 2: replay_buffer.pkl,
# 3: resume.json, 4: the pointer) or, with KILL_AT = 0, while the superseded state is deleted.
KILLED_SAVE = """
import os, shutil, signal, sys
import torch
torch.set_num_threads(1)
from tests.vos.test_agent_dqn import small_model, toy_vec_env

folder, kill_at = sys.argv[1], int(sys.argv[2])
model = small_model(toy_vec_env(seed=5), seed=5, warmup_episodes=2)
model.learn(6, resume_dir=folder)
model.learn(3, reset_num_timesteps=False)
calls = 0
real_replace, real_rmtree = os.replace, shutil.rmtree

def replace(src, dst):
    global calls
    calls += 1
    if calls == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)

def rmtree(*args, **kwargs):
    if kill_at == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    real_rmtree(*args, **kwargs)

os.replace, shutil.rmtree = replace, rmtree
model.save_resume_state(folder)
print("not killed")
"""


@pytest.mark.parametrize("kill_at, expected_step", [(1, 6), (2, 6), (3, 6), (4, 6), (0, 9)])
def test_kill_during_a_save_leaves_the_old_or_the_new_state(
    tmp_path: Path, kill_at: int, expected_step: int
) -> None:
    folder = tmp_path / "resume"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", KILLED_SAVE, str(folder), str(kill_at)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr
    # Two state folders on disk (the complete one and the new one), the pointer on one of them.
    assert len([p for p in folder.iterdir() if p.name.startswith(STATE_PREFIX)]) == 2
    model = RecurrentDQN.load_resume_state(folder, toy_vec_env(seed=5))
    assert model.num_timesteps == expected_step
    assert json.loads((folder / POINTER).read_text())["num_timesteps"] == expected_step
    # Loading removed what the killed save left: one state folder, no temporary file.
    assert [p for p in folder.iterdir() if p.name.startswith(STATE_PREFIX)] == [current_state(folder)]
    assert not list(folder.rglob(".*.tmp*"))
    model.learn(3, reset_num_timesteps=False, resume_dir=folder)
    assert RecurrentDQN.load_resume_state(folder, toy_vec_env(seed=5)).num_timesteps == expected_step + 3


def test_resume_callback_writes_states_at_episode_boundaries(tmp_path: Path) -> None:
    folder = tmp_path / "resume"
    written: list[int] = []
    model = small_model(toy_vec_env(seed=1), seed=1, warmup_episodes=2)
    saver = ResumeCallback(folder, every=6)
    real_save = saver._save

    def recording_save() -> None:
        written.append(model.num_timesteps)
        real_save()

    saver._save = recording_save  # type: ignore[method-assign]
    model.learn(20, callback=saver)
    # Episodes are 3 steps long: states at the first boundary after 6, 12, 18 steps, and at the end.
    assert written == [6, 12, 18, 20]
    assert json.loads((current_state(folder) / "resume.json").read_text())["num_timesteps"] == 20
    assert len([p for p in folder.iterdir() if p.name.startswith(STATE_PREFIX)]) == 1
    with pytest.raises(ValueError, match="every"):
        ResumeCallback(folder, every=-1)


def test_missing_or_broken_pointer_and_leftovers(tmp_path: Path) -> None:
    folder = tmp_path / "resume"
    with pytest.raises(FileNotFoundError, match="latest.json"):
        current_state(folder)
    model = small_model(toy_vec_env(), warmup_episodes=2)
    model.learn(3, resume_dir=folder)
    state = current_state(folder)
    leftover = folder / f"{STATE_PREFIX}000000099-partial"
    leftover.mkdir()
    (leftover / "model.zip").write_bytes(b"half")
    stale = folder / ".replay_buffer.pkl.abc.tmp.pkl"
    stale.write_bytes(b"half")
    assert clean_resume_folder(folder) == 2
    assert not leftover.exists() and not stale.exists() and state.is_dir()
    (folder / POINTER).write_text("{not json")
    with pytest.raises(ValueError, match="latest.json"):
        RecurrentDQN.load_resume_state(folder, toy_vec_env())
    (folder / POINTER).write_text(json.dumps({"state": "state-gone"}))
    with pytest.raises(FileNotFoundError, match="state-gone"):
        RecurrentDQN.load_resume_state(folder, toy_vec_env())
