"""The demo config's training loss under ``tools/train.py --amp`` (bf16 autocast on the CPU) beside fp32.

    python benchmarks/amp_loss_curve.py               # 20 iterations of the demo config, seed 0
    python benchmarks/amp_loss_curve.py --iters 50 --seed 1

Generates a small dataset with the project's generator (``mmseg_ranet.datasets.generate``, the demo's
scene settings: 128x128 context scenes), then runs ``tools/train.py`` on the demo config
(``configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128.py``, batch 8, its own schedule and seed) twice,
each in a fresh process with one thread: once in fp32 and once with ``--amp``, on the same data with the
same seed, logging the loss of every iteration. The two curves are read from mmengine's
``vis_data/scalars.json`` and written as a table (iteration, fp32 loss, bf16 loss, difference) with the
largest absolute difference to ``benchmarks/results/amp_loss_curve.{md,json}`` and as a plot to
``amp_loss_curve.png``. Both runs validate once at the end; their val mIoU is reported too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, add_out_dir, machine_description, markdown_table, write_results  # noqa: E402
from benchmarks.seg_runs import latest_scalars, loader_options, logged_losses, parse_scalars  # noqa: E402

DEMO = ROOT / "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128.py"
NAME = "amp_loss_curve"
#: What ``tools/train.py --amp`` logs on a machine without CUDA.
CPU_AMP_LINE = "bfloat16 autocast on the CPU"


def compare_curves(fp32: dict[int, float], bf16: dict[int, float]) -> dict:
    """The per-iteration rows (iteration, fp32, bf16, bf16 - fp32) and the largest absolute difference.

    Raises:
        ValueError: if either curve is empty or the two curves logged different iterations.
    """
    if not fp32 or not bf16:
        raise ValueError(f"empty loss curve: fp32 has {len(fp32)} iterations, bf16 {len(bf16)}")
    if sorted(fp32) != sorted(bf16):
        only_fp32 = sorted(set(fp32) - set(bf16))
        only_bf16 = sorted(set(bf16) - set(fp32))
        raise ValueError(
            f"the curves logged different iterations: only fp32 {only_fp32}, only bf16 {only_bf16}"
        )
    rows = [
        {"iter": step, "fp32": fp32[step], "bf16": bf16[step], "diff": bf16[step] - fp32[step]}
        for step in sorted(fp32)
    ]
    worst = max(rows, key=lambda row: abs(row["diff"]))
    return {"rows": rows, "max_abs_diff": abs(worst["diff"]), "max_abs_diff_iter": worst["iter"]}


def train_options(data_root: Path, iters: int, seed: int) -> list[str]:
    """``--cfg-options`` of one run: the generated data, ``iters`` iterations, the loss of every iteration."""
    return [
        "--cfg-options",
        *loader_options(data_root),
        f"randomness.seed={seed}",
        f"train_cfg.max_iters={iters}",
        f"train_cfg.val_interval={iters}",
        "default_hooks.logger.interval=1",
        "log_processor.window_size=1",
        f"default_hooks.checkpoint.interval={iters}",
        "default_hooks.checkpoint.max_keep_ckpts=1",
    ]


def train(config: Path, work_dir: Path, options: list[str], amp: bool, timeout_s: float) -> dict:
    """Run ``tools/train.py`` in a fresh process (one thread); its loss curve, val mIoU and wall time."""
    if work_dir.exists():
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True)
    command = [sys.executable, "tools/train.py", str(config), "--work-dir", str(work_dir)]
    command += ["--amp"] if amp else []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    start = time.perf_counter()
    process = subprocess.run(
        command + options, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
    )
    wall = time.perf_counter() - start
    log = process.stdout + process.stderr
    (work_dir / "train.log").write_text(log)
    label = "--amp" if amp else "fp32"
    if process.returncode != 0:
        raise RuntimeError(f"tools/train.py ({label}) failed with code {process.returncode}:\n{log[-3000:]}")
    if amp and CPU_AMP_LINE not in log:
        raise RuntimeError(
            f"tools/train.py --amp did not report {CPU_AMP_LINE!r}; see {work_dir / 'train.log'}"
        )
    scalars = latest_scalars(work_dir)
    if scalars is None:
        raise RuntimeError(f"tools/train.py ({label}) wrote no vis_data/scalars.json under {work_dir}")
    parsed = parse_scalars(scalars)
    return {
        "losses": logged_losses(work_dir),
        "mIoU": parsed["mIoU"],
        "iter_time_s": parsed["iter_time_s"],
        "wall_s": round(wall, 1),
    }


def plot(rows: list[dict], path: Path, title: str) -> None:
    """Both loss curves (top) and their difference (bottom), against the iteration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    steps = [row["iter"] for row in rows]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(6, 4.8), sharex=True, gridspec_kw={"height_ratios": [3, 1.4]}
    )
    top.plot(steps, [row["fp32"] for row in rows], marker="o", markersize=3, label="fp32")
    top.plot(
        steps, [row["bf16"] for row in rows], marker="x", markersize=4, linestyle="--", label="--amp (bf16)"
    )
    top.set_ylabel("training loss")
    top.set_title(title, fontsize=9)
    top.legend()
    bottom.axhline(0.0, color="grey", linewidth=0.8)
    bottom.plot(steps, [row["diff"] for row in rows], marker="o", markersize=3, color="C3")
    bottom.set_ylabel("bf16 - fp32")
    bottom.set_xlabel("iteration")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEMO, help="training config (default: the demo)")
    parser.add_argument("--iters", type=int, default=20, help="training iterations of each run (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="randomness.seed of both runs (default 0)")
    parser.add_argument("--num-train", type=int, default=64, help="generated training images (default 64)")
    parser.add_argument("--num-val", type=int, default=16, help="generated validation images (default 16)")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=ROOT / "work_dirs" / NAME,
        help="data and the two runs' work dirs (default work_dirs/amp_loss_curve)",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per run (default 3600)")
    add_out_dir(parser)
    args = parser.parse_args(argv)
    if args.iters < 1:
        parser.error(f"--iters must be >= 1, got {args.iters}")
    if not args.config.is_file():
        parser.error(f"--config {args.config} is not a file")

    from mmseg_ranet.datasets.generate import SceneConfig, generate_dataset

    machine = {**machine_description(), "threads": 1}  # each training runs with OMP_NUM_THREADS=1
    data_root = generate_dataset(args.work_dir / "data", args.num_train, args.num_val, SceneConfig())
    options = train_options(data_root, args.iters, args.seed)
    runs = {}
    for label, amp in (("fp32", False), ("bf16", True)):
        print(f"# {label}: tools/train.py {'--amp ' if amp else ''}for {args.iters} iterations", flush=True)
        runs[label] = train(args.config, args.work_dir / label, options, amp, args.timeout)
        print(f"  {runs[label]['wall_s']} s, val mIoU {runs[label]['mIoU']:.2f}", flush=True)
    comparison = compare_curves(runs["fp32"]["losses"], runs["bf16"]["losses"])

    config = (
        args.config.resolve().relative_to(ROOT) if args.config.resolve().is_relative_to(ROOT) else args.config
    )
    table = markdown_table(
        ["iteration", "fp32 loss", "bf16 loss (--amp)", "bf16 - fp32"],
        [
            [row["iter"], f"{row['fp32']:.4f}", f"{row['bf16']:.4f}", f"{row['diff']:+.4f}"]
            for row in comparison["rows"]
        ],
    )
    summary = markdown_table(
        ["run", "first loss", "last loss", "val mIoU", "s / iteration", "wall s"],
        [
            [
                label,
                f"{comparison['rows'][0][label]:.4f}",
                f"{comparison['rows'][-1][label]:.4f}",
                f"{runs[label]['mIoU']:.2f}",
                f"{runs[label]['iter_time_s']:.2f}",
                f"{runs[label]['wall_s']:.0f}",
            ]
            for label in ("fp32", "bf16")
        ],
    )
    command = " ".join(["python benchmarks/amp_loss_curve.py", *(sys.argv[1:] if argv is None else argv)])
    markdown = (
        f"## Training loss, fp32 and `tools/train.py --amp` (bf16 autocast on the CPU)\n\n"
        f"`{config}`, {args.iters} iterations (the config's batch and schedule), randomness.seed={args.seed}, the same generated data "
        f"({args.num_train} training and {args.num_val} validation 128x128 images), one thread per run, the loss "
        f"of every iteration (logger interval 1, window 1). Made by `{command}`.\n\n"
        f"{table}\n\n"
        f"Largest absolute difference: {comparison['max_abs_diff']:.4f} (iteration "
        f"{comparison['max_abs_diff_iter']}).\n\n{summary}\n\n"
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['threads']} threads, torch "
        f"{machine['torch']}, load average {machine['load_average_at_start']} at start, {machine['date_utc']}. "
        "One run of each, one after the other, on a shared machine: the times are not a speed comparison."
    )
    payload = {
        "machine": machine,
        "command": command,
        "config": str(config),
        "iters": args.iters,
        "seed": args.seed,
        "num_train": args.num_train,
        "num_val": args.num_val,
        **comparison,
        "runs": {label: {k: v for k, v in run.items() if k != "losses"} for label, run in runs.items()},
    }
    print(markdown)
    md_path, _ = write_results(NAME, markdown, payload, args.out_dir)
    plot(
        comparison["rows"],
        md_path.with_suffix(".png"),
        f"{Path(str(config)).name}, seed {args.seed}: max |bf16 - fp32| {comparison['max_abs_diff']:.4f}",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
