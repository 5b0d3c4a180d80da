"""tools/train.py and tools/test.py end to end on generated data, and their errors on bad input."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks.seg_runs import loader_options
from mmseg_ranet.datasets.generate import SceneConfig, generate_dataset
from mmseg_ranet.utils.checkpoint import load_trusted_local_checkpoint

REPO = Path(__file__).resolve().parents[2]
DEMO = "configs/fcn/fcn_r18-d8_1xb8-600_synthetic-128x128.py"


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return generate_dataset(
        tmp_path_factory.mktemp("tools_data"),
        4,
        2,
        SceneConfig(size=64, object_radius=(10, 16), cue_radius=2),
    )


def _small(data_root: Path, max_iters: int) -> list[str]:
    return [
        "--cfg-options",
        *loader_options(data_root),
        "train_dataloader.batch_size=2",
        "model.data_preprocessor.size=(64,64)",
        f"train_cfg.max_iters={max_iters}",
        f"train_cfg.val_interval={max_iters}",
        "default_hooks.checkpoint.interval=2",
        "default_hooks.logger.interval=1",
    ]


def test_train_checkpoint_evaluate_resume_test(data_root, tmp_path):
    work = tmp_path / "work"
    first = _run("tools/train.py", DEMO, "--work-dir", str(work), *_small(data_root, 2))
    assert first.returncode == 0, first.stderr[-3000:]
    log = first.stdout + first.stderr
    assert "mIoU" in log
    assert (work / "iter_2.pth").is_file()
    assert (work / "last_checkpoint").read_text().strip().endswith("iter_2.pth")

    resumed = _run("tools/train.py", DEMO, "--work-dir", str(work), "--resume", *_small(data_root, 4))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    assert "resumed epoch: 0, iter: 2" in log
    assert (work / "iter_4.pth").is_file()

    tested = _run(
        "tools/test.py",
        DEMO,
        str(work / "iter_4.pth"),
        "--work-dir",
        str(tmp_path / "test"),
        *_small(data_root, 4),
    )
    assert tested.returncode == 0, tested.stderr[-3000:]
    assert "mIoU" in tested.stdout + tested.stderr


def test_missing_data_root_is_named(tmp_path):
    missing = tmp_path / "nowhere"
    res = _run(
        "tools/train.py",
        DEMO,
        "--work-dir",
        str(tmp_path / "w"),
        "--cfg-options",
        f"train_dataloader.dataset.data_root={missing}",
    )
    assert res.returncode != 0
    assert "train_dataloader: data_root" in res.stderr and str(missing) in res.stderr


def test_config_without_custom_imports_is_named(tmp_path):
    cfg = tmp_path / "no_imports.py"
    cfg.write_text(
        "_base_ = ['mmseg::_base_/default_runtime.py']\n"
        "train_dataloader = dict(dataset=dict(type='SyntheticContextDataset', data_root='.'))\n"
    )
    res = _run("tools/train.py", str(cfg), "--work-dir", str(tmp_path / "w"))
    assert res.returncode != 0
    assert (
        "SyntheticContextDataset" in res.stderr and "custom_imports" in res.stderr and str(cfg) in res.stderr
    )


def test_missing_config_and_checkpoint_are_named(tmp_path):
    res = _run("tools/train.py", str(tmp_path / "nope.py"))
    assert res.returncode != 0 and "nope.py" in res.stderr and "does not exist" in res.stderr
    res = _run("tools/test.py", DEMO, str(tmp_path / "missing.pth"))
    assert res.returncode != 0 and "missing.pth" in res.stderr


def test_checkpoint_loader(tmp_path, monkeypatch):
    from mmengine.logging import HistoryBuffer

    plain = tmp_path / "plain.pth"
    torch.save({"state_dict": {"w": torch.ones(2)}}, plain)
    assert torch.equal(load_trusted_local_checkpoint(str(plain))["state_dict"]["w"], torch.ones(2))

    # An mmengine-style checkpoint holds non-tensor objects: weights-only loading fails, the fallback works.
    rich = tmp_path / "rich.pth"
    torch.save({"message_hub": {"log": HistoryBuffer([1.0, 2.0], [1, 1])}}, rich)
    assert isinstance(load_trusted_local_checkpoint(str(rich))["message_hub"]["log"], HistoryBuffer)
    monkeypatch.setenv("MMSEG_RANET_WEIGHTS_ONLY", "1")
    with pytest.raises(pickle.UnpicklingError, match="MMSEG_RANET_WEIGHTS_ONLY"):
        load_trusted_local_checkpoint(str(rich))
    monkeypatch.delenv("MMSEG_RANET_WEIGHTS_ONLY")

    broken = tmp_path / "broken.pth"
    broken.write_bytes(plain.read_bytes()[:50])
    with pytest.raises(RuntimeError, match="broken.pth"):
        load_trusted_local_checkpoint(str(broken))
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        load_trusted_local_checkpoint(str(tmp_path / "absent.pth"))


def test_atomic_backend_leaves_no_partial_file(tmp_path, monkeypatch):
    from mmseg_ranet.utils.checkpoint import AtomicLocalBackend

    target = tmp_path / "iter_1.pth"
    backend = AtomicLocalBackend()
    backend.put(b"old", target)

    def crash(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        backend.put(b"new but never finished", target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["iter_1.pth"]


@pytest.mark.parametrize("content", [b"\x00\xff random bytes \x13\x37" * 40, b"a text file\n"])
def test_corrupt_checkpoint_is_named_by_the_test_tool(data_root, tmp_path, content):
    checkpoint = tmp_path / "corrupt.pth"
    checkpoint.write_bytes(content)
    res = _run(
        "tools/test.py", DEMO, str(checkpoint), "--work-dir", str(tmp_path / "w"), *_small(data_root, 2)
    )
    assert res.returncode != 0
    assert "tools/test.py: error: checkpoint" in res.stderr and "corrupt.pth" in res.stderr
    assert "not a readable torch checkpoint" in res.stderr and "Traceback" not in res.stderr


def test_train_tool_names_too_few_head_classes_and_a_misspelled_key(data_root, tmp_path):
    res = _run(
        "tools/train.py",
        DEMO,
        "--work-dir",
        str(tmp_path / "w"),
        *_small(data_root, 2),
        "model.decode_head.num_classes=3",
        "train_dataloder.batch_size=2",
    )
    assert res.returncode != 0
    assert "tools/train.py: error: model.decode_head.num_classes=3" in res.stderr
    assert "has 5 classes" in res.stderr and "Traceback" not in res.stderr
    log = res.stdout + res.stderr
    assert "'train_dataloder' (from --cfg-options)" in log and "did you mean 'train_dataloader'" in log


def test_train_tool_stops_on_a_misspelled_hook_argument_before_training(data_root, tmp_path):
    work = tmp_path / "w"
    res = _run(
        "tools/train.py",
        DEMO,
        "--work-dir",
        str(work),
        *_small(data_root, 2),
        "default_hooks.checkpoint.intervall=1",
    )
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert "tools/train.py: error: misspelled config keys" in res.stderr
    assert "did you mean default_hooks.checkpoint.interval?" in res.stderr
    assert not list(work.rglob("*.log")) and not list(work.rglob("*.pth"))  # no run was started
