"""Region context versus pixel attention on the generated datasets: trainings, ablations, difficulty knob.

Every run is one training of the project's ``tools/train.py`` in a fresh process (``OMP_NUM_THREADS=1``,
``--cfg-options randomness.seed=S`` and the shared experiment schedule); val mIoU is read back from
mmengine's scalar log (``<work_dir>/<timestamp>/vis_data/scalars.json``). Nothing here trains or evaluates
by itself.

    python benchmarks/seg_experiments.py main          # 7 models x 3 seeds: FCN, PSPNet, NL, CCNet, OCRNet, RANet x2
    python benchmarks/seg_experiments.py ablations     # RANet ablation configs x 3 seeds
    python benchmarks/seg_experiments.py knob          # FCN, NL, RANet x cue radius x 3 seeds, plus the plot
    python benchmarks/seg_experiments.py all --jobs 2  # all three (about an hour on 2 cores)
    python benchmarks/seg_experiments.py all --quick   # reduced schedule and sweep, one seed (minutes)
    python benchmarks/seg_experiments.py objects       # FCN, NL, OCRNet, RANet x2 on the objects scenes
    python benchmarks/seg_experiments.py objects --schedule long   # the same near convergence

``objects`` trains on the generator's ``--scene objects`` data (touching objects of different classes that
share one texture, where pooling over the pixel's own object is needed: ``mmseg_ranet.datasets.oracles``);
``all`` stays main + ablations + knob.

Schedules (``--schedule``; ``--quick`` is ``--schedule quick``): ``default`` 300 iterations x batch 4
(models end at 30-40 mIoU on the context data, far from converged), ``quick`` 30 x 2 (a smoke run),
``long`` 600 x 8, the demo configs' own schedule (the RANet demo reaches about 82 mIoU with it on the
context data). Cost of ``long``, measured with one FCN run of 40 iterations at batch 8 on the objects data
(one thread, 2026-11-30, 2 cores at load average 11-13): 3.6 s per iteration of wall time and about 0.9 s
of CPU time. The main table's 0.19 s per iteration at batch 4 (load 2.6) puts a free core at about 0.4 s
per iteration at batch 8, so a ``long`` run takes about 5-10 min per model with a free core (600 x
0.4-0.9 s, plus under a minute of start-up and validation), RANet about a fifth more, and
``objects --schedule long`` (5 models x 3 seeds) about 1.2-2.5 h of one core; at the load measured it
would be about 36 min per run.

A run whose ``result.json`` exists is not repeated (an interrupted experiment continues where it stopped;
``--force`` reruns). Runs are shared between experiments: the RANet paper run of the main table is also the
K = 8 row of the ablations and the cue-radius-3 point of the knob sweep.

Outputs: ``benchmarks/results/seg_{main,ablations,knob,objects}[_<schedule>].{md,json}`` and
``docs/ranet_difficulty_knob[_quick].png``.
"""

from __future__ import annotations

import argparse
import dataclasses
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

from benchmarks.common import ROOT, machine_description, markdown_table, write_results  # noqa: E402

RANET = "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128.py"
ABLATION_DIR = "configs/ranet/ablations/ranet_r18-d8_1xb8-600_synthetic-128x128"
OBJECT_REGIONS = "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128_object-regions.py"
#: Generated datasets, one per cue radius (``--data-dir``; data/ is not tracked by git).
DATA_DIR = ROOT / "data" / "seg_experiments"

