"""Atomic writes of the segmentation plugin: fsync, permissions from the umask, stale temporary files."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from mmseg_ranet.utils import atomic
from mmseg_ranet.utils.atomic import atomic_write_bytes, remove_stale_temporaries
from mmseg_ranet.utils.checkpoint import AtomicLocalBackend
from mmseg_ranet.utils.launch import load_tool_config

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128.py"


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_checkpoints_get_the_umask_permissions_not_0600(tmp_path, umask_022):
    target = tmp_path / "iter_2.pth"
    AtomicLocalBackend().put(b"weights", target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    os.umask(0o077)
    AtomicLocalBackend().put_text("iter_2.pth", tmp_path / "last_checkpoint")
    assert stat.S_IMODE((tmp_path / "last_checkpoint").stat().st_mode) == 0o600


def test_file_and_folder_are_fsynced(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def record(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", record)
    atomic_write_bytes(b"x", tmp_path / "meta.json")
    assert synced == [False, True]  # the file's data, then the folder entry of the rename


def test_only_old_temporaries_matching_the_helper_pattern_are_removed(tmp_path):
    old = time.time() - 7200
    stale = tmp_path / ".iter_4.pth.ab12cd_9.tmp"
    fresh = tmp_path / ".iter_6.pth.zz12cd_9.tmp"
    unrelated = [tmp_path / "notes.tmp", tmp_path / ".hidden.tmp", tmp_path / "iter_4.pth"]
    for path in [stale, fresh, *unrelated]:
        path.write_bytes(b"partial")
    for path in [stale, *unrelated]:
        os.utime(path, (old, old))
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert not stale.exists() and fresh.exists() and all(p.exists() for p in unrelated)


def test_interrupted_write_leaves_a_temporary_that_train_start_removes(tmp_path, monkeypatch):
    work = tmp_path / "work"

    def crash(*_args):
        raise KeyboardInterrupt

    # A write killed between creating the temporary file and the rename (kill -9 skips the clean-up;
    # simulated here by a rename that never happens and no clean-up afterwards).
    monkeypatch.setattr(atomic.os, "replace", crash)
    monkeypatch.setattr(atomic.os, "unlink", lambda _path: None)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(b"half a checkpoint", work / "iter_4.pth")
    monkeypatch.undo()
    (left,) = list(work.iterdir())
    assert atomic.TEMP_NAME.match(left.name)
    old = time.time() - 7200
    os.utime(left, (old, old))

    data = tmp_path / "data"
    for sub in ("img_dir/train", "ann_dir/train", "img_dir/val", "ann_dir/val"):
        (data / sub).mkdir(parents=True)
    options = {
        f"{loader}.dataset.data_root": str(data)
        for loader in ("train_dataloader", "val_dataloader", "test_dataloader")
    }
    load_tool_config(str(DEMO), options, "none", str(work))
    assert list(work.iterdir()) == []
