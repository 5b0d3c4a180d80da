"""Short tools/train.py runs on generated data (shared by the resume tests); the losses they log are read
with ``benchmarks.seg_runs.logged_losses``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from benchmarks.seg_runs import loader_options

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128.py"


def small_options(data_root: Path, max_iters: int, batch_size: int = 2) -> list[str]:
    """``--cfg-options`` for a few iterations on 64x64 images, checkpoints every 2, unsmoothed losses."""
    return [
        "--cfg-options",
        *loader_options(data_root),
        f"train_dataloader.batch_size={batch_size}",
        "model.data_preprocessor.size=(64,64)",
        f"train_cfg.max_iters={max_iters}",
        f"train_cfg.val_interval={max_iters}",
        "default_hooks.checkpoint.interval=2",
        "default_hooks.logger.interval=1",
        "log_processor.window_size=1",
    ]


def run(args: list[str], env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` (or ``bash ARGS`` for a ``.sh``) in the repository, one thread per process."""
    command = ["bash", *args] if args[0].endswith(".sh") else [sys.executable, *args]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=full_env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
