"""Test doubles of the authors' IPN, MANet and ATNet repositories.

These are NOT the authors' models. Each folder mimics one repository's layout and the call
signatures the adapters in ``vos_recommender/backends/authors/`` use (module names, constructors,
method names and arguments, return shapes), with tiny networks whose outputs follow the scribbles.
They let the tests exercise the adapters' real code paths (import from ``code_dir``, weight loading,
the per-round calls) without the authors' code, weights or a GPU. Every call is recorded in the
module-level ``CALLS`` lists so the tests can check each model's interaction contract.
"""

import importlib
import sys
from pathlib import Path
from types import ModuleType

#: Folder holding a stand-in ``davisinteractive`` package (only ``utils.scribbles.scribbles2mask``).
DAVIS = Path(__file__).parent / "davis"


def use_fake_davisinteractive(monkeypatch) -> ModuleType:
    """Make the stand-in davisinteractive importable for one test; returns its ``utils.scribbles``."""
    monkeypatch.syspath_prepend(str(DAVIS))
    for name in [n for n in sys.modules if n.split(".")[0] == "davisinteractive"]:
        monkeypatch.delitem(sys.modules, name)
    module = importlib.import_module("davisinteractive.utils.scribbles")
    module.CALLS.clear()
    return module
