"""Generate a segmentation dataset in which object-level context decides the class.

Every scene holds a few objects drawn over a textured background. Objects of all classes share one pool
of textures, so the texture says nothing about the class. The class of an object is told only by a small
coloured *cue* (a disk) placed somewhere inside it; the object's outline is drawn dark so its extent is
easy to see. A head that only looks at a small neighbourhood can label the pixels near the cue but not
the rest of the object; a head that pools context over the whole object can label all of it.

Two scene kinds (``--scene``, :attr:`SceneConfig.scene`; see :mod:`.scenes` and :mod:`.object_scenes`):
``context`` (the default) places objects independently, each with its own texture, so "pixels that look
alike" already isolate an object; ``objects`` draws a cluster of touching objects of different classes
that all share one texture, so only the outline tells them apart and the pixel's own object is the
region to pool over (proved by :mod:`.oracles`).

Difficulty knobs (all in :class:`SceneConfig`): ``cue_radius`` (smaller = more context needed),
``object_radius`` range (bigger objects = more context needed), ``num_objects`` range, ``noise_std`` and
``cue_jitter`` (colour noise on the cue). The generator writes ``meta.json`` next to the data with the
settings and a measured difficulty statistic: the mean distance, in pixels and in stride-8 feature cells,
from an object pixel to its cue.

Layout written (mmseg's standard one, used by :class:`SyntheticContextDataset`)::

    <out>/img_dir/{train,val}/<name>.png   RGB images
    <out>/ann_dir/{train,val}/<name>.png   uint8 labels (0 = background, 1..4 = object classes)
    <out>/obj_dir/{train,val}/<name>.png   uint8 object ids (0 = background; objects scenes only)
    <out>/meta.json

Command line::

    python -m mmseg_ranet.datasets.generate --out data/synthetic_context --num-train 400 --num-val 100
    python -m mmseg_ranet.datasets.generate --scene objects --out data/synthetic_objects
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

from ..utils.atomic import atomic_write_bytes
from .object_scenes import draw_object_scene
from .scenes import SCENES, Scene, SceneConfig, SceneObject, draw_context_scene, generate_scene
from .synthetic_classes import CLASSES, CUE_COLOURS, PALETTE

__all__ = [
    "CLASSES",
    "CUE_COLOURS",
    "PALETTE",
    "SCENES",
    "Scene",
    "SceneConfig",
    "SceneObject",
    "draw_scene",
    "generate_dataset",
    "generate_scene",
    "main",
]


def draw_scene(cfg: SceneConfig, rng: np.random.Generator) -> Scene:
    """Draw one scene of the kind ``cfg.scene``."""
    return draw_object_scene(cfg, rng) if cfg.scene == "objects" else draw_context_scene(cfg, rng)


def _write_png(path: Path, array: np.ndarray) -> None:
    # cv2 writes BGR; the images are generated as RGB.
    data = cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if array.ndim == 3 else array
    if not cv2.imwrite(str(path), data):
        raise OSError(f"could not write {path}")


def _touching(scene: Scene) -> int:
    """How many objects of ``scene`` touch another one (share a border, outline to outline)."""
    count = 0
    for k in range(1, len(scene.objects) + 1):
        ring = ndimage.binary_dilation(scene.object_ids == k) & (scene.object_ids != k)
        count += int((scene.object_ids[ring] > 0).any())
    return count


def generate_dataset(
    out: str | os.PathLike, num_train: int = 400, num_val: int = 100, cfg: SceneConfig | None = None
) -> Path:
    """Write a dataset in mmseg's layout and return its root.

    Images of split ``s`` with index ``i`` are drawn from a generator seeded by ``(cfg.seed, s, i)``, so a
    file's content does not depend on how many files are written.

    Args:
        out: Output root (created if needed). Existing files with the same names are overwritten.
        num_train: Number of training images.
        num_val: Number of validation images.
        cfg: Scene settings; defaults to :class:`SceneConfig`'s defaults (``context`` scenes).
    """
    cfg = cfg or SceneConfig()
    cfg.validate()
    if num_train < 1 or num_val < 1:
        raise ValueError(f"num_train and num_val must be >= 1, got {num_train} and {num_val}")
    root = Path(out)
    # Object-id maps are written for objects scenes only, so the default output stays what it was.
    with_ids = cfg.scene == "objects"
    stats: dict[str, dict[str, float]] = {}
    for split_id, (split, count) in enumerate((("train", num_train), ("val", num_val))):
        folders = ("img_dir", "ann_dir") + (("obj_dir",) if with_ids else ())
        for folder in folders:
            (root / folder / split).mkdir(parents=True, exist_ok=True)
        distances: list[float] = []
        touching = 0
        counts = np.zeros(len(CLASSES), np.int64)
        for i in range(count):
            scene = draw_scene(cfg, np.random.default_rng([cfg.seed, split_id, i]))
            name = f"{split}_{i:05d}.png"
            _write_png(root / "img_dir" / split / name, scene.image)
            _write_png(root / "ann_dir" / split / name, scene.label)
            if with_ids:
                _write_png(root / "obj_dir" / split / name, scene.object_ids)
                touching += _touching(scene)
            distances.extend(o.mean_cue_distance for o in scene.objects)
            counts += np.bincount(scene.label.ravel(), minlength=len(CLASSES))
        stats[split] = {
            "images": count,
            "objects": len(distances),
            "mean_cue_distance_px": float(np.mean(distances)) if distances else 0.0,
            "mean_cue_distance_stride8": float(np.mean(distances)) / 8 if distances else 0.0,
            "class_pixel_fraction": dict(zip(CLASSES, (counts / counts.sum()).round(4).tolist())),
        }
        if with_ids:
            stats[split]["touching_object_fraction"] = round(touching / max(len(distances), 1), 4)
    # meta.json is written last and atomically: its presence marks a complete dataset (the Makefile's
    # target), so the PNGs above need no atomic writes of their own; an interrupted run is redone.
    meta = {"classes": CLASSES, "palette": PALETTE, "config": dataclasses.asdict(cfg), "stats": stats}
    atomic_write_bytes(json.dumps(meta, indent=2).encode(), root / "meta.json")
    return root


def _range(text: str) -> tuple[int, int]:
    parts = [int(p) for p in text.split(",")]
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected 'lo,hi' or a single integer, got {text!r}")
    return parts[0], parts[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scene", choices=SCENES, default="context", help="scene kind; sets the defaults of the knobs below"
    )
    parser.add_argument("--out", help="output root (default data/synthetic_<scene>)")
    parser.add_argument("--num-train", type=int, default=400, help="number of training images")
    parser.add_argument("--num-val", type=int, default=100, help="number of validation images")
    # The knobs default to None so that a value not given keeps the scene preset's own default.
    parser.add_argument("--size", type=int, help="image size in pixels (default 128)")
    parser.add_argument("--num-objects", type=_range, help="objects per image, lo,hi")
    parser.add_argument("--object-radius", type=_range, help="object radius, lo,hi")
    parser.add_argument("--cue-radius", type=int, help="class cue radius in pixels (default 3)")
    parser.add_argument("--num-textures", type=int, help="shared texture pool size (context scenes)")
    parser.add_argument("--noise-std", type=float, help="pixel noise std (0-255, default 8)")
    parser.add_argument("--seed", type=int, help="dataset seed (default 0)")
    args = parser.parse_args(argv)
    knobs = ("size", "num_objects", "object_radius", "cue_radius", "num_textures", "noise_std", "seed")
    overrides = {key: getattr(args, key) for key in knobs if getattr(args, key) is not None}
    out = args.out or f"data/synthetic_{args.scene}"
    try:
        cfg = SceneConfig.preset(args.scene, **overrides)
        root = generate_dataset(out, args.num_train, args.num_val, cfg)
    except ValueError as err:
        parser.error(str(err))
    stats = json.loads((root / "meta.json").read_text())["stats"]
    print(
        f"wrote {args.num_train} train and {args.num_val} val images to {root} "
        f"(mean cue distance {stats['train']['mean_cue_distance_px']:.1f} px)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
