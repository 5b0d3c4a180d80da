"""Native IVOS models against the authors' code, one subcommand per model.

    python benchmarks/vos_native_equivalence.py ipn --authors-dir /work/authors/ipn [--timing]
    python benchmarks/vos_native_equivalence.py ipn --authors-dir /work/authors/ipn --write-manifest

Each model's comparison lives in ``benchmarks/vos_equivalence/<model>.py`` (``add_arguments`` and
``main``); results go to ``benchmarks/results/vos_native_equivalence_<model>.{md,json}``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MODELS = {"ipn": "benchmarks.vos_equivalence.ipn"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="model", required=True)
    modules = {}
    for name, path in MODELS.items():
        modules[name] = importlib.import_module(path)
        modules[name].add_arguments(commands.add_parser(name, help=f"{name}: native vs the authors' code"))
    args = parser.parse_args(argv)
    return modules[args.model].main(args)


if __name__ == "__main__":
    sys.exit(main())
