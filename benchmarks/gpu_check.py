"""RANet on a GPU in one run: the device tests on CUDA, the head's cost against NLHead and OCRHead, and a
full-size Cityscapes slide inference, written as one table with the device named.

    python benchmarks/gpu_check.py             # with CUDA: 97x97 heads, a 1024x2048 image (minutes)
    python benchmarks/gpu_check.py --dry-run   # on the CPU with tiny sizes (automatic without CUDA)

Three parts, each in fresh processes:

1. **Device tests**: ``pytest tests/seg -m "not slow" -k cuda`` (the tests parametrised over devices carry
   ``cuda`` in their ids; ``--tests`` and ``-k`` change the selection), with the counts of passed, failed,
   skipped and deselected tests from pytest's summary line. Without CUDA those tests skip themselves.
2. **Decode heads**, forward + backward in training mode, batch 2, random stage features at 97x97 (a 769
   crop): RANetHead paper and official as shipped, mmseg's NLHead and FCNHead + OCRHead, in float32 and
   under ``torch.autocast`` (float16 on CUDA, bfloat16 on the CPU; the forward and the loss inside it, the
   backward outside, no loss scaling). The heads, the cells and the timing are those of
   ``bench_heads.py`` (its worker: median of the runs after a warm-up, CUDA-synchronised, peak
   ``torch.cuda.max_memory_allocated``; on the CPU the extra resident memory).
3. **Slide inference** of the shipped ``configs/ranet/ranet_r101-d8_4xb2-80k_cityscapes-769x769.py``
   (random weights) on one random 1024x2048 image: ``bench_cityscapes_inference.py``'s worker.

Results: ``benchmarks/results/gpu_check.{md,json}``; a dry run writes ``gpu_check_dry_run.{md,json}`` and
says in its table that it measured the CPU at tiny sizes (it checks that the script runs, not the GPU).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_heads import HEADS  # noqa: E402
from benchmarks.common import (  # noqa: E402
    ROOT,
    add_out_dir,
    fmt_mib,
    fmt_time,
    machine_description,
    markdown_table,
    run_worker,
    write_results,
)

#: The heads timed (``bench_heads.HEADS`` names); ratios are to NLHead.
HEAD_ROWS = ("ranet_paper", "ranet_official", "nl", "ocr")
#: Sizes of a full run and of a dry run: head feature map, slide-inference image (H, W).
FULL = {"head_size": 97, "image": (1024, 2048)}
DRY = {"head_size": 9, "image": (96, 160)}
#: Autocast dtype of the AMP column per device type.
AMP_DTYPE = {"cuda": "float16", "cpu": "bfloat16"}

_SUMMARY_COUNT = re.compile(r"(\d+) (passed|failed|skipped|deselected|errors?|xfailed|xpassed|warnings?)")


def parse_pytest_summary(output: str) -> dict[str, int]:
    """The counts of pytest's final summary line (``3 passed, 1 skipped, 40 deselected in 2.1s``).

    ``error``/``errors`` count as ``errors``; warnings are left out. Raises ``ValueError`` when the output
    has no summary line (pytest crashed before its summary).
    """
    for line in reversed(output.strip().splitlines()):
        found = _SUMMARY_COUNT.findall(line)
        if found and re.search(r"\bin [\d.]+s", line):
            counts: dict[str, int] = {}
            for number, kind in found:
                if kind.startswith("warning"):
                    continue
                key = "errors" if kind.startswith("error") else kind
                counts[key] = counts.get(key, 0) + int(number)
            return counts
    if "no tests ran" in output:
        return {}
    raise ValueError(f"no pytest summary line in the output: {output.strip().splitlines()[-1:]}")


def run_device_tests(tests: list[str], keyword: str, timeout_s: float) -> dict:
    """Run ``pytest TESTS -m "not slow" -k KEYWORD`` in a fresh process: counts, exit code, seconds."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        *tests,
        "-m",
        "not slow",
        "-k",
        keyword,
        "-q",
        "-rfEp",
        "-p",
        "no:cacheprovider",
    ]
    selection = f'{" ".join(tests)} -m "not slow" -k "{keyword}"'
    start = time.monotonic()
    try:
        completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"status": f"did not finish in {timeout_s:.0f} s", "selection": selection}
    output = completed.stdout + completed.stderr
    result = {
        "selection": selection,
        "returncode": completed.returncode,
        "seconds": round(time.monotonic() - start, 1),
        "tail": output.strip().splitlines()[-1:] if output.strip() else [],
    }
    # -rfEp: one "PASSED id" / "FAILED id - reason" / "ERROR id - reason" line per test.
    for outcome in ("PASSED", "FAILED", "ERROR"):
        ids = [line.split()[1] for line in output.splitlines() if line.startswith(outcome + " ")]
        result[outcome.lower()] = ids
    try:
        result["counts"] = parse_pytest_summary(output)
    except ValueError as error:
        result["status"] = f"failed: {error}"
        return result
    # pytest's exit code 5: nothing selected (no test id contains the keyword).
    result["status"] = "no tests selected" if completed.returncode == 5 else "ok"
    return result


