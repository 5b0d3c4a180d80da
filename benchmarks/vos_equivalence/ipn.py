"""IPN: native networks and backend against the authors' code (zyy-cn/IPN), same random weights.

Subcommands of ``python benchmarks/vos_native_equivalence.py ipn``:

* ``--write-manifest``: writes ``tests/vos/data/manifests/ipn.json``, every parameter and buffer of the
  authors' ``Inet`` / ``Pnet`` as their code builds them (name, shape, dtype), with their commit;
* default: one random state dict (the authors' initialisation with randomised batch-norm statistics,
  saved with DataParallel's ``module.`` prefix as the released files are) is loaded into both, and a
  generated video (8 frames, 2 objects, 128 x 192) goes through 3 rounds: the generated first
  scribble, then the project's robot correcting the authors' result on frames 2 and 4 (so the second
  and third rounds propagate up to earlier annotated frames and blend with the previous round). The
  per-round maximum absolute difference of the class probabilities is recorded;
* ``--timing``: seconds per round at 854 x 480 (10 frames, 1 object) for the native released and CPU
  configurations at 1 and 2 threads, and the authors' code at the same size.

Results: ``benchmarks/results/vos_native_equivalence_ipn.{md,json}`` (another folder with ``--out-dir``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import add_out_dir, machine_description, markdown_table
from benchmarks.vos_equivalence.ipn_authors_runtime import authors_ipn
from vos_recommender.backends.native.ipn import NativeIPNBackend
from vos_recommender.interaction.robot import InteractiveRobot
from vos_recommender.utils.atomic import atomic_torch_save, atomic_write_json, atomic_write_text

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "tests" / "vos" / "data" / "manifests" / "ipn.json"
AUTHORS_REPO = "zyy-cn/IPN"
AUTHORS_COMMIT = "dd808cc9f21f7ca7061339703868a6057354db28"
TOLERANCE = 1e-4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--authors-dir", type=Path, required=True, help="checkout of zyy-cn/IPN")
    parser.add_argument("--davis-dir", type=Path, default=None, help="folder holding davisinteractive/")
    parser.add_argument("--write-manifest", action="store_true", help="write the checkpoint manifest only")
    parser.add_argument("--timing", action="store_true", help="also time one round at 854 x 480")
    parser.add_argument("--float64", action="store_true", help="also run the native backend in float64")
    parser.add_argument(
        "--skip-equivalence", action="store_true", help="keep the rounds of the existing results file"
    )
    parser.add_argument(
        "--authors-commit",
        default=AUTHORS_COMMIT,
        help="commit of an --authors-dir without .git (unpacked with git archive)",
    )
    parser.add_argument("--seed", type=int, default=0)
    add_out_dir(parser)


def _commit(args: argparse.Namespace) -> str:
    """The checkout's commit when it is a git work tree, else ``--authors-commit`` (``git archive``)."""
    out = subprocess.run(
        ["git", "-C", str(args.authors_dir), "rev-parse", "--verify", "HEAD"], capture_output=True, text=True
    )
    inside = subprocess.run(
        ["git", "-C", str(args.authors_dir), "rev-parse", "--show-toplevel"], capture_output=True, text=True
    )
    if out.returncode == 0 and Path(inside.stdout.strip()).resolve() == args.authors_dir.resolve():
        return out.stdout.strip()
    return args.authors_commit


def write_manifest(args: argparse.Namespace) -> Path:
    with authors_ipn(args.authors_dir, args.davis_dir) as module, contextlib.redirect_stdout(io.StringIO()):
        model = module.model(load_pretrain=False)
        networks = {"I.pth": model.model_I, "P.pth": model.model_P}
        entries = {
            file: {
                "class": type(net).__name__,
                "tensors": {
                    k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in net.state_dict().items()
                },
            }
            for file, net in networks.items()
        }
    manifest = {
        "model": "IPN (Oh et al., CVPR 2019)",
        "authors_repository": f"https://github.com/{AUTHORS_REPO}",
        "authors_commit": _commit(args),
        "built_by": "model.model(load_pretrain=False): model_I (Inet) -> I.pth, model_P (Pnet) -> P.pth",
        "note": "names as the modules' state_dict(); files saved from nn.DataParallel prefix each with 'module.'",
        "checkpoints": entries,
    }
    # One line per tensor keeps the file readable and its diffs small.
    text = json.dumps(manifest, indent=1)
    text = re.sub(
        r"\[\s*([-\d,\s]*?)\s*\]",
        lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]",
        text,
    )
    text = re.sub(
        r'\{\s*"shape": (\[[^\]]*\]),\s*"dtype": ("[^"]*")\s*\}', r'{"shape": \1, "dtype": \2}', text
    )
    atomic_write_text(MANIFEST, text + "\n")
    return MANIFEST


