"""Config preparation shared by ``tools/train.py`` and ``tools/test.py``.

The tools follow mmseg's own (same flags, same work-dir rules); this module adds the checks and fixes
that this stack needs, in one place.
"""

from __future__ import annotations

import logging
import os.path as osp
from typing import Any

from mmengine.config import Config
from mmengine.dist import get_rank
from mmengine.logging import print_log

from .atomic import remove_stale_temporaries
from .checkpoint import register_checkpoint_io
from .config_check import (
    check_custom_imports,
    check_data_roots,
    check_nested_keys,
    check_num_classes,
    warn_unread_keys,
)
from .distributed import prepare_cpu_distributed

# mmseg's loaders and the plugin's subclasses that name the file on a bad image or label (same arguments).
_CHECKED_LOADERS = {
    "LoadImageFromFile": "CheckedLoadImageFromFile",
    "LoadAnnotations": "CheckedLoadAnnotations",
}


def _use_checked_loaders(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") in _CHECKED_LOADERS:
            node["type"] = _CHECKED_LOADERS[node["type"]]
        for child in node.values():
            _use_checked_loaders(child)
    elif isinstance(node, list):
        for child in node:
            _use_checked_loaders(child)


def _add_hook(cfg: Config, hook_type: str) -> None:
    hooks = list(cfg.get("custom_hooks") or [])
    if not any(isinstance(h, dict) and h.get("type") == hook_type for h in hooks):
        hooks.append(dict(type=hook_type))
    cfg.custom_hooks = hooks


def load_tool_config(
    config: str,
    cfg_options: dict | None,
    launcher: str,
    work_dir: str | None,
    for_training: bool = True,
) -> Config:
    """Load a config the way mmseg's tools do, then check it before anything expensive starts.

    On top of mmseg's tools: data loaders use the checked loaders
    (:class:`~mmseg_ranet.datasets.transforms.CheckedLoadAnnotations`), distributed runs work without
    CUDA (:func:`~mmseg_ranet.utils.distributed.prepare_cpu_distributed`), misspelled top-level keys and
    heads with more outputs than classes are reported, misspelled nested keys with a known schema are
    errors, and training runs get
    :class:`~mmseg_ranet.utils.rng_state.RNGStateHook` (exact resume) and, when distributed,
    :class:`~mmseg_ranet.utils.distributed.MeanLogVarsHook`. Temporary files that an interrupted
    checkpoint write left in the work dir more than an hour ago are removed.

    Args:
        config: Path to the config file.
        cfg_options: ``--cfg-options`` overrides, merged into the config.
        launcher: ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        work_dir: ``--work-dir``; otherwise the config's, otherwise ``./work_dirs/<config name>``.
        for_training: ``tools/train.py`` (True) or ``tools/test.py`` (False).

    Raises:
        FileNotFoundError: the config or a dataloader's ``data_root`` does not exist.
        ValueError: a nested key with a known schema is misspelled (``model.test_cfg.mod``); the config
            uses the plugin without ``custom_imports``; a head has fewer classes than its dataset; a
            launcher other than ``pytorch`` without CUDA.
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
    # First: a misspelled key often explains the errors below (a data_root set under the wrong name).
    warn_unread_keys(cfg, cfg_options)
    check_nested_keys(cfg, cfg_options)
    check_custom_imports(cfg)
    check_data_roots(cfg)
    loaders = ("train_dataloader", "val_dataloader") if for_training else ("test_dataloader",)
    check_num_classes(cfg, loaders)
    for key in ("train_dataloader", "val_dataloader", "test_dataloader", "tta_pipeline"):
        _use_checked_loaders(cfg.get(key))
    register_checkpoint_io()
    prepare_cpu_distributed(cfg, launcher)
    if for_training:
        _add_hook(cfg, "RNGStateHook")
        if launcher != "none":
            _add_hook(cfg, "MeanLogVarsHook")
        if get_rank() == 0:
            for path in remove_stale_temporaries(cfg.work_dir):
                print_log(
                    f"removed {path}, left by an interrupted checkpoint write",
                    logger="current",
                    level=logging.WARNING,
                )
    return cfg
