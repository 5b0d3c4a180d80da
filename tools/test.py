"""Test (and evaluate) a segmentor; the same command line as mmseg's ``tools/test.py``.

python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out DIR] [--show-dir DIR] [--tta]
"""

import argparse
import os
import sys

from mmengine.config import DictAction
from mmengine.runner import Runner

from mmseg_ranet.evaluation import format_region_quality
from mmseg_ranet.utils.checkpoint import CorruptCheckpointError
from mmseg_ranet.utils.cpu_numerics import apply_cpu_numerics
from mmseg_ranet.utils.launch import load_tool_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="MMSeg test (and eval) a model")
    parser.add_argument("config", help="test config file path")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument("--work-dir", help="directory where the evaluation metrics are dumped as json")
    parser.add_argument("--out", type=str, help="directory to save output predictions for offline evaluation")
    parser.add_argument("--show", action="store_true", help="show prediction results")
    parser.add_argument(
        "--show-dir", help="directory where painted images are saved (under work_dir/timestamp)"
    )
    parser.add_argument("--wait-time", type=float, default=2, help="the interval of show (s)")
    parser.add_argument(
        "--cfg-options", nargs="+", action=DictAction, help="override settings in the config, key=value pairs"
    )
    parser.add_argument(
        "--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none", help="job launcher"
    )
    parser.add_argument("--tta", action="store_true", help="test time augmentation")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0)
    args = parser.parse_args(argv)
    if "LOCAL_RANK" not in os.environ:
        os.environ["LOCAL_RANK"] = str(args.local_rank)
    return args


def trigger_visualization_hook(cfg, args):
    default_hooks = cfg.default_hooks
    if "visualization" not in default_hooks:
        raise RuntimeError(
            "--show/--show-dir need a VisualizationHook in default_hooks: "
            "visualization=dict(type='SegVisualizationHook')"
        )
    hook = default_hooks["visualization"]
    hook["draw"] = True
    if args.show:
        hook["show"] = True
        hook["wait_time"] = args.wait_time
    if args.show_dir:
        cfg.visualizer["save_dir"] = args.show_dir
    return cfg


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isfile(args.checkpoint):
        sys.exit(f"tools/test.py: error: checkpoint {args.checkpoint!r} does not exist")
    try:
        cfg = load_tool_config(
            args.config, args.cfg_options, args.launcher, args.work_dir, for_training=False
        )
        apply_cpu_numerics(cfg)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"tools/test.py: error: {err}")
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.tta:
        if "tta_pipeline" not in cfg or "tta_model" not in cfg:
            sys.exit("tools/test.py: error: --tta needs tta_pipeline and tta_model in the config")
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out is not None:
        # RegionQualityMetric writes no prediction files, so it takes no output_dir.
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
        for evaluator in evaluators:
            if evaluator["type"] != "RegionQualityMetric":
                evaluator["output_dir"] = args.out
                evaluator["keep_results"] = True
    runner = Runner.from_cfg(cfg)
    try:
        metrics = runner.test()
    except CorruptCheckpointError as err:
        sys.exit(f"tools/test.py: error: {err}")
    region_lines = format_region_quality(metrics or {})
    if region_lines:
        print(f"Region quality (RegionQualityMetric):\n{region_lines}")


if __name__ == "__main__":
    main()
