"""The layering of ``vos_recommender``, read off its folders: no module imports a layer above its own.

Every module belongs to exactly one layer (the longest matching prefix in :data:`LAYERS`); a module may
import its own layer and the ones below it. Imports inside functions and under ``TYPE_CHECKING`` count
too: a lazy import is still a dependency. A module never imports another module's private names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "vos_recommender"

#: Lowest first. Inside a layer modules may import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("vos_recommender", "vos_recommender.utils"),  # the package root, atomic writes, the name registry
    ("vos_recommender.metrics",),  # J, F, J&F, AUC
    ("vos_recommender.interaction",),  # scribbles, the simulated user, validation
    ("vos_recommender.data",),  # DAVIS / YouTube-VOS layouts, the synthetic generator
    ("vos_recommender.nets",),  # networks of the native backends and the quality estimator
    ("vos_recommender.backends",),  # VOS models and the result cache
    ("vos_recommender.quality",),  # per-frame quality: oracle and learned estimator
    ("vos_recommender.session",),  # one interactive session, round by round
    ("vos_recommender.envs",),  # the gymnasium environment and its observation
    ("vos_recommender.agent",),  # the recurrent DQN and its training callbacks
    ("vos_recommender.strategies",),  # Random, Linspace, Worst and the agent as one interface
    ("vos_recommender.config",),  # settings objects and their command-line parser
    ("vos_recommender.training",),  # programs that train backends and the quality estimator
    (  # the entry points, and the evaluation protocol (paired statistics, reports, Table 1) that drives them
        "vos_recommender.train",
        "vos_recommender.evaluate",
        "vos_recommender.recommend",
        "vos_recommender.evaluation",
        "vos_recommender.table1",
    ),
    ("vos_recommender.app",),  # the annotation app
)


def layer_of(module: str, layers: tuple[tuple[str, ...], ...] = LAYERS) -> int | None:
    """Index of the layer ``module`` belongs to (longest matching prefix), None outside every layer.

    The package root ``vos_recommender`` names only its ``__init__``, not everything below it.
    """
    best: tuple[int, int] | None = None
    for index, prefixes in enumerate(layers):
        for prefix in prefixes:
            inside = module == prefix or ("." in prefix and module.startswith(prefix + "."))
            if inside and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return None if best is None else best[0]


def module_name(path: Path, root: Path) -> tuple[str, bool]:
    """The dotted name of the module at ``path`` under ``root``, and whether it is a package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def imports_of(source: str, module: str, is_package: bool) -> list[tuple[int, str, list[str]]]:
    """``(line, imported module, imported names)`` of every import in ``source``, relative ones resolved."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([target] if target else []))
            found.append((node.lineno, target, [alias.name for alias in node.names]))
    return found


def violations(root: Path, layers: tuple[tuple[str, ...], ...] = LAYERS) -> list[str]:
    """Every upward import, private-name import and module outside the layers under ``root``."""
    problems = []
    for path in sorted((root / "vos_recommender").rglob("*.py")):
        module, is_package = module_name(path, root)
        own = layer_of(module, layers)
        if own is None:
            problems.append(f"{module}: in no layer (add it to LAYERS)")
            continue
        for line, target, names in imports_of(path.read_text(), module, is_package):
            if not (target == "vos_recommender" or target.startswith("vos_recommender.")):
                continue
            # ``from vos_recommender import x`` imports the submodule ``x`` when there is one.
            targets = [f"{target}.{n}" for n in names] if target == "vos_recommender" and names else [target]
            for imported in targets:
                other = layer_of(imported, layers)
                if other is not None and other > own:
                    problems.append(f"{module}:{line} imports {imported} from a higher layer")
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and target != module:
                problems.append(f"{module}:{line} imports the private {', '.join(private)} of {target}")
    return problems


def test_no_module_imports_a_higher_layer_or_anothers_private_names():
    assert violations(PACKAGE.parent) == []


def test_the_check_finds_an_upward_import_a_private_import_and_an_unplaced_module(tmp_path):
    package = tmp_path / "vos_recommender"
    (package / "interaction").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "interaction" / "__init__.py").write_text("")
    (package / "interaction" / "session.py").write_text(
        "def play():\n    from ..backends import build_backend\n    from vos_recommender.metrics.jf import _helper\n"
    )
    (package / "scratch.py").write_text("")
    assert violations(tmp_path) == [
        "vos_recommender.interaction.session:2 imports vos_recommender.backends from a higher layer",
        "vos_recommender.interaction.session:3 imports the private _helper of vos_recommender.metrics.jf",
        "vos_recommender.scratch: in no layer (add it to LAYERS)",
    ]


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("vos_recommender", 0),
        ("vos_recommender.utils.atomic", 0),
        ("vos_recommender.session", 7),
        ("vos_recommender.envs.observation", 8),
        ("vos_recommender.training.native.cli", 12),
        ("vos_recommender.evaluate", 13),
        ("vos_recommender.evaluation.report", 13),
        ("vos_recommender.app.server", 14),
        ("vos_recommender.sessions", None),  # a prefix must end at a dot
    ],
)
def test_a_module_belongs_to_the_layer_of_its_longest_prefix(module, layer):
    assert layer_of(module) == layer