def _random_state(net: torch.nn.Module, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The module's own random initialisation with batch-norm statistics and affines randomised too."""
    state = {k: v.clone() for k, v in net.state_dict().items()}
    for key, value in state.items():
        if key.endswith("running_mean"):
            value.normal_(0.0, 0.1, generator=generator)
        elif key.endswith("running_var") or (key.endswith(".weight") and value.dim() == 1 and "bn" in key):
            value.uniform_(0.5, 1.5, generator=generator)
        elif key.endswith(".bias") and "bn" in key:
            value.normal_(0.0, 0.1, generator=generator)
    return state


def _video(folder: Path, num_frames: int, height: int, width: int, max_objects: int):
    from vos_recommender.data.davis import DavisDataset
    from vos_recommender.data.generate import generate_davis_dataset

    root = generate_davis_dataset(
        folder,
        num_train=0,
        num_val=1,
        num_frames=num_frames,
        height=height,
        width=width,
        max_objects=max_objects,
    )
    return DavisDataset(root, split="val")[0]


class AuthorsRunner:
    """The authors' ``model`` driven as IVOS-W's ``eval_agent_ipn.py`` drives it."""

    def __init__(self, module, weights: Path) -> None:
        self.model = module.model(load_pretrain=False)
        self.model.model_I.load_state_dict(module.load_UnDP(str(weights / "I.pth")), strict=True)
        self.model.model_P.load_state_dict(module.load_UnDP(str(weights / "P.pth")), strict=True)
        self.model.eval()

    def start(self, frames: np.ndarray, gt_masks: np.ndarray) -> None:
        self.variables = self.model.init_variables(frames=frames, masks=gt_masks, device="cpu")

    def round(self, scribble: dict, frame: int) -> tuple[np.ndarray, np.ndarray]:
        scribble = copy.deepcopy(scribble)
        scribble["annotated_frame"] = frame
        self.variables["scribbles"] = scribble
        with torch.no_grad():
            self.model.Run(self.variables)
        masks = self.variables["masks"].cpu().numpy().astype(np.uint8)
        return masks, self.variables["probs"][0].cpu().numpy().transpose(1, 0, 2, 3)


def _save_weights(module, folder: Path, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    authors = module.model(load_pretrain=False)
    for file, net in (("I.pth", authors.model_I), ("P.pth", authors.model_P)):
        state = _random_state(net, generator)
        atomic_torch_save({f"module.{k}": v for k, v in state.items()}, folder / file)


def equivalence(args: argparse.Namespace, folder: Path) -> dict:
    torch.manual_seed(args.seed)  # the authors' constructors draw their initialisation from it
    video = _video(folder / "data", 8, 128, 192, 2)
    robot = InteractiveRobot(seed=args.seed)
    rows = []
    with authors_ipn(args.authors_dir, args.davis_dir) as module:
        _save_weights(module, folder, args.seed)
        authors = AuthorsRunner(module, folder)
        dtypes = (torch.float32, torch.float64) if args.float64 else (torch.float32,)
        natives = {dt: NativeIPNBackend(weights=folder, dtype=dt) for dt in dtypes}
        authors.start(video.frames, video.masks)
        for native in natives.values():
            native.start_video(video.frames, video.num_objects, video_id=video.name)
        scribble, frame = video.scribbles[0], int(video.scribbles[0]["annotated_frame"])
        for round_index, next_frame in enumerate((2, 4, None), start=1):
            a_masks, a_probs = authors.round(scribble, frame)
            out = {str(dt).split(".")[-1]: native.interact(scribble, frame) for dt, native in natives.items()}
            n32 = out["float32"]
            row = {
                "round": round_index,
                "frame": frame,
                "strokes": len(scribble["scribbles"][frame]),
                "max_abs_diff_float32": float(np.abs(n32.probs - a_probs).max()),
                "mask_agreement": float((n32.masks == a_masks).mean()),
                "uncertain_pixels": float(((a_probs > 0.01) & (a_probs < 0.99)).mean()),
            }
            if "float64" in out:
                row["max_abs_diff_float64_native"] = float(np.abs(out["float64"].probs - a_probs).max())
            rows.append(row)
            if next_frame is not None:
                scribble = robot.interact(video.name, a_masks, video.masks, frame=next_frame)
                frame = next_frame
    return {
        "video": {"frames": 8, "height": 128, "width": 192, "objects": int(video.num_objects)},
        "rounds": rows,
    }


def timing(args: argparse.Namespace, folder: Path) -> list[dict]:
    torch.manual_seed(args.seed)
    video = _video(folder / "data480", 10, 480, 854, 1)
    scribble, frame = video.scribbles[0], int(video.scribbles[0]["annotated_frame"])
    with authors_ipn(args.authors_dir, args.davis_dir) as module:
        _save_weights(module, folder, args.seed)
    rows = []
    for config in ("released", "cpu"):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            # The released size loads the compared weights; the CPU size has no checkpoint here.
            backend = NativeIPNBackend(weights=folder) if config == "released" else _quiet_native(config)
            backend.start_video(video.frames, video.num_objects)
            tic = time.perf_counter()
            backend.interact(scribble, frame)
            seconds = time.perf_counter() - tic
            rows.append({"code": f"native {config}", "threads": threads, "seconds": seconds, "load": _load()})
    torch.set_num_threads(1)
    with authors_ipn(args.authors_dir, args.davis_dir) as module:
        authors = AuthorsRunner(module, folder)
        authors.start(video.frames, video.masks)
        tic = time.perf_counter()
        authors.round(scribble, frame)
        seconds = time.perf_counter() - tic
        rows.append({"code": "authors (CPU, patched)", "threads": 1, "seconds": seconds, "load": _load()})
    for row in rows:
        row["frames"], row["objects"], row["size"] = 10, int(video.num_objects), "854x480"
    return rows


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _quiet_native(config: str) -> NativeIPNBackend:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NativeIPNBackend(config=config)


def _markdown(payload: dict) -> str:
    lines = [
        "# IPN: native implementation vs the authors' code",
        "",
        f"Authors' code: {payload['authors_repository']} at `{payload['authors_commit']}`, run on CPU with "
        "run-time stand-ins only (torchvision -> project ResNet, davis-interactive 1.0.4, NumPy aliases).",
        f"Same random weights in both (saved with the `module.` prefix, loaded strictly). Tolerance {TOLERANCE:g}.",
        "",
    ]
    if payload.get("rounds"):
        video = payload["video"]
        lines.append(
            f"Generated video: {video['frames']} frames, {video['objects']} objects, {video['height']}x{video['width']}."
        )
        lines.append("")
        headers = [
            "round",
            "frame",
            "strokes",
            "max abs diff (float32)",
            "mask agreement",
            "pixels in (0.01, 0.99)",
        ]
        rows = [
            [
                r["round"],
                r["frame"],
                r["strokes"],
                f"{r['max_abs_diff_float32']:.2e}",
                f"{r['mask_agreement']:.6f}",
                f"{r['uncertain_pixels']:.3f}",
            ]
            for r in payload["rounds"]
        ]
        if all("max_abs_diff_float64_native" in r for r in payload["rounds"]):
            headers.append("native float64 vs authors float32")
            for row, r in zip(rows, payload["rounds"]):
                row.append(f"{r['max_abs_diff_float64_native']:.2e}")
        lines += [markdown_table(headers, [[str(c) for c in row] for row in rows]), ""]
        lines.append(f"Equal within tolerance: **{payload['equal']}**.")
    if payload.get("timing"):
        lines += ["", "## Seconds per round, 854x480, 10 frames, 1 object, CPU", ""]
        rows = [
            [t["code"], str(t["threads"]), f"{t['seconds']:.2f}", str(t["load"])] for t in payload["timing"]
        ]
        lines.append(markdown_table(["code", "threads", "seconds per round", "load average after"], rows))
        lines += [
            "",
            "One interaction and 9 propagation steps, each a ResNet encoder and decoder on the crop. The "
            "machine has 2 cores shared with other work: the load average shows how busy it was.",
        ]
    machine = payload["machine"]
    lines += [
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']}, "
        f"load {machine['load_average_at_start']} at start, {machine['date_utc']}.",
    ]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    if args.write_manifest:
        print(f"wrote {write_manifest(args)}")
        return 0
    torch.set_num_threads(1)
    payload = {
        "model": "ipn",
        "authors_repository": f"https://github.com/{AUTHORS_REPO}",
        "authors_commit": _commit(args),
        "tolerance": TOLERANCE,
        "machine": machine_description(),
    }
    previous = args.out_dir / "vos_native_equivalence_ipn.json"
    with tempfile.TemporaryDirectory(prefix="ipn-equivalence-") as tmp:
        if args.skip_equivalence:
            if not previous.is_file():
                raise SystemExit(f"--skip-equivalence needs an earlier result in {previous}")
            old = json.loads(previous.read_text())
            payload.update({k: old[k] for k in ("video", "rounds", "equal")})
            payload["machine_equivalence"] = old["machine"]
        else:
            payload.update(equivalence(args, Path(tmp)))
            payload["equal"] = all(r["max_abs_diff_float32"] <= TOLERANCE for r in payload["rounds"])
        if args.timing:
            payload["timing"] = timing(args, Path(tmp))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out_dir / "vos_native_equivalence_ipn.json", payload, indent=2)
    atomic_write_text(args.out_dir / "vos_native_equivalence_ipn.md", _markdown(payload) + "\n")
    print(_markdown(payload))
    return 0 if payload["equal"] else 1
