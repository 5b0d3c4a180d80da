"""Train a segmentor; the same command line as mmseg's ``tools/train.py``.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...]
    bash tools/dist_train.sh CONFIG NUM_PROCS [...]      # distributed, through torchrun

On top of mmseg's tool it checks the config early (missing data roots, plugin modules used without
``custom_imports``, heads with fewer outputs than the dataset has classes, misspelled top-level keys as
warnings, misspelled nested keys of known schemas such as ``model.test_cfg.mod`` or
``default_hooks.checkpoint.intervall`` as errors),
loads images and labels with loaders that name a bad file, loads mmengine checkpoints under torch's
weights-only default (see README, "Trusting checkpoints") and names a corrupt one, and runs distributed
without CUDA (gloo, CPU model wrapper, SyncBN as BN; logged losses are the mean over processes).

``--amp`` trains in mixed precision: fp16 with dynamic loss scaling (mmengine's ``AmpOptimWrapper``) on
CUDA, as mmseg's tool does, and bf16 autocast (``AutocastOptimWrapper``) on a machine without CUDA.

Resume is exact: ``--resume`` restores the model, optimizer, schedulers and iteration (mmengine), replays the
sampler up to that iteration (mmengine's ``IterBasedTrainLoop``), and restores the random number
generators of the main process saved in the checkpoint (``RNGStateHook``), so 4 iterations + resume to 6
give the same losses as 6 straight iterations. It stays exact only when the resumed run uses the same
number of processes and data workers, ``randomness.seed`` and data as the interrupted one.
"""

import argparse
import logging
import os
import sys

from mmengine.config import DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

from mmseg_ranet.utils.checkpoint import CorruptCheckpointError
from mmseg_ranet.utils.cpu_numerics import apply_cpu_numerics
from mmseg_ranet.utils.launch import load_tool_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Train a segmentor")
    parser.add_argument("config", help="train config file path")
    parser.add_argument("--work-dir", help="the dir to save logs and models")
    parser.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        default=None,
        help="resume from the latest checkpoint in the work_dir, or from the given checkpoint file",
    )
    parser.add_argument(
        "--amp",
        action="store_true",
        default=False,
        help="enable automatic-mixed-precision training (fp16 on CUDA, bf16 on the CPU)",
    )
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        help="override settings in the config, key=value pairs (e.g. train_cfg.max_iters=100)",
    )
    parser.add_argument(
        "--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none", help="job launcher"
    )
    # torch.distributed launchers pass --local-rank (torch >= 2.0) or --local_rank.
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0)
    args = parser.parse_args(argv)
    if "LOCAL_RANK" not in os.environ:
        os.environ["LOCAL_RANK"] = str(args.local_rank)
    return args


def enable_amp(cfg) -> None:
    """Switch ``cfg.optim_wrapper`` to mixed precision, as ``--amp`` asks.

    With CUDA: mmengine's ``AmpOptimWrapper`` (fp16 autocast, dynamic loss scaling), as mmseg's tool does.
    Without: ``AutocastOptimWrapper`` (bf16 autocast on the CPU, no loss scaling: bf16 has fp32's range).
    """
    import torch

    amp_types = ("AmpOptimWrapper", "AutocastOptimWrapper")
    if cfg.optim_wrapper.type in amp_types:
        print_log("AMP training is already enabled in your config.", logger="current", level=logging.WARNING)
        return
    if cfg.optim_wrapper.type != "OptimWrapper":
        raise ValueError(f"--amp needs optim_wrapper.type='OptimWrapper', got {cfg.optim_wrapper.type}")
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = "AmpOptimWrapper"
        cfg.optim_wrapper.loss_scale = "dynamic"
    else:
        cfg.optim_wrapper.type = "AutocastOptimWrapper"
        cfg.optim_wrapper.dtype = "bfloat16"
        cfg.optim_wrapper.device_type = "cpu"
        print_log(
            "--amp without CUDA: bfloat16 autocast on the CPU (AutocastOptimWrapper, no loss scaling)",
            logger="current",
        )


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = load_tool_config(args.config, args.cfg_options, args.launcher, args.work_dir)
        apply_cpu_numerics(cfg)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"tools/train.py: error: {err}")

    if args.amp:
        try:
            enable_amp(cfg)
        except ValueError as err:
            sys.exit(f"tools/train.py: error: {err}")

    if args.resume == "auto":
        cfg.resume = True
    elif args.resume is not None:
        if not os.path.isfile(args.resume):
            sys.exit(f"tools/train.py: error: --resume checkpoint {args.resume!r} does not exist")
        cfg.resume = True
        cfg.load_from = args.resume

    runner = Runner.from_cfg(cfg) if "runner_type" not in cfg else RUNNERS.build(cfg)
    try:
        runner.train()
    except CorruptCheckpointError as err:
        sys.exit(f"tools/train.py: error: {err}")


if __name__ == "__main__":
    main()
