"""Native backends against the authors' research code: ``python benchmarks/vos_native_equivalence.py MODEL ...``.

Each model's check lives in ``benchmarks/vos_equivalence/<model>.py`` (its ``main(argv)``); this entry
only dispatches, e.g. ``python benchmarks/vos_native_equivalence.py atnet --authors-dir /path/to/IVOS-ATNet``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(f"benchmarks.vos_equivalence.{argv[0]}")
    except ModuleNotFoundError as err:
        print(f"no equivalence check for model {argv[0]!r} ({err})", file=sys.stderr)
        return 2
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
