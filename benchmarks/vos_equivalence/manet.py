"""Native MANet against the authors' code: manifest, per-round equivalence, and time per round.

::

    python benchmarks/vos_native_equivalence.py manet --authors-dir /work/authors/manet
    python benchmarks/vos_native_equivalence.py manet --authors-dir DIR --manifest-only
    python benchmarks/vos_native_equivalence.py manet --authors-dir DIR --timing   # adds 480p timings

* **Manifest** (``tests/vos/data/manifests/manet.json``): every tensor of the authors' model as their
  code builds it (``IntVOS(cfg, DeepLab(backbone='resnet'))``, the object ``save_step_80000.pth`` is
  loaded into), with shape and dtype, and the repository and commit.
* **Equivalence**: one random state dict, drawn in the authors' model's own shapes (batchnorm
  statistics calibrated on the video, see :func:`random_state`), is loaded into the authors' model (through the existing
  ``manet_authors`` adapter, which follows IVOS-W's calls) and with ``strict=True`` into the native
  backend. Both play the same rounds on a generated video: the round-1 scribble comes from the
  project's robot on an empty prediction, later ones from the robot on the authors' masks (worst
  frame). Per round the table gives the largest absolute difference of the normalised probabilities
  over all frames, classes and pixels, and the share of pixels with the same label.
* **Timing** (``--timing``, or ``--timing-only`` to add it to existing results): seconds to embed
  the frames and to play one round at 854 x 480 on the CPU, native released and CPU configurations,
  1 and 2 threads, each in its own process; with ``--authors-timing`` also the authors' code (in a
  child process stopped after ``--authors-timeout`` seconds; its ``F.unfold`` local matching holds
  several GB per frame at this size).

Writes ``benchmarks/results/vos_native_equivalence_manet.md`` and ``.json`` (another folder with ``--out-dir``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import add_out_dir
from vos_recommender.utils.atomic import atomic_torch_save, atomic_write_json, atomic_write_text

from .manet_authors_runtime import AUTHORS_COMMIT, AUTHORS_REPOSITORY, authors_runtime, build_authors_model

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "tests" / "vos" / "data" / "manifests" / "manet.json"


def manifest(model: torch.nn.Module) -> dict:
    """Names, shapes and dtypes of ``model``'s state dict, with the authors' repository and commit."""
    return {
        "model": "MANet (Miao et al., CVPR 2020)",
        "repository": AUTHORS_REPOSITORY,
        "commit": AUTHORS_COMMIT,
        "built_by": "IntVOS(cfg, DeepLab(backbone='resnet', freeze_bn=False)), IVOS-W's test cfg",
        "checkpoint": "save_step_80000.pth",
        "tensors": {
            name: {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")}
            for name, t in model.state_dict().items()
        },
    }


def _manifest_text(data: dict) -> str:
    """JSON with one line per tensor, so that diffs of the manifest read tensor by tensor."""
    head = {k: v for k, v in data.items() if k != "tensors"}
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    rows = [f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in data["tensors"].items()]
    return "{\n" + "\n".join(lines) + '\n  "tensors": {\n' + ",\n".join(rows) + "\n  }\n}\n"


def random_state(model: torch.nn.Module, images: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state dict for ``model`` (the authors' model), with batchnorm statistics calibrated.

    Convolutions get a fan-in-scaled normal and batchnorm affine parameters random values. Purely
    random running statistics would let activations grow through the 101 layers until float32
    rounding decides the outcome, so the statistics are measured instead: one forward pass in training
    mode (momentum 1) over ``images``, and over random masks for the two heads. The last embedding
    batchnorm is then damped so that squared embedding distances are of order 1, where ``sigmoid``
    does not saturate and the matching maps carry information.
    """
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, value in model.state_dict().items():
        if name.endswith("num_batches_tracked") or name.endswith("running_mean"):
            state[name] = torch.zeros_like(value)
        elif name.endswith("running_var"):
            state[name] = torch.ones_like(value)
        elif value.dim() == 1:  # batchnorm affine parameters and convolution biases
            base = 1.0 if name.endswith("weight") else 0.0
            state[name] = base + 0.5 * (torch.rand(value.shape, generator=gen) - 0.5)
        else:
            state[name] = torch.randn(value.shape, generator=gen) * (2.0 / max(1, value[0].numel())) ** 0.5
    model.load_state_dict(state, strict=True)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = 1.0
    model.train()
    with torch.no_grad():
        embedding = model.extract_feature(images)
        features = embedding[:1].expand(3, -1, -1, -1)
        maps = (torch.rand(3, 3, *embedding.shape[-2:], generator=gen) > 0.5).float()
        model.inter_seghead(torch.cat((features, maps[:, :2]), 1))
        model.dynamic_seghead(torch.cat((features, maps), 1))
    model.eval()
    state = {name: value.clone() for name, value in model.state_dict().items()}
    for prefix in ("bn2.", "semantic_embedding.4."):  # one module under two names
        state[prefix + "weight"] = state["bn2.weight"] * 0.1
        state[prefix + "bias"] = state["bn2.bias"] * 0.1
    return state


