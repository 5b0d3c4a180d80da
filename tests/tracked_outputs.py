"""A check that a benchmark run in a test leaves the committed results and figures as they were.

The benchmark scripts write to ``benchmarks/results/`` (and some figures to ``docs/``) by default; a test
passes them a folder under ``tmp_path`` instead. :func:`committed_outputs_untouched` records the size and
modification time of every file in those two folders before the run and fails if any changed, appeared or
disappeared, naming the files.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Where the benchmarks write when no output folder is given.
DEFAULT_OUTPUTS = (REPO / "benchmarks" / "results", REPO / "docs")


def _snapshot() -> dict[str, tuple[int, int]]:
    files = {}
    for folder in DEFAULT_OUTPUTS:
        for path in folder.rglob("*"):
            if path.is_file():
                stat = path.stat()
                files[str(path.relative_to(REPO))] = (stat.st_size, stat.st_mtime_ns)
    return files


@contextmanager
def committed_outputs_untouched() -> Iterator[None]:
    """Fail if the code run inside the block wrote into ``benchmarks/results/`` or ``docs/``."""
    before = _snapshot()
    yield
    after = _snapshot()
    changed = sorted(name for name in before.keys() & after.keys() if before[name] != after[name])
    added, removed = sorted(after.keys() - before.keys()), sorted(before.keys() - after.keys())
    assert not (changed or added or removed), (
        f"the run wrote outside its output folder: changed {changed}, added {added}, removed {removed}"
    )
