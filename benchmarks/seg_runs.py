"""The runs of ``benchmarks/seg_experiments.py``: the schedules, one training (``Run``) in a fresh
``tools/train.py`` process, reading mmengine's scalar log back, the generated datasets, and the region
count of a trained RANet (``python benchmarks/seg_runs.py regions CONFIG CHECKPOINT DATA_ROOT``, run by
:func:`count_regions` in its own process)."""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT  # noqa: E402

#: Generated datasets, one per cue radius (``--data-dir``; data/ is not tracked by git).
DATA_DIR = ROOT / "data" / "seg_experiments"


@dataclass(frozen=True)
class Schedule:
    """The experiment schedule, applied to every config through ``--cfg-options``."""

    name: str
    iters: int
    batch_size: int
    warmup: int
    seeds: tuple[int, ...]
    cue_radii: tuple[int, ...]
    #: Validate every this many iterations (the val mIoU curve); ``None``: once, at the end.
    val_interval: int | None = None

    def __post_init__(self):
        if self.val_interval is not None and not 0 < self.val_interval <= self.iters:
            raise ValueError(
                f"Schedule {self.name!r}: val_interval must be in 1..iters ({self.iters}), got {self.val_interval}"
            )

    def cfg_options(self) -> list[str]:
        return [
            f"train_dataloader.batch_size={self.batch_size}",
            f"train_cfg.max_iters={self.iters}",
            f"train_cfg.val_interval={self.val_interval or self.iters}",
            # schedule_cpu_demo.py: LinearLR warm-up then PolyLR to the end, scaled to this length.
            f"param_scheduler.0.end={self.warmup}",
            f"param_scheduler.1.begin={self.warmup}",
            f"param_scheduler.1.end={self.iters}",
            f"default_hooks.logger.interval={max(1, min(50, self.iters // 4))}",
            f"default_hooks.checkpoint.interval={self.iters}",
            "default_hooks.checkpoint.max_keep_ckpts=1",
            "train_dataloader.persistent_workers=False",
            "val_dataloader.persistent_workers=False",
            "test_dataloader.persistent_workers=False",
        ]


# 300 iterations of batch 4 (1200 samples, a quarter of the 600 x 8 demo) with the demo's AdamW and a
# warm-up scaled to the length: about 70 s per run with one thread on an idle core.
DEFAULT = Schedule("default", iters=300, batch_size=4, warmup=25, seeds=(0, 1, 2), cue_radii=(2, 3, 5, 8))
QUICK = Schedule("quick", iters=30, batch_size=2, warmup=5, seeds=(0,), cue_radii=(2, 5))
# The demo configs' own schedule (600 x 8, warm-up 50): four times the samples of DEFAULT (see the module
# docstring for its cost), validated every 100 iterations so each run records its val mIoU curve.
LONG = Schedule(
    "long", iters=600, batch_size=8, warmup=50, seeds=(0, 1, 2), cue_radii=(2, 3, 5, 8), val_interval=100
)
# Four times LONG (2400 x 8, warm-up scaled to 200 as ``--iters`` scales it), one seed: whether the models
# have levelled off after 600 x 8. About 15-17 min per run on a free core.
LONG4X = Schedule(
    "long4x", iters=2400, batch_size=8, warmup=200, seeds=(0,), cue_radii=(3,), val_interval=100
)
SCHEDULES = {schedule.name: schedule for schedule in (DEFAULT, QUICK, LONG, LONG4X)}


@dataclass
class Run:
    """One training: a config on one dataset with one seed."""

    label: str
    config: str
    cue_radius: int
    seed: int
    schedule: Schedule
    work_root: Path
    data_dir: Path = DATA_DIR
    extra_options: list[str] = field(default_factory=list)
    scene: str = "context"

    @property
    def name(self) -> str:
        # Context runs keep their historical names, so their stored results stay valid.
        data = f"cue{self.cue_radius}" if self.scene == "context" else f"{self.scene}-cue{self.cue_radius}"
        return f"{Path(self.config).stem}/{data}/seed{self.seed}"

    @property
    def data_root(self) -> Path:
        return dataset_root(self.data_dir, self.cue_radius, self.scene)

    @property
    def work_dir(self) -> Path:
        return self.work_root / "runs" / self.name

    @property
    def result_path(self) -> Path:
        return self.work_dir / "result.json"

    @property
    def is_ranet(self) -> bool:
        return "ranet" in Path(self.config).stem


# ----------------------------------------------------------------------------------------------------
# Reading mmengine's outputs


def loader_options(data_root: Path) -> list[str]:
    """``--cfg-options`` entries that point the train, val and test loaders at ``data_root``, in-process."""
    options = []
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        options += [
            f"{loader}.dataset.data_root={data_root}",
            f"{loader}.num_workers=0",
            f"{loader}.persistent_workers=False",
        ]
    return options