def time_heads(device: str, size: int, args) -> dict:
    """Forward + backward of every head of ``HEAD_ROWS`` at ``size`` x ``size``, fp32 and AMP."""
    script = str(ROOT / "benchmarks" / "bench_heads.py")
    cells = {}
    for precision in ("fp32", AMP_DTYPE[device]):
        for name in HEAD_ROWS:
            command = [script, "--worker", name, str(size), "train", device, precision]
            command += ["--repeats", str(args.repeats), "--budget", str(args.budget)]
            result = run_worker(command, args.timeout, args.memory_cap_gib * 1024)
            cell = dict(result.get("train", {}), status=result["status"])
            cells[f"{name}/{precision}"] = cell
            print(f"  {name} {precision}: {cell['status']} {fmt_time(cell.get('time_s'))}", flush=True)
    return cells


def slide_inference(device: str, image: tuple[int, int], args) -> dict:
    """One ``EncoderDecoder.predict`` of the shipped Cityscapes config (slide, as shipped) on ``device``."""
    script = str(ROOT / "benchmarks" / "bench_cityscapes_inference.py")
    command = [script, "--worker", "slide", device, "--size", *map(str, image)]
    result = run_worker(command, args.slide_timeout, args.memory_cap_gib * 1024)
    print(f"  slide {image[0]}x{image[1]}: {result['status']} {fmt_time(result.get('time_s'))}", flush=True)
    return result


def _tests_section(tests: dict | None) -> str:
    if tests is None:
        return "Device tests: not run (`--skip-tests`)."
    counts = tests.get("counts", {})
    shown = ", ".join(
        f"{counts.get(k, 0)} {k}" for k in ("passed", "failed", "errors", "skipped", "deselected")
    )
    text = f"Device tests (`pytest {tests['selection']}`): **{tests['status']}**; {shown}" + (
        f", exit code {tests['returncode']}, {tests['seconds']:.0f} s." if "returncode" in tests else "."
    )
    for key, heading in (("failed", "Failed"), ("error", "Errors"), ("passed", "Passed")):
        ids = tests.get(key, [])
        if ids:
            text += f" {heading}: " + ", ".join(f"`{test_id}`" for test_id in ids[:20])
            text += f" and {len(ids) - 20} more." if len(ids) > 20 else "."
    return text


def _heads_table(cells: dict, amp: str) -> str:
    headers = [
        "head",
        "fp32 time",
        "x NLHead",
        "fp32 peak MiB",
        f"AMP ({amp}) time",
        "x NLHead",
        "AMP peak MiB",
    ]
    headers.append("fp32 / AMP time")
    rows = []
    for name in HEAD_ROWS:
        row = [HEADS[name][1]]
        for precision in ("fp32", amp):
            cell, base = cells[f"{name}/{precision}"], cells[f"nl/{precision}"]
            if cell["status"] != "ok":
                row += [cell["status"], "-", "-"]
                continue
            ratio = f"{cell['time_s'] / base['time_s']:.2f}" if base["status"] == "ok" else "-"
            row += [fmt_time(cell["time_s"]), ratio, fmt_mib(cell["peak_mib"])]
        fp32, mixed = cells[f"{name}/fp32"], cells[f"{name}/{amp}"]
        both = fp32["status"] == mixed["status"] == "ok"
        row.append(f"{fp32['time_s'] / mixed['time_s']:.2f}" if both else "-")
        rows.append(row)
    return markdown_table(headers, rows)


def _slide_table(cell: dict, image: tuple[int, int]) -> str:
    if cell.get("status") != "ok":
        return markdown_table(["image", "status"], [[f"{image[0]}x{image[1]}", cell.get("status", "?")]])
    regions = cell.get("regions", [])
    row = [
        f"{image[0]}x{image[1]}",
        str(cell.get("windows", "-")),
        fmt_time(cell["time_s"]),
        fmt_mib(cell["peak_mib"]),
        f"{min(regions)}-{max(regions)}" if regions else "-",
    ]
    return markdown_table(["image", "windows (head calls)", "time", "peak MiB", "regions per window"], [row])


