"""The machine a measurement ran on, recorded next to its numbers (timings are only comparable on one)."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from typing import Any

__all__ = ["machine_description"]


def machine_description() -> dict[str, Any]:
    """The processor, cores, torch version and threads, the load at the start and the date, for a report."""
    model = platform.processor() or platform.machine()
    try:
        output = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in output.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    import torch

    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)),
        "load_average_at_start": round(load, 2),
        "python": platform.python_version(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
