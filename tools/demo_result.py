"""Print the demo's test mIoU next to the range measured for it (the last step of ``make demo``).

    python tools/demo_result.py WORK_DIR        # the --work-dir given to tools/test.py

The demo fixes its CPU numerics (``configs/_base_/cpu_reproducible.py``), so a rerun on the same machine
gives the same number; CPUs whose kernels sum in another order (other vector widths), or a thread count
set with ``MMSEG_RANET_THREADS``, give another number within the range below (README, "Two commands").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# Test mIoU of the demo runs measured for the README (lowest, highest) and what they ran on.
EXPECTED_MIOU = (81.71, 82.99)
MEASURED_ON = "AMD EPYC, 1 thread, AVX-512 and AVX2 kernels"


def latest_test_miou(work_dir: Path) -> float:
    """The mIoU in the newest ``<timestamp>/<timestamp>.json`` that ``tools/test.py`` wrote in ``work_dir``.

    Raises:
        FileNotFoundError: ``work_dir`` holds no such file with an mIoU.
    """
    results = []
    for path in sorted(work_dir.glob("*/*.json")):
        if path.stem != path.parent.name:
            continue
        try:
            metrics = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(metrics, dict) and "mIoU" in metrics:
            results.append(float(metrics["mIoU"]))
    if not results:
        raise FileNotFoundError(f"no test result with an mIoU in {str(work_dir)!r} (run tools/test.py first)")
    return results[-1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", type=Path, help="the --work-dir of tools/test.py")
    args = parser.parse_args(argv)
    try:
        miou = latest_test_miou(args.work_dir)
    except FileNotFoundError as err:
        sys.exit(f"tools/demo_result.py: error: {err}")
    low, high = EXPECTED_MIOU
    print(f"test mIoU {miou:.2f} (expected {low:.2f}-{high:.2f} on the machines measured: {MEASURED_ON})")


if __name__ == "__main__":
    main()