def report(
    device_name: str, dry_run: bool, device: str, sizes: dict, tests, heads, slide, machine, args
) -> str:
    amp = AMP_DTYPE[device]
    size, image = sizes["head_size"], sizes["image"]
    if dry_run:
        title = f"## GPU check: DRY RUN on the CPU ({device_name}), tiny sizes"
        caveat = (
            "**Dry run**: no CUDA device here, so every part ran on the CPU at tiny sizes "
            f"({size}x{size} head features, a {image[0]}x{image[1]} image) with bfloat16 standing in for "
            "AMP. It shows that the script runs end to end; it measures nothing about a GPU. "
            "`python benchmarks/gpu_check.py` on a CUDA machine writes the real table (`gpu_check.md`)."
        )
    else:
        title = f"## GPU check on {device_name}"
        caveat = f"Device: **{device_name}** (`torch.cuda.get_device_name(0)`)."
    memory = (
        "peak `torch.cuda.max_memory_allocated` above the resident tensors"
        if device == "cuda"
        else "extra resident memory of the call"
    )
    return "\n\n".join(
        [
            title,
            caveat,
            _tests_section(tests),
            f"### Decode heads, forward + backward, batch 2, {size}x{size} stage features ({device})",
            _heads_table(heads, amp),
            (
                f"Stage 3 1024 and stage 4 2048 channels, 19 classes, BN, training mode (`bench_heads.py`'s "
                f"worker, a fresh process per cell): median of up to {args.repeats} runs after a warm-up. AMP: "
                f"forward and loss under `torch.autocast({device!r}, {amp})`, backward outside, no loss "
                f"scaling. Peak MiB: {memory}."
            ),
            f"### Slide inference of `configs/ranet/ranet_r101-d8_4xb2-80k_cityscapes-769x769.py` ({device})",
            _slide_table(slide, image),
            (
                "Random weights, float32, one random image, `EncoderDecoder.predict` under `torch.no_grad()` "
                f"(`bench_cityscapes_inference.py`'s worker). Machine: {machine['cpu']}, {machine['cores']} "
                f"cores, torch {machine['torch']}, load average {machine['load_average_at_start']} at start, "
                f"{machine['date_utc']}."
            ),
        ]
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dry-run", action="store_true", help="CPU and tiny sizes even with CUDA (automatic without CUDA)"
    )
    parser.add_argument("--tests", nargs="+", default=["tests/seg"], help="test paths of the device tests")
    parser.add_argument("-k", "--keyword", default="cuda", help="pytest -k expression selecting them")
    parser.add_argument("--skip-tests", action="store_true", help="leave the device tests out")
    parser.add_argument("--test-timeout", type=float, default=3600.0, help="seconds for the device tests")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per head cell after a warm-up")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds of runs per head cell")
    parser.add_argument("--timeout", type=float, default=300.0, help="wall-clock limit of one head cell")
    parser.add_argument("--slide-timeout", type=float, default=900.0, help="limit of the slide inference")
    parser.add_argument("--memory-cap-gib", type=float, default=32.0, help="host memory cap of a cell")
    add_out_dir(parser)
    args = parser.parse_args(argv)
    if args.repeats < 0:
        parser.error(f"--repeats must be >= 0, got {args.repeats}")
    for name in ("budget", "timeout", "slide_timeout", "test_timeout", "memory_cap_gib"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    cuda = torch.cuda.is_available()
    dry_run = args.dry_run or not cuda
    device = "cpu" if dry_run else "cuda"
    sizes = DRY if dry_run else FULL
    machine = machine_description()
    device_name = machine["cpu"] if dry_run else torch.cuda.get_device_name(0)
    if dry_run:
        reason = "--dry-run" if cuda else "no CUDA device (torch.cuda.is_available() is False)"
        print(f"# Dry run on the CPU with tiny sizes: {reason}", flush=True)
    print(f"# device: {device_name}", flush=True)
    tests = None
    if not args.skip_tests:
        print("# device tests", flush=True)
        tests = run_device_tests(args.tests, args.keyword, args.test_timeout)
        print(f"  {tests['status']}: {tests.get('counts')}", flush=True)
    print(f"# decode heads at {sizes['head_size']}x{sizes['head_size']}", flush=True)
    heads = time_heads(device, sizes["head_size"], args)
    print("# slide inference", flush=True)
    slide = slide_inference(device, sizes["image"], args)
    markdown = report(device_name, dry_run, device, sizes, tests, heads, slide, machine, args)
    payload = {
        "device": device_name,
        "device_type": device,
        "dry_run": dry_run,
        "sizes": {"head_size": sizes["head_size"], "image": list(sizes["image"])},
        "amp_dtype": AMP_DTYPE[device],
        "machine": machine,
        "tests": tests,
        "heads": heads,
        "slide": slide,
    }
    name = "gpu_check_dry_run" if dry_run else "gpu_check"
    md_path, json_path = write_results(name, markdown, payload, args.out_dir)
    print("\n" + markdown + f"\n\nwritten: {md_path} and {json_path.name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
