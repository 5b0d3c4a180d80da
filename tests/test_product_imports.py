"""The products never depend on the experiments: nothing under mmseg_ranet/, vos_recommender/ or tools/
imports ``benchmarks`` or names a file under ``benchmarks/``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PRODUCT = ("mmseg_ranet", "vos_recommender", "tools")


def _product_files() -> list[Path]:
    return sorted(path for folder in PRODUCT for path in (REPO / folder).rglob("*.py"))


def benchmark_imports(source: str, filename: str) -> list[str]:
    """The ``import``/``from`` statements of ``source`` that reach into the ``benchmarks`` package."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [f"line {node.lineno}: {name}" for name in names if name.split(".")[0] == "benchmarks"]
    return found


def test_the_check_sees_every_import_form():
    source = (
        "import os\nimport benchmarks.common as c\nfrom benchmarks import run\nfrom .benchmarks import x\n"
    )
    assert benchmark_imports(source, "x.py") == ["line 2: benchmarks.common", "line 3: benchmarks"]


def test_product_folders_hold_modules():
    files = _product_files()
    assert {path.relative_to(REPO).parts[0] for path in files} == set(PRODUCT)


@pytest.mark.parametrize("folder", PRODUCT)
def test_no_product_module_imports_or_names_the_benchmarks(folder):
    imports, mentions = {}, {}
    for path in sorted((REPO / folder).rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        name = str(path.relative_to(REPO))
        if found := benchmark_imports(source, name):
            imports[name] = found
        if "benchmarks/" in source:
            mentions[name] = [n + 1 for n, line in enumerate(source.splitlines()) if "benchmarks/" in line]
    assert not imports, f"product modules import the benchmarks: {imports}"
    assert not mentions, f"product modules point into benchmarks/ (lines): {mentions}"
