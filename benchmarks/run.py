"""Run every benchmark: ``python -m benchmarks.run [--quick]`` (tables printed and written to results/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    status = 0
    for script in ("bench_boundary_table.py", "bench_semantic_table.py", "bench_heads.py"):
        status |= subprocess.call([sys.executable, str(HERE / script), *argv])
    return status


if __name__ == "__main__":
    sys.exit(main())
