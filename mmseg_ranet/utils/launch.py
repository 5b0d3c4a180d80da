"""Config preparation shared by ``tools/train.py`` and ``tools/test.py``.

The tools follow mmseg's own (same flags, same work-dir rules); this module adds the checks and fixes
that this stack needs, in one place.
"""

from __future__ import annotations

import logging
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from .checkpoint import register_checkpoint_io
from .config_check import check_custom_imports, check_data_roots


def load_tool_config(config: str, cfg_options: dict | None, launcher: str, work_dir: str | None) -> Config:
    """Load a config the way mmseg's tools do, then check it before anything expensive starts.

    Args:
        config: Path to the config file.
        cfg_options: ``--cfg-options`` overrides, merged into the config.
        launcher: ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        work_dir: ``--work-dir``; otherwise the config's, otherwise ``./work_dirs/<config name>``.

    Raises:
        FileNotFoundError: the config or a dataloader's ``data_root`` does not exist.
        ValueError: the config uses the plugin without ``custom_imports``.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f"config file {config!r} does not exist")
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    # work_dir priority: CLI > config > config file name (as in mmseg's tools).
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get("work_dir", None) is None:
        cfg.work_dir = osp.join("./work_dirs", osp.splitext(osp.basename(config))[0])
    check_custom_imports(cfg)
    check_data_roots(cfg)
    register_checkpoint_io()
    # mmseg's default runtime asks for NCCL, which needs CUDA; CPU-only distributed runs need gloo.
    dist_cfg = cfg.get("env_cfg", {}).get("dist_cfg", {})
    if launcher != "none" and dist_cfg.get("backend") == "nccl" and not torch.cuda.is_available():
        print_log(
            "no CUDA device: using the gloo backend instead of nccl", logger="current", level=logging.WARNING
        )
        cfg.env_cfg.dist_cfg.backend = "gloo"
    return cfg
