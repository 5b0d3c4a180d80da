"""Native IVOS models against the authors' code, one subcommand per model.

    python benchmarks/vos_native_equivalence.py ipn --authors-dir /path/to/IPN [--timing]
    python benchmarks/vos_native_equivalence.py manet --authors-dir /path/to/CVPR2020_MANet
    python benchmarks/vos_native_equivalence.py atnet --authors-dir /path/to/IVOS-ATNet [--write-manifest]

Each model's comparison lives in ``benchmarks/vos_equivalence/<model>.py``; results go to
``benchmarks/results/vos_native_equivalence_<model>.{md,json}``. The authors' code is run from its own
folder with run-time stand-ins only (see each module); its files are never edited.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MODELS = ("ipn", "manet", "atnet")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in MODELS:
        print(__doc__, file=sys.stderr)
        print(f"error: the first argument must be one of {', '.join(MODELS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"benchmarks.vos_equivalence.{argv[0]}")
    if hasattr(module, "add_arguments"):  # modules that take a parsed namespace
        parser = argparse.ArgumentParser(prog=f"vos_native_equivalence.py {argv[0]}")
        module.add_arguments(parser)
        status = module.main(parser.parse_args(argv[1:]))
    else:
        status = module.main(argv[1:])
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
