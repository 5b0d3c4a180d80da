"""Distributed training and testing without CUDA: gloo, CPU model wrapping, BatchNorm, logged losses.

mmengine's launcher cannot start a CPU-only run: ``_init_dist_pytorch`` calls ``torch.cuda.set_device``
(``AttributeError: module 'torch._C' has no attribute '_cuda_setDevice'`` on a CPU build of torch), and the
Runner wraps the model in ``DistributedDataParallel(device_ids=[LOCAL_RANK])``, which DDP refuses for a
CPU module. The Runner only initialises the process group when none exists, so
:func:`prepare_cpu_distributed` starts it with gloo first and sets the wrapper's ``device_ids`` to ``None``.

``SyncBN`` (mmseg's real-dataset configs) is refused by torch on CPU tensors and no gloo-capable
synchronised BatchNorm exists, so without CUDA it becomes ``BN`` with a warning: each process then
normalises with the statistics of its own part of the batch.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.dist import all_reduce_dict, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS


def _replace_sync_bn(node: Any) -> int:
    count = 0
    if isinstance(node, dict):
        if node.get("type") in ("SyncBN", "MMSyncBN"):
            node["type"] = "BN"
            count += 1
        for child in node.values():
            count += _replace_sync_bn(child)
    elif isinstance(node, (list, tuple)):
        for child in node:
            count += _replace_sync_bn(child)
    return count


def prepare_cpu_distributed(cfg: Config, launcher: str) -> bool:
    """Make a distributed run work without CUDA; a no-op with CUDA or ``launcher='none'``.

    Args:
        cfg: The run's config; changed in place (backend, model wrapper, norm layers).
        launcher: ``--launcher`` of the tool.

    Returns:
        True when the CPU set-up was applied.

    Raises:
        ValueError: a launcher other than ``pytorch`` without CUDA (slurm and MPI need their own set-up).
    """
    if launcher == "none" or torch.cuda.is_available():
        return False
    if launcher != "pytorch":
        raise ValueError(
            f"--launcher {launcher} needs CUDA; without it, start distributed runs with --launcher pytorch "
            "(bash tools/dist_train.sh CONFIG NUM_PROCS)"
        )
    env_cfg = cfg.setdefault("env_cfg", {})
    dist_cfg = dict(env_cfg.get("dist_cfg") or {})
    if dist_cfg.get("backend", "gloo") != "gloo":
        print_log(
            f"no CUDA device: using the gloo backend instead of {dist_cfg['backend']}",
            logger="current",
            level=logging.WARNING,
        )
    dist_cfg["backend"] = "gloo"
    env_cfg["dist_cfg"] = dist_cfg
    if not torch_dist.is_initialized():
        # The Runner skips its own initialisation (and its CUDA call) when a process group exists.
        torch_dist.init_process_group(**dist_cfg)
    wrapper = cfg.get("model_wrapper_cfg") or dict(
        type="MMDistributedDataParallel",
        broadcast_buffers=False,
        find_unused_parameters=cfg.get("find_unused_parameters", False),
    )
    wrapper["device_ids"] = None
    cfg.model_wrapper_cfg = wrapper
    replaced = _replace_sync_bn(cfg.get("model"))
    if cfg.get("sync_bn") is not None:
        cfg.sync_bn = None
        replaced += 1
    if replaced:
        print_log(
            "no CUDA device: SyncBN layers become BN (torch's SyncBatchNorm needs a GPU); each process "
            "normalises with the statistics of its own part of the batch",
            logger="current",
            level=logging.WARNING,
        )
    return True


@HOOKS.register_module()
class MeanLogVarsHook(Hook):
    """Log the mean of the loss terms over all processes instead of rank 0's own.

    mmengine logs what rank 0's ``train_step`` returns, the loss of rank 0's part of the batch only. The
    gradients are averaged over processes, so the mean is the loss that was optimised, and the number to
    compare with a one-process run of the same total batch. ``tools/train.py`` adds it to distributed runs.
    """

    # Before RuntimeInfoHook (VERY_HIGH) copies the outputs into the message hub.
    priority = "HIGHEST"

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs: dict | None = None) -> None:
        if not outputs or get_world_size() == 1:
            return
        tensors = {
            key: torch.as_tensor(value, dtype=torch.float64).detach().clone()
            for key, value in outputs.items()
            if isinstance(value, (torch.Tensor, float, int)) and torch.as_tensor(value).numel() == 1
        }
        all_reduce_dict(tensors, op="mean")
        for key, value in tensors.items():
            outputs[key] = value.to(torch.float32)
