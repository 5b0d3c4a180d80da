"""Distributed training on CPU: torchrun through tools/dist_train.sh, against one process.

The end-to-end test is slow (three launches of the training tool); run it with
``pytest -m slow tests/seg/test_distributed_cpu.py`` (or ``make test-slow``).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch.distributed as torch_dist
from mmengine.config import Config

from benchmarks.seg_runs import logged_losses
from mmseg_ranet.datasets.generate import SceneConfig, generate_dataset
from mmseg_ranet.utils.distributed import MeanLogVarsHook, prepare_cpu_distributed

from .train_runs import DEMO, REPO, free_port, run, small_options

REPO_R101 = REPO / "configs/ranet/ranet_r101-d8_4xb2-80k_cityscapes-769x769.py"

# No random flips and no dropout: one process with batch 4 and two with batch 2 then see the same four
# samples in the same state, and only BatchNorm (per-process statistics) tells the runs apart.
DETERMINISTIC = f"""
_base_ = [{str(DEMO)!r}]
train_pipeline = [
    dict(type="CheckedLoadImageFromFile"),
    dict(type="CheckedLoadAnnotations"),
    dict(type="ValidateSegMap", num_classes=5),
    dict(type="GenerateRegionBoundary", radius=2),
    dict(type="PackSegInputs"),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
model = dict(decode_head=dict(dropout_ratio=0.0))
"""


@pytest.fixture
def single_process_group(monkeypatch):
    for key, value in dict(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), RANK="0", WORLD_SIZE="1"
    ).items():
        monkeypatch.setenv(key, value)
    yield
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def test_cpu_set_up_uses_gloo_a_cpu_wrapper_and_plain_bn(single_process_group):
    cfg = Config.fromfile(str(REPO_R101))
    cfg.sync_bn = "torch"
    assert prepare_cpu_distributed(cfg, "pytorch")
    assert torch_dist.is_initialized() and torch_dist.get_backend() == "gloo"
    assert cfg.env_cfg.dist_cfg.backend == "gloo"
    assert cfg.model_wrapper_cfg.device_ids is None
    assert "SyncBN" not in str(cfg.model) and cfg.model.backbone.norm_cfg.type == "BN"
    assert cfg.sync_bn is None


def test_other_launchers_without_cuda_are_named():
    cfg = Config.fromfile(str(DEMO))
    with pytest.raises(ValueError, match="--launcher slurm needs CUDA"):
        prepare_cpu_distributed(cfg, "slurm")
    assert not prepare_cpu_distributed(cfg, "none")


def test_mean_log_vars_hook_is_a_no_op_in_one_process():
    outputs = {"loss": 1.5}
    MeanLogVarsHook().after_train_iter(None, 0, outputs=outputs)
    assert outputs == {"loss": 1.5}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return generate_dataset(
        tmp_path_factory.mktemp("dist_data"), 8, 2, SceneConfig(size=64, object_radius=(10, 16), cue_radius=2)
    )


@pytest.mark.slow
def test_two_cpu_processes_follow_one_process_and_resume(data_root, tmp_path, capsys):
    config = tmp_path / "deterministic.py"
    config.write_text(DETERMINISTIC)

    start = time.perf_counter()
    one = run(
        ["tools/train.py", str(config), "--work-dir", str(tmp_path / "one"), *small_options(data_root, 4, 4)]
    )
    one_seconds = time.perf_counter() - start
    assert one.returncode == 0, one.stderr[-3000:]

    start = time.perf_counter()
    two = run(
        [
            "tools/dist_train.sh",
            str(config),
            "2",
            "--work-dir",
            str(tmp_path / "two"),
            *small_options(data_root, 4, 2),
        ],
        env={"PORT": str(free_port())},
    )
    two_seconds = time.perf_counter() - start
    assert two.returncode == 0, two.stderr[-3000:]
    log = two.stdout + two.stderr
    assert "Distributed training: True" in log and "GPU number: 2" in log

    single, double = logged_losses(tmp_path / "one"), logged_losses(tmp_path / "two")
    assert sorted(single) == sorted(double) == [1, 2, 3, 4], (single, double)
    with capsys.disabled():
        print(f"\n1 process x batch 4: {one_seconds:.1f} s; 2 processes x batch 2: {two_seconds:.1f} s")
        for step in sorted(single):
            print(f"iter {step}: loss 1x4 {single[step]:.4f}  2x2 {double[step]:.4f}")
    for step in single:
        # BatchNorm statistics over 2 instead of 4 images are the only difference.
        assert double[step] == pytest.approx(single[step], rel=0.01), (step, single, double)

    resumed = run(
        [
            "tools/dist_train.sh",
            str(config),
            "2",
            "--work-dir",
            str(tmp_path / "two"),
            "--resume",
            *small_options(data_root, 6, 2),
        ],
        env={"PORT": str(free_port())},
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed epoch: 0, iter: 4" in resumed.stdout + resumed.stderr
    assert (tmp_path / "two" / "iter_6.pth").is_file()