#: The main table: (label, config). Same backbone (ResNetV1c-18-D8, width 32), head width 128, data, crop.
MAIN_MODELS: list[tuple[str, str]] = [
    ("FCN (no context)", "configs/fcn/fcn_r18-d8_1xb8-600_synthetic-128x128.py"),
    ("PSPNet", "configs/pspnet/pspnet_r18-d8_1xb8-600_synthetic-128x128.py"),
    ("Non-local (NLHead)", "configs/nonlocal_net/nonlocal_r18-d8_1xb8-600_synthetic-128x128.py"),
    ("CCNet (CCHead)", "configs/ccnet/ccnet_r18-d8_1xb8-600_synthetic-128x128.py"),
    ("OCRNet", "configs/ocrnet/ocrnet_r18-d8_1xb8-600_synthetic-128x128.py"),
    ("RANet paper", RANET),
    ("RANet official", "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128_official.py"),
    ("RANet object regions", OBJECT_REGIONS),
    ("RANet object regions, connected components", ABLATION_DIR + "_object-regions_components.py"),
    ("RANet object regions, 1 region / image", ABLATION_DIR + "_object-regions_forced-image.py"),
    ("RANet object regions, 1 region / cell", ABLATION_DIR + "_object-regions_forced-pixel.py"),
    ("RANet object regions, GT segments (oracle)", ABLATION_DIR + "_object-regions_forced-ground-truth.py"),
]

#: The RANet ablations: (label, config). The first row is the unchanged paper variant (K = 8).
ABLATIONS: list[tuple[str, str]] = [
    ("paper variant (K = 8, masked, full JSD, learnable W^g)", RANET),
    ("no boundary term (D = 0)", ABLATION_DIR + "_no-boundary.py"),
    ("no semantic term (E = 0)", ABLATION_DIR + "_no-semantic.py"),
    ("K = 1", ABLATION_DIR + "_k1.py"),
    ("K = 4", ABLATION_DIR + "_k4.py"),
    ("K = 16", ABLATION_DIR + "_k16.py"),
    ("unmasked attentions", ABLATION_DIR + "_unmasked.py"),
    ("binary JSD (released form)", ABLATION_DIR + "_binary-jsd.py"),
    ("frozen W^g (decision_conv lr 0)", ABLATION_DIR + "_frozen-decision.py"),
]

#: The objects experiment: the same models on the generator's ``objects`` scenes.
OBJECTS_MODELS: list[tuple[str, str]] = [
    ("FCN (no context)", "configs/fcn/fcn_r18-d8_1xb8-600_synthetic-objects-128x128.py"),
    ("Non-local (NLHead)", "configs/nonlocal_net/nonlocal_r18-d8_1xb8-600_synthetic-objects-128x128.py"),
    ("OCRNet", "configs/ocrnet/ocrnet_r18-d8_1xb8-600_synthetic-objects-128x128.py"),
    ("RANet paper", "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-objects-128x128.py"),
    ("RANet official", "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-objects-128x128_official.py"),
    ("RANet object regions", OBJECT_REGIONS),
    ("RANet object regions, connected components", ABLATION_DIR + "_object-regions_components.py"),
    ("RANet object regions, 1 region / image", ABLATION_DIR + "_object-regions_forced-image.py"),
    ("RANet object regions, 1 region / cell", ABLATION_DIR + "_object-regions_forced-pixel.py"),
    ("RANet object regions, GT segments (oracle)", ABLATION_DIR + "_object-regions_forced-ground-truth.py"),
    # ---- More RANet rows go in OBJECTS_ABLATIONS: (label, any RANet config). Every run of this experiment
    # trains on the objects data whatever the config's own data_root (train_command overrides it), and its
    # run name carries the scene, so a context config listed here never reuses a context run's result.
]
#: Rows of the objects experiment only: one switch of the object-region preset at a time, on or off.
OBJECTS_ABLATIONS: list[tuple[str, str]] = [
    ("RANet object regions, no partition loss", ABLATION_DIR + "_object-regions_no-partition-loss.py"),
    ("RANet paper, boundary end points", ABLATION_DIR + "_boundary-endpoints.py"),
    ("RANet paper, W^g not trained through J", ABLATION_DIR + "_detached-decision.py"),
    (
        "RANet object regions, end points in the decision only",
        ABLATION_DIR + "_object-regions_decision-endpoints.py",
    ),
    ("RANet paper, 1 region / image", ABLATION_DIR + "_forced-image.py"),
    ("RANet paper, GT segments (oracle)", ABLATION_DIR + "_forced-ground-truth.py"),
]
OBJECTS_MODELS += OBJECTS_ABLATIONS

