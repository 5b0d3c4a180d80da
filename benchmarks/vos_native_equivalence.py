"""Native IVOS models against the authors' code: ``python benchmarks/vos_native_equivalence.py MODEL ...``.

Each model has its own module ``benchmarks/vos_equivalence/<model>.py`` with a ``main(argv)``; this
entry only dispatches to it (``--help`` after the model name lists its options).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    folder = Path(__file__).resolve().parent / "vos_equivalence"
    models = sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__" and "_" not in p.stem)
    if not argv or argv[0] not in models:
        sys.exit(f"usage: vos_native_equivalence.py {{{','.join(models)}}} [options]")
    importlib.import_module(f"benchmarks.vos_equivalence.{argv[0]}").main(argv[1:])


if __name__ == "__main__":
    main()