def _images(frames: np.ndarray) -> torch.Tensor:
    """Frames normalised as the authors' transforms do (BGR, ImageNet statistics)."""
    bgr = frames[..., ::-1].astype(np.float32) / 255.0
    bgr = (bgr - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    return torch.from_numpy(np.ascontiguousarray(bgr.transpose(0, 3, 1, 2)))


def _video(folder: Path, num_frames: int, height: int, width: int):
    from vos_recommender.data.davis import DavisDataset
    from vos_recommender.data.generate import generate_davis_dataset

    root = generate_davis_dataset(
        folder,
        num_train=4,
        num_val=0,
        num_frames=num_frames,
        height=height,
        width=width,
        max_objects=2,
        seed=3,
    )
    dataset = DavisDataset(root, split="train")
    videos = [dataset[i] for i in range(len(dataset.sequences))]
    return max(videos, key=lambda v: v.num_objects)


def equivalence(
    authors_dir: Path,
    rounds: int,
    num_frames: int,
    size: tuple[int, int],
    dtype,
    pixel_rule: str = "davis",
    davis_dir: Path | None = None,
) -> list[dict]:
    """Play ``rounds`` rounds through the authors' code and the native backend; compare each round.

    The authors' side draws scribbles with davis-interactive's ``scribbles2mask`` (the adapter, as
    IVOS-W); the native side with ``pixel_rule`` (its default, ``"davis"``, is that rasteriser).
    """
    from vos_recommender.backends.authors.manet import MANetBackend
    from vos_recommender.backends.native.manet import NativeMANetBackend
    from vos_recommender.interaction.robot import InteractiveRobot

    with tempfile.TemporaryDirectory(prefix="manet-eq-") as tmp, authors_runtime(davis_dir):
        video = _video(Path(tmp), num_frames, *size)
        weights = Path(tmp, "save_step_80000.pth")
        atomic_torch_save(random_state(build_authors_model(authors_dir), _images(video.frames[:4])), weights)
        authors = MANetBackend(authors_dir, weights, device="cpu", input_size=size)
        # One frame per forward pass, as the authors' loader does, so both embed with the same kernels.
        native = NativeMANetBackend(
            weights, "cpu", "released", input_size=size, dtype=dtype, batch_size=1, pixel_rule=pixel_rule
        )
        if dtype == torch.float64:
            authors.model.double()
            extract = authors.model.extract_feature
            authors.model.extract_feature = lambda x: extract(x.double())
        robot = InteractiveRobot(**NativeMANetBackend.simulated_user)
        authors.start_video(video.frames, video.num_objects, video_id=video.name)
        native.start_video(video.frames, video.num_objects, video_id=video.name)
        prediction = np.zeros_like(video.masks)
        rows = []
        for index in range(rounds):
            frame = num_frames // 2 if index == 0 else None
            scribble = robot.interact(
                video.name, prediction, video.masks, frame=frame, nb_objects=video.num_objects
            )
            frame = int(scribble["annotated_frame"])
            theirs, ours = authors.interact(scribble, frame), native.interact(scribble, frame)
            rows.append(
                {
                    "round": index + 1,
                    "frame": frame,
                    "strokes": len(scribble["scribbles"][frame]),
                    "max_abs_diff": float(np.abs(theirs.probs - ours.probs).max()),
                    "same_label": float((theirs.masks == ours.masks).mean()),
                }
            )
            prediction = theirs.masks
    return rows


def _time_native(config: str, threads: int, num_frames: int) -> dict:
    from vos_recommender.backends.native.manet import NativeMANetBackend

    torch.set_num_threads(threads)
    frames, scribble = _timing_video(num_frames)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backend = NativeMANetBackend(None, config=config)
    tic = time.perf_counter()
    backend.start_video(frames, 2)
    embed = time.perf_counter() - tic
    result = backend.interact(scribble, num_frames // 2)
    return {"model": f"native {config}", "threads": threads, "embed_s": embed, "round_s": result.elapsed}


def _timing_video(num_frames: int, height: int = 480, width: int = 854):
    from vos_recommender.interaction.scribbles import empty_scribble

    frames = np.random.default_rng(0).integers(0, 255, (num_frames, height, width, 3), dtype=np.uint8)
    scribble = empty_scribble("timing", num_frames)
    scribble["scribbles"][num_frames // 2] = [
        {"path": [[0.3, 0.3], [0.4, 0.5]], "object_id": 1, "start_time": 0, "end_time": 1},
        {"path": [[0.6, 0.6], [0.7, 0.5]], "object_id": 2, "start_time": 0, "end_time": 1},
        {"path": [[0.1, 0.9], [0.9, 0.9]], "object_id": 0, "start_time": 0, "end_time": 1},
    ]
    return frames, scribble


def _time_authors(authors_dir: Path, threads: int, num_frames: int) -> dict:
    from vos_recommender.backends.authors.manet import MANetBackend

    torch.set_num_threads(threads)
    frames, scribble = _timing_video(num_frames)
    with tempfile.TemporaryDirectory(prefix="manet-time-") as tmp, authors_runtime():
        weights = Path(tmp, "w.pth")
        atomic_torch_save(build_authors_model(authors_dir).state_dict(), weights)
        backend = MANetBackend(authors_dir, weights, device="cpu", input_size=(480, 854))
        tic = time.perf_counter()
        backend.start_video(frames, 2)
        embed = time.perf_counter() - tic
        result = backend.interact(scribble, num_frames // 2)
    return {"model": "authors (patched)", "threads": threads, "embed_s": embed, "round_s": result.elapsed}


def _child(args: list[str], timeout: float) -> dict:
    command = [sys.executable, "-m", "benchmarks.vos_equivalence.manet", *args]
    try:
        out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"error": f"stopped after {timeout:.0f} s"}
    except subprocess.CalledProcessError as err:
        return {
            "error": err.stderr.strip().splitlines()[-1] if err.stderr.strip() else f"exit {err.returncode}"
        }
    return json.loads(out.stdout.strip().splitlines()[-1])


def _markdown(report: dict) -> str:
    lines = [
        "# Native MANet vs the authors' code",
        "",
        f"Authors' code: {report['repository']} @ {report['commit']}. Video: {report['video']}; "
        "random weights shared by both (strict load into the native model). Scribbles: the authors' "
        "side through davis-interactive 1.0.4's `scribbles2mask` (as IVOS-W), the native side with "
        f"`pixel_rule={report.get('native_pixel_rule', 'davis')!r}`.",
        "",
    ]
    for dtype, rows in report["equivalence"].items():
        lines += [
            f"## {dtype}",
            "",
            "| round | frame | strokes | max abs diff (probs) | same label |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['round']} | {r['frame']} | {r['strokes']} | {r['max_abs_diff']:.2e} | "
            f"{100 * r['same_label']:.3f} % |"
            for r in rows
        ]
        lines.append("")
    for dtype, rows in report.get("equivalence_inverse_rule", {}).items():
        lines += [
            f"## {dtype}, native side with the project's `pixel_rule='inverse'` (its default before)",
            "",
            "| round | frame | strokes | max abs diff (probs) | same label |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['round']} | {r['frame']} | {r['strokes']} | {r['max_abs_diff']:.2e} | "
            f"{100 * r['same_label']:.3f} % |"
            for r in rows
        ]
        lines.append("")
    if report.get("timing"):
        lines += [
            f"## Time per round on the CPU, 854 x 480, {report['timing_frames']} frames",
            "",
            f"Machine: {report['machine']}.",
            "",
            "| model | threads | embed all frames (s) | one round (s) |",
            "|---|---|---|---|",
        ]
        for r in report["timing"]:
            if "error" in r:
                lines.append(f"| {r['model']} | {r['threads']} | {r['error']} | |")
            else:
                lines.append(f"| {r['model']} | {r['threads']} | {r['embed_s']:.1f} | {r['round_s']:.1f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="vos_native_equivalence.py manet", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--authors-dir", type=Path, required=True, help="unpacked lightas/CVPR2020_MANet")
    parser.add_argument("--manifest-only", action="store_true", help="only (re)write the manifest")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, nargs=2, default=(96, 128), metavar=("H", "W"))
    parser.add_argument("--no-float64", action="store_true", help="skip the float64 comparison")
    parser.add_argument("--no-float32", action="store_true", help="skip the float32 comparison")
    parser.add_argument(
        "--native-pixel-rule",
        default="davis",
        choices=("davis", "inverse"),
        help="how the native backend draws scribbles (the authors' side always uses scribbles2mask)",
    )
    parser.add_argument("--davis-dir", type=Path, default=None, help="folder holding davisinteractive/")
    parser.add_argument("--timing", action="store_true", help="also time rounds at 854 x 480")
    parser.add_argument("--timing-only", action="store_true", help="add timings to the existing results")
    parser.add_argument("--timing-frames", type=int, default=10)
    parser.add_argument("--timing-threads", type=int, nargs="+", default=(1, 2))
    parser.add_argument(
        "--authors-timing",
        action="store_true",
        help="also time the authors' code (its local matching holds several GB per frame at 480p)",
    )
    parser.add_argument("--authors-timeout", type=float, default=120.0)
    add_out_dir(parser)
    args = parser.parse_args(argv)
    if not (args.authors_dir / "networks" / "IntVOS.py").is_file():
        parser.error(f"--authors-dir {args.authors_dir} does not hold networks/IntVOS.py")
    with authors_runtime(args.davis_dir):
        atomic_write_text(MANIFEST, _manifest_text(manifest(build_authors_model(args.authors_dir))))
    print(f"wrote {MANIFEST}")
    if args.manifest_only:
        return {}
    results = args.out_dir / "vos_native_equivalence_manet.json"
    if args.timing_only:
        report = json.loads(results.read_text())
    else:
        size = tuple(args.size)
        report = {
            "repository": AUTHORS_REPOSITORY,
            "commit": AUTHORS_COMMIT,
            "video": f"generated, {args.frames} frames, {size[0]} x {size[1]}, {args.rounds} rounds",
            "equivalence": {},
        }
        report["native_pixel_rule"] = args.native_pixel_rule
        dtypes = ([] if args.no_float32 else [torch.float32]) + ([] if args.no_float64 else [torch.float64])
        for dtype in dtypes:
            rows = equivalence(
                args.authors_dir,
                args.rounds,
                args.frames,
                size,
                dtype,
                args.native_pixel_rule,
                args.davis_dir,
            )
            report["equivalence"][str(dtype).replace("torch.", "")] = rows
    if args.timing or args.timing_only:
        load = os.getloadavg()[0]
        report["machine"] = (
            f"{os.cpu_count()} CPUs, load average {load:.1f} at start, torch {torch.__version__}"
        )
        report["timing_frames"] = args.timing_frames
        report["timing"] = []
        for config in ("released", "cpu"):
            for threads in args.timing_threads:
                row = _child(["--time-native", config, str(threads), str(args.timing_frames)], 900)
                report["timing"].append({"model": f"native {config}", "threads": threads, **row})
    if args.authors_timing:
        threads = max(args.timing_threads)
        row = _child(
            ["--time-authors", str(args.authors_dir), str(threads), str(args.timing_frames)],
            args.authors_timeout,
        )
        report.setdefault("timing", []).append({"model": "authors (patched)", "threads": threads, **row})
    args.out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(results, report, indent=1)
    atomic_write_text(args.out_dir / "vos_native_equivalence_manet.md", _markdown(report))
    print(_markdown(report))
    return report


if __name__ == "__main__":
    # Child-process entries for the timings (one process per measurement: threads set once).
    if sys.argv[1:2] == ["--time-native"]:
        print(json.dumps(_time_native(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
    elif sys.argv[1:2] == ["--time-authors"]:
        print(json.dumps(_time_authors(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))))
    else:
        main()