def latest_scalars(work_dir: Path) -> Path | None:
    """The ``vis_data/scalars.json`` of the newest timestamped run directory under ``work_dir``."""
    candidates = sorted(work_dir.glob("*/vis_data/scalars.json"))
    return candidates[-1] if candidates else None


def logged_losses(work_dir: Path) -> dict[int, float]:
    """``{iteration: loss}`` from every ``vis_data/scalars.json`` under ``work_dir`` (later runs win).

    The logged loss is the mean over the logger's window: log every iteration with a window of 1
    (``default_hooks.logger.interval=1``, ``log_processor.window_size=1``) for the loss of each iteration.
    """
    losses: dict[int, float] = {}
    for path in sorted(Path(work_dir).glob("*/vis_data/scalars.json")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            if "loss" in record:
                losses[int(record["step"])] = float(record["loss"])
    return losses


def parse_scalars(path: Path) -> dict:
    """Val mIoU (last validation), its step, every validation's (step, mIoU) (``curve``), and the mean
    train iteration time from a scalars log."""
    miou, step, iter_times, region, curve = None, None, [], {}, []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        record = json.loads(line)
        if "mIoU" in record:
            miou, step = float(record["mIoU"]), record.get("step")
            curve.append([step, miou])
            # RegionQualityMetric's keys (RANet configs with RegionEncoderDecoder), from the same validation.
            region = {k[len("region/") :]: float(v) for k, v in record.items() if k.startswith("region/")}
        elif "loss" in record and "time" in record:
            iter_times.append(float(record["time"]))
    if miou is None:
        raise ValueError(f"no mIoU in {path}")
    result = {
        "mIoU": miou,
        "step": step,
        "iter_time_s": statistics.mean(iter_times) if iter_times else None,
        "curve": curve,
    }
    if region:
        result["region_quality"] = region
    return result


# ----------------------------------------------------------------------------------------------------
# Data


def dataset_root(data_dir: Path, cue_radius: int, scene: str = "context") -> Path:
    return data_dir / (f"cue{cue_radius}" if scene == "context" else f"{scene}_cue{cue_radius}")


def ensure_dataset(data_dir: Path, cue_radius: int, scene: str = "context") -> Path:
    """Generate the dataset of one scene kind and cue radius with the project's generator (its defaults
    for that scene kind otherwise)."""
    root = dataset_root(data_dir, cue_radius, scene)
    if not (root / "meta.json").exists():
        scene_option = [] if scene == "context" else ["--scene", scene]
        subprocess.run(
            [sys.executable, "-m", "mmseg_ranet.datasets.generate", "--out", str(root)]
            + ["--cue-radius", str(cue_radius)]
            + scene_option,
            cwd=ROOT,
            env=_env(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return root


def dataset_stats(data_dir: Path, cue_radius: int) -> dict:
    meta = json.loads((dataset_root(data_dir, cue_radius) / "meta.json").read_text())
    val = meta["stats"]["val"]
    return {
        "cue_radius": cue_radius,
        "mean_cue_distance_px": round(val["mean_cue_distance_px"], 2),
        "mean_cue_distance_stride8": round(val["mean_cue_distance_stride8"], 2),
    }


# ----------------------------------------------------------------------------------------------------
# Running


def _env() -> dict:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    env["MKL_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def train_command(run: Run) -> list[str]:
    data_root = run.data_root.resolve()
    options = run.schedule.cfg_options() + [
        f"randomness.seed={run.seed}",
        f"train_dataloader.dataset.data_root={data_root}",
        f"val_dataloader.dataset.data_root={data_root}",
        f"test_dataloader.dataset.data_root={data_root}",
        *run.extra_options,
    ]
    return [
        sys.executable,
        str(ROOT / "tools" / "train.py"),
        str(ROOT / run.config),
        "--work-dir",
        str(run.work_dir),
        "--cfg-options",
        *options,
    ]


_PRINT_LOCK = threading.Lock()


def log(message: str) -> None:
    with _PRINT_LOCK:
        print(message, flush=True)


def execute(run: Run, force: bool = False, keep_checkpoints: bool = False) -> dict:
    """Train ``run`` unless its result file exists; return its result dict."""
    if run.result_path.exists() and not force:
        result = json.loads(run.result_path.read_text())
        scalars = latest_scalars(run.work_dir)
        if "region_quality" not in result and scalars is not None:
            # Results stored before the region columns existed: read them from the same scalar log.
            result.update({k: v for k, v in parse_scalars(scalars).items() if k == "region_quality"})
        log(f"[skip] {run.name}: mIoU {result['mIoU']:.2f} (result exists)")
        return result
    if run.work_dir.exists():
        shutil.rmtree(run.work_dir)
    run.work_dir.mkdir(parents=True)
    log(f"[start] {run.name}")
    start = time.monotonic()
    with open(run.work_dir / "train.log", "w") as out:
        process = subprocess.run(
            train_command(run), cwd=ROOT, env=_env(), stdout=out, stderr=subprocess.STDOUT
        )
    wall = time.monotonic() - start
    scalars = latest_scalars(run.work_dir)
    if process.returncode != 0 or scalars is None:
        tail = (run.work_dir / "train.log").read_text().strip().splitlines()[-3:]
        log(f"[failed] {run.name} after {wall:.0f} s: " + " | ".join(tail))
        return {"status": "failed", "wall_s": wall}
    result = {"status": "ok", "wall_s": round(wall, 1), **parse_scalars(scalars)}
    result.update(label=run.label, config=run.config, cue_radius=run.cue_radius, seed=run.seed)
    checkpoint = run.work_dir / f"iter_{run.schedule.iters}.pth"
    if run.is_ranet and checkpoint.exists():
        result["regions"] = count_regions(run, checkpoint)
    if not keep_checkpoints:
        for path in run.work_dir.glob("*.pth"):
            path.unlink()
    run.result_path.write_text(json.dumps(result, indent=2) + "\n")
    extra = f", {result['regions']['mean']:.1f} regions/image" if "regions" in result else ""
    log(f"[done] {run.name}: mIoU {result['mIoU']:.2f}, {wall:.0f} s{extra}")
    return result


def count_regions(run: Run, checkpoint: Path) -> dict:
    """Regions the trained RANet builds on the val images (mean, min, max per image) and its W^g."""
    command = [sys.executable, str(Path(__file__).resolve()), "regions", str(ROOT / run.config)]
    command += [str(checkpoint), str(run.data_root.resolve())]
    output = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True)
    for line in reversed(output.stdout.splitlines()):
        if line.startswith("REGIONS "):
            return json.loads(line[len("REGIONS ") :])
    return {"mean": math.nan, "error": (output.stderr.strip().splitlines() or ["no output"])[-1][:200]}


def regions_worker(config: str, checkpoint: str, data_root: str) -> None:
    """Print (``REGIONS <json>``) the region counts of a trained RANet over the val images."""
    import importlib.util

    import cv2
    import torch

    spec = importlib.util.spec_from_file_location(
        "visualize_regions", ROOT / "tools" / "visualize_regions.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build_model(config, checkpoint)
    counts = []
    for path in sorted((Path(data_root) / "img_dir" / "val").glob("*.png")):
        image = cv2.imread(str(path))
        inputs = torch.from_numpy(image.transpose(2, 0, 1).copy())
        batch = model.data_preprocessor(dict(inputs=[inputs]), training=False)["inputs"]
        with torch.no_grad():
            outputs = model.decode_head.forward_regions(model.extract_feat(batch))
        counts.append(int(outputs.num_regions[0]))
        grid = int(outputs.region[0].numel())
    result = {"mean": statistics.mean(counts), "min": min(counts), "max": max(counts), "grid_pixels": grid}
    conv = getattr(model.decode_head, "decision_conv", None)
    if conv is not None:
        result["decision_weight"] = [round(float(v), 4) for v in conv.weight.flatten()[:9]]
        result["decision_bias"] = (
            [round(float(v), 4) for v in conv.bias.flatten()] if conv.bias is not None else []
        )
    print("REGIONS " + json.dumps(result), flush=True)


def run_all(
    runs: list[Run], jobs: int, force: bool, keep_checkpoints: bool, report_only: bool = False
) -> list[dict]:
    """Run (or skip) every distinct run, ``jobs`` at a time; results in the order of ``runs``.

    With ``report_only`` nothing trains: runs without a stored result count as missing in the tables.
    """
    unique: dict[str, Run] = {}
    for run in runs:
        unique.setdefault(run.name, run)
    for scene, cue in sorted({(run.scene, run.cue_radius) for run in unique.values()}):
        if not report_only:
            ensure_dataset(runs[0].data_dir, cue, scene)
    start = time.monotonic()
    todo = list(unique.values())
    done = 0

    def one(run: Run) -> dict:
        nonlocal done
        if report_only and not run.result_path.exists():
            log(f"[missing] {run.name}")
            return {"status": "missing"}
        result = execute(run, force=force, keep_checkpoints=keep_checkpoints)
        done += 1
        log(f"        {done}/{len(todo)} runs, {time.monotonic() - start:.0f} s elapsed")
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = dict(zip(unique, pool.map(one, todo)))
    return [results[run.name] for run in runs]


if __name__ == "__main__":
    if sys.argv[1:2] != ["regions"] or len(sys.argv) != 5:
        raise SystemExit("usage: python benchmarks/seg_runs.py regions CONFIG CHECKPOINT DATA_ROOT")
    regions_worker(*sys.argv[2:5])