#: Region quality columns of the tables (``RegionQualityMetric`` keys on val -> column heading).
REGION_QUALITY_COLUMNS: dict[str, str] = {
    "regions_per_segment": "regions / GT segment",
    "asa": "ASA",
    "ue": "UE",
    "boundary_recall": "boundary recall",
}

#: The difficulty sweep: models and the generator's cue radius (smaller cue = more context needed).
KNOB_MODELS: list[tuple[str, str]] = [MAIN_MODELS[0], MAIN_MODELS[2], MAIN_MODELS[5]]
DEFAULT_CUE_RADIUS = 3


@dataclass(frozen=True)
class Schedule:
    """The experiment schedule, applied to every config through ``--cfg-options``."""

    name: str
    iters: int
    batch_size: int
    warmup: int
    seeds: tuple[int, ...]
    cue_radii: tuple[int, ...]

    def cfg_options(self) -> list[str]:
        return [
            f"train_dataloader.batch_size={self.batch_size}",
            f"train_cfg.max_iters={self.iters}",
            f"train_cfg.val_interval={self.iters}",
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
# The demo configs' own schedule (600 x 8, warm-up 50): four times the samples of DEFAULT, long enough
# for the models to come near convergence on the generated data (see the module docstring for its cost).
LONG = Schedule("long", iters=600, batch_size=8, warmup=50, seeds=(0, 1, 2), cue_radii=(2, 3, 5, 8))
SCHEDULES = {schedule.name: schedule for schedule in (DEFAULT, QUICK, LONG)}


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


def latest_scalars(work_dir: Path) -> Path | None:
    """The ``vis_data/scalars.json`` of the newest timestamped run directory under ``work_dir``."""
    candidates = sorted(work_dir.glob("*/vis_data/scalars.json"))
    return candidates[-1] if candidates else None


def parse_scalars(path: Path) -> dict:
    """Val mIoU (last validation), its step, and the mean train iteration time from a scalars log."""
    miou, step, iter_times, region = None, None, [], {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        record = json.loads(line)
        if "mIoU" in record:
            miou, step = float(record["mIoU"]), record.get("step")
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
    }
    if region:
        result["region_quality"] = region
    return result


def mean_std(values: list[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt_mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    mean, std = mean_std(values)
    return f"{mean:.2f} ± {std:.2f}" if len(values) > 1 else f"{mean:.2f}"


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


# ----------------------------------------------------------------------------------------------------
# Tables


def _ok(results: list[dict]) -> list[dict]:
    return [r for r in results if r.get("status") == "ok"]


def _regions_per_image(result: dict) -> float | None:
    """The run's mean region count on val: from the trained head's own pass, else from its validation's
    region metric (the ground-truth oracle's head needs the label, which that pass does not give it)."""
    count = result.get("regions", {}).get("mean", math.nan)
    if not math.isnan(count):
        return count
    return result.get("region_quality", {}).get("regions_per_image")


def summarise(label: str, results: list[dict]) -> dict:
    ok = _ok(results)
    mious = [r["mIoU"] for r in ok]
    walls = [r["wall_s"] for r in ok]
    iter_times = [r["iter_time_s"] for r in ok if r.get("iter_time_s") is not None]
    regions = [count for count in map(_regions_per_image, ok) if count is not None]
    mean, std = mean_std(mious)
    quality = {
        key: mean_std([r["region_quality"][key] for r in ok if key in r.get("region_quality", {})])
        for key in REGION_QUALITY_COLUMNS
    }
    return {
        "label": label,
        "region_quality": {k: v for k, v in quality.items() if not math.isnan(v[0])},
        "runs": len(results),
        "ok": len(ok),
        "mIoU_per_seed": {str(r["seed"]): r["mIoU"] for r in ok},
        "mIoU_mean": mean,
        "mIoU_std": std,
        "wall_s_mean": statistics.mean(walls) if walls else None,
        "iter_time_s_mean": statistics.mean(iter_times) if iter_times else None,
        "regions_mean": statistics.mean(regions) if regions else None,
        "mIoU_cell": fmt_mean_std(mious),
    }


def _cell_seconds(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def model_table(summaries: list[dict], configs: list[str], with_regions: bool = False) -> str:
    headers = ["model", "val mIoU (mean ± std)", "seeds", "wall s / run", "s / iter", "config"]
    if with_regions:
        headers[5:5] = ["regions / image"] + list(REGION_QUALITY_COLUMNS.values())
    rows = []
    for summary, config in zip(summaries, configs):
        row = [
            summary["label"],
            summary["mIoU_cell"],
            f"{summary['ok']}/{summary['runs']}",
            _cell_seconds(summary["wall_s_mean"]),
            _cell_seconds(summary["iter_time_s_mean"], 3),
            f"`{config}`",
        ]
        if with_regions:
            quality = summary.get("region_quality", {})
            cells = ["-" if summary["regions_mean"] is None else f"{summary['regions_mean']:.1f}"]
            for key in REGION_QUALITY_COLUMNS:
                mean, std = quality.get(key, (math.nan, math.nan))
                cells.append("-" if math.isnan(mean) else f"{mean:.2f} ± {std:.2f}")
            row[5:5] = cells
        rows.append(row)
    return markdown_table(headers, rows)


def knob_table(cue_radii: list[int], stats: list[dict], cells: dict[tuple[str, int], dict]) -> str:
    headers = ["cue radius (px)", "mean cue distance (px / stride-8 cells)"]
    headers += [label for label, _ in KNOB_MODELS]
    rows = []
    for cue, stat in zip(cue_radii, stats):
        row = [str(cue), f"{stat['mean_cue_distance_px']:.1f} / {stat['mean_cue_distance_stride8']:.2f}"]
        row += [cells[(label, cue)]["mIoU_cell"] for label, _ in KNOB_MODELS]
        rows.append(row)
    return markdown_table(headers, rows)


def plot_knob(cue_radii: list[int], cells: dict[tuple[str, int], dict], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for (label, _), marker in zip(KNOB_MODELS, "osD"):
        means = [cells[(label, cue)]["mIoU_mean"] for cue in cue_radii]
        stds = [cells[(label, cue)]["mIoU_std"] for cue in cue_radii]
        ax.errorbar(cue_radii, means, yerr=stds, marker=marker, capsize=3, label=label)
    ax.set_xlabel("cue radius in pixels (smaller = more object-level context needed)")
    ax.set_ylabel("val mIoU (%)")
    ax.set_xticks(cue_radii)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------------
# Experiments


def _selected(models, args) -> list[tuple[str, str]]:
    """The models of an experiment, restricted by ``--only`` to configs whose stem ends with one of its values."""
    if not args.only:
        return list(models)
    return [(label, config) for label, config in models if Path(config).stem.endswith(tuple(args.only))]


def _runs(models, schedule, args, seeds, cue_radius=DEFAULT_CUE_RADIUS, scene="context") -> list[Run]:
    return [
        Run(label, config, cue_radius, seed, schedule, args.work_dir, args.data_dir, scene=scene)
        for label, config in models
        for seed in seeds
    ]


def _footer(
    schedule: Schedule, seeds, command: str, machine: dict, elapsed: float, scene: str = "context"
) -> str:
    generator = "`mmseg_ranet.datasets.generate`" + ("" if scene == "context" else f" `--scene {scene}`")
    return (
        f"Generated data ({generator}, 400 train / 100 val images, 128x128). "
        f"`{command}`: {schedule.iters} iterations of batch {schedule.batch_size} "
        f"(AdamW lr 2e-3, warm-up {schedule.warmup}), seeds {', '.join(map(str, seeds))}, "
        f"one thread per run. Machine: {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']}, "
        f"load average {machine['load_average_at_start']} at start, {machine['date_utc']}; "
        f"{elapsed / 60:.1f} min for this invocation (runs whose result already existed were not repeated)."
    )


def experiment_main(args, schedule: Schedule, seeds, command: str) -> None:
    start, machine = time.monotonic(), machine_description()
    models = _selected(MAIN_MODELS, args)
    runs = _runs(models, schedule, args, seeds)
    results = run_all(runs, args.jobs, args.force, args.keep_checkpoints, args.report_only)
    summaries = [
        summarise(label, [r for run, r in zip(runs, results) if run.label == label]) for label, _ in models
    ]
    table = model_table(summaries, [config for _, config in models], with_regions=True)
    markdown = table + "\n\n" + _footer(schedule, seeds, command, machine, time.monotonic() - start)
    _publish("seg_main", schedule, markdown, {"machine": machine, "rows": summaries, "runs": results}, args)


def experiment_objects(args, schedule: Schedule, seeds, command: str) -> None:
    """The main table's models on the objects scenes, where only the pixel's own object holds its cue."""
    start, machine = time.monotonic(), machine_description()
    models = _selected(OBJECTS_MODELS, args)
    runs = _runs(models, schedule, args, seeds, scene="objects")
    results = run_all(runs, args.jobs, args.force, args.keep_checkpoints, args.report_only)
    summaries = [
        summarise(label, [r for run, r in zip(runs, results) if run.label == label]) for label, _ in models
    ]
    table = model_table(summaries, [config for _, config in models], with_regions=True)
    footer = _footer(schedule, seeds, command, machine, time.monotonic() - start, scene="objects")
    markdown = table + "\n\n" + footer
    _publish(
        "seg_objects", schedule, markdown, {"machine": machine, "rows": summaries, "runs": results}, args
    )


def experiment_ablations(args, schedule: Schedule, seeds, command: str) -> None:
    start, machine = time.monotonic(), machine_description()
    models = _selected(ABLATIONS, args)
    runs = _runs(models, schedule, args, seeds)
    results = run_all(runs, args.jobs, args.force, args.keep_checkpoints, args.report_only)
    summaries = [
        summarise(label, [r for run, r in zip(runs, results) if run.label == label]) for label, _ in models
    ]
    table = model_table(summaries, [config for _, config in models], with_regions=True)
    markdown = table + "\n\n" + _footer(schedule, seeds, command, machine, time.monotonic() - start)
    _publish(
        "seg_ablations", schedule, markdown, {"machine": machine, "rows": summaries, "runs": results}, args
    )


def experiment_knob(args, schedule: Schedule, seeds, command: str) -> None:
    start, machine = time.monotonic(), machine_description()
    cue_radii = list(args.cue_radii or schedule.cue_radii)
    runs = [run for cue in cue_radii for run in _runs(KNOB_MODELS, schedule, args, seeds, cue)]
    results = run_all(runs, args.jobs, args.force, args.keep_checkpoints, args.report_only)
    cells = {}
    for label, _ in KNOB_MODELS:
        for cue in cue_radii:
            picked = [r for run, r in zip(runs, results) if run.label == label and run.cue_radius == cue]
            cells[(label, cue)] = summarise(label, picked)
    stats = [dataset_stats(args.data_dir, cue) for cue in cue_radii]
    table = knob_table(cue_radii, stats, cells)
    markdown = table + "\n\n" + _footer(schedule, seeds, command, machine, time.monotonic() - start)
    suffix = "" if schedule.name == "default" else f"_{schedule.name}"
    # --no-write keeps the plot out of docs/ as well (next to the runs).
    plot = (args.work_dir if args.no_write else ROOT / "docs") / f"ranet_difficulty_knob{suffix}.png"
    title = f"generated data, {schedule.iters} it x batch {schedule.batch_size}, seeds {','.join(map(str, seeds))}"
    plot_knob(cue_radii, cells, plot, title)
    payload = {
        "machine": machine,
        "datasets": stats,
        "cells": [
            dict(cue_radius=cue, **cells[(label, cue)]) for cue in cue_radii for label, _ in KNOB_MODELS
        ],
        "runs": results,
        "plot": str(plot.relative_to(ROOT)) if plot.is_relative_to(ROOT) else str(plot),
    }
    _publish("seg_knob", schedule, markdown, payload, args)
    log(f"plot: {plot}")


def _publish(name: str, schedule: Schedule, markdown: str, payload: dict, args) -> None:
    suffix = "" if schedule.name == "default" else f"_{schedule.name}"
    payload["schedule"] = {
        "name": schedule.name,
        "iters": schedule.iters,
        "batch_size": schedule.batch_size,
        "warmup": schedule.warmup,
        "cfg_options": schedule.cfg_options(),
    }
    if args.no_write:
        md_path = json_path = None
    else:
        tag = f"_{args.tag}" if args.tag else ""
        md_path, json_path = write_results(name + suffix + tag, markdown, payload)
    log("\n" + markdown + "\n")
    if md_path:
        log(f"wrote {md_path.relative_to(ROOT)} and {json_path.relative_to(ROOT)}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "experiment", choices=["main", "ablations", "knob", "objects", "all"], help="what to run"
    )
    parser.add_argument(
        "--schedule",
        choices=sorted(SCHEDULES),
        default="default",
        help="training schedule (see the docstring)",
    )
    parser.add_argument("--quick", action="store_true", help="the quick schedule (one seed, two cue radii)")
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds (default 0 1 2; quick: 0)")
    parser.add_argument("--iters", type=int, help="override the schedule's iteration count")
    parser.add_argument("--batch-size", type=int, help="override the schedule's batch size")
    parser.add_argument(
        "--only", nargs="+", help="run only the configs whose file name (without .py) ends with one of these"
    )
    parser.add_argument("--cue-radii", type=int, nargs="+", help="cue radii of the knob sweep")
    parser.add_argument("--jobs", type=int, default=1, help="trainings at once (each one thread)")
    parser.add_argument(
        "--work-dir", type=Path, help="runs and generated data (default work_dirs/seg_experiments)"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=DATA_DIR, help="generated datasets (one per cue radius)"
    )
    parser.add_argument("--force", action="store_true", help="rerun runs whose result file exists")
    parser.add_argument("--keep-checkpoints", action="store_true", help="keep each run's final checkpoint")
    parser.add_argument("--no-write", action="store_true", help="print the tables only (no results files)")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: tables from the stored results (missing runs shown)",
    )
    parser.add_argument("--tag", help="append _TAG to the results file names (e.g. for a subset of the rows)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["regions"]:
        regions_worker(*argv[1:4])
        return 0
    args = parse_args(argv)
    if args.quick and args.schedule not in ("default", "quick"):
        raise SystemExit(f"--quick and --schedule {args.schedule} contradict each other; give one")
    schedule = QUICK if args.quick else SCHEDULES[args.schedule]
    if args.iters or args.batch_size:
        iters, batch_size = args.iters or schedule.iters, args.batch_size or schedule.batch_size
        warmup = max(1, round(iters * schedule.warmup / schedule.iters))
        name = (
            schedule.name
            + (f"{iters}it" if args.iters else "")
            + (f"b{batch_size}" if args.batch_size else "")
        )
        schedule = dataclasses.replace(schedule, name=name, iters=iters, batch_size=batch_size, warmup=warmup)
    seeds = tuple(args.seeds) if args.seeds else schedule.seeds
    default_root = "work_dirs/seg_experiments" + ("" if schedule.name == "default" else f"_{schedule.name}")
    args.work_dir = (args.work_dir or ROOT / default_root).resolve()
    command = "python benchmarks/seg_experiments.py " + " ".join(argv)
    experiments = ["main", "ablations", "knob"] if args.experiment == "all" else [args.experiment]
    for experiment in experiments:
        log(
            f"== {experiment} ({schedule.name}: {schedule.iters} it x batch {schedule.batch_size}, seeds {seeds})"
        )
        run_experiment = {
            "main": experiment_main,
            "ablations": experiment_ablations,
            "knob": experiment_knob,
            "objects": experiment_objects,
        }[experiment]
        run_experiment(args, schedule, seeds, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
