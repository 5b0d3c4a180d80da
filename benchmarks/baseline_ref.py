"""Measure the same benchmark on another revision of the code, in the same invocation.

``vos_train_throughput.py --baseline-ref REF`` checks ``REF`` out into a temporary ``git worktree``,
runs the benchmark once with that checkout's ``vos_recommender`` and once with the current one (each in
its own subprocess, same arguments, one after the other on the same machine), and prints both and their
ratio. The benchmark script itself is the current one in both runs, so the measurement is the same; only
the measured code differs.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["comparison_table", "run_against", "strip_options", "worktree_at"]


@contextlib.contextmanager
def worktree_at(repo: Path, ref: str) -> Iterator[Path]:
    """A temporary detached ``git worktree`` of ``ref`` (removed on exit).

    Raises:
        SystemExit: If ``ref`` does not name a commit of ``repo``.
    """
    check = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", f"{ref}^{{commit}}"], capture_output=True, text=True
    )
    if check.returncode != 0:
        raise SystemExit(f"--baseline-ref {ref!r} is not a commit of {repo}: {check.stderr.strip()}")
    with tempfile.TemporaryDirectory(prefix="baseline_ref_") as parent:
        path = Path(parent) / "tree"
        subprocess.run(
            ["git", "-C", str(repo), "worktree", "add", "--detach", str(path), ref],
            check=True,
            capture_output=True,
        )
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "-C", str(repo), "worktree", "remove", "--force", str(path)], capture_output=True
            )


def strip_options(argv: list[str], names: tuple[str, ...]) -> list[str]:
    """``argv`` without the given ``--name value`` / ``--name=value`` options."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in names:
            skip = True
            continue
        if any(arg.startswith(name + "=") for name in names):
            continue
        out.append(arg)
    return out


def run_against(script: Path, code_root: Path, argv: list[str], out_dir: Path) -> dict:
    """Run ``script`` measuring ``code_root``'s package; return its JSON payload."""
    command = [sys.executable, str(script), *argv, "--code-root", str(code_root), "--out-dir", str(out_dir)]
    print(f"\n== {code_root}\n$ {' '.join(command)}", flush=True)
    subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": str(code_root)})
    payload = json.loads(next(out_dir.glob("*.json")).read_text(encoding="utf-8"))
    payload["load_average_after"] = os.getloadavg()[0]
    return payload


def _key(row: dict) -> tuple:
    return row["env"], row["n_envs"], row["cache"]


def _best(payloads: list[dict], key: tuple, field: str) -> float:
    """Highest ``field`` of the row ``key`` over repeated runs (on a shared machine, the least disturbed)."""
    return max(row[field] for payload in payloads for row in payload["rows"] if _key(row) == key)


def comparison_table(ref: str, base: list[dict], new: list[dict]) -> str:
    """Markdown table: env steps/s and grad steps/s in ``learn``, baseline vs current, and the ratio.

    Args:
        ref: The baseline revision.
        base: Payloads of the baseline runs (one per repeat).
        new: Payloads of the current runs (one per repeat, run alternately with the baseline's).
    """
    loads = ", ".join(
        f"{b['load_average_after']:.1f} / {n['load_average_after']:.1f}" for b, n in zip(base, new)
    )
    lines = [
        f"Baseline `{ref}` against the current code, same invocation, same settings, {len(base)} alternating "
        f"run(s) of each, best run per cell (load average after each baseline / current run: {loads}).",
        "",
        "| env | n_envs | cache | env steps/s baseline | env steps/s now | ratio | grad steps/s baseline "
        "| grad steps/s now | ratio |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    old_keys = {_key(r) for r in base[0]["rows"]}
    for row in new[0]["rows"]:
        key = _key(row)
        if key not in old_keys:
            continue
        env_old, env_new = _best(base, key, "env_steps_per_s"), _best(new, key, "env_steps_per_s")
        grad_old = _best(base, key, "grad_steps_per_s_in_learn")
        grad_new = _best(new, key, "grad_steps_per_s_in_learn")
        lines.append(
            f"| {row['env']} | {row['n_envs']} | {row['cache']} | {env_old:.1f} | {env_new:.1f} "
            f"| {env_new / env_old:.2f}x | {grad_old:.1f} | {grad_new:.1f} | {grad_new / grad_old:.2f}x |"
        )
    lines += ["", "| env | grad steps/s (filled buffer) baseline | now | ratio |", "|---|---:|---:|---:|"]
    for grad in new[0]["gradient_only"]:
        env = grad["env"]
        olds = [g["grad_steps_per_s"] for p in base for g in p["gradient_only"] if g["env"] == env]
        news = [g["grad_steps_per_s"] for p in new for g in p["gradient_only"] if g["env"] == env]
        if olds:
            lines.append(f"| {env} | {max(olds):.1f} | {max(news):.1f} | {max(news) / max(olds):.2f}x |")
    return "\n".join(lines)
