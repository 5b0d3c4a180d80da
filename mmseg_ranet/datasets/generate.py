"""Generate a segmentation dataset in which object-level context decides the class.

Every scene holds a few objects drawn over a textured background. Objects of all classes share one pool
of textures, so the texture says nothing about the class. The class of an object is told only by a small
coloured *cue* (a disk) placed somewhere inside it; the object's outline is drawn dark so its extent is
easy to see. A head that only looks at a small neighbourhood can label the pixels near the cue but not
the rest of the object; a head that pools context over the whole object can label all of it.

Difficulty knobs (all in :class:`SceneConfig`): ``cue_radius`` (smaller = more context needed),
``object_radius`` range (bigger objects = more context needed), ``num_objects`` range, ``noise_std`` and
``cue_jitter`` (colour noise on the cue). The generator writes ``meta.json`` next to the data with the
settings and a measured difficulty statistic: the mean distance, in pixels and in stride-8 feature cells,
from an object pixel to its cue.

Layout written (mmseg's standard one, used by :class:`SyntheticContextDataset`)::

    <out>/img_dir/{train,val}/<name>.png   RGB images
    <out>/ann_dir/{train,val}/<name>.png   uint8 labels (0 = background, 1..4 = object classes)
    <out>/meta.json

Command line::

    python -m mmseg_ranet.datasets.generate --out data/synthetic_context --num-train 400 --num-val 100
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

from ..utils.atomic import atomic_write_bytes
from .synthetic_classes import CLASSES, CUE_COLOURS, PALETTE


@dataclass
class SceneConfig:
    """Settings of the scene generator. Every random choice is drawn from ``seed``.

    Attributes:
        size: Image height and width in pixels.
        num_objects: Inclusive range of the number of objects per image.
        object_radius: Inclusive range of the mean object radius in pixels.
        cue_radius: Radius of the class cue disk in pixels (the "context needed" knob).
        num_textures: Size of the texture pool shared by all classes.
        noise_std: Standard deviation of the Gaussian pixel noise (0-255 scale).
        cue_jitter: Standard deviation of the per-object colour noise added to the cue colour.
        outline: Width of the dark object outline in pixels (0 disables it).
        seed: Seed of the whole dataset.
    """

    size: int = 128
    num_objects: tuple[int, int] = (2, 4)
    object_radius: tuple[int, int] = (18, 30)
    cue_radius: int = 3
    num_textures: int = 6
    noise_std: float = 8.0
    cue_jitter: float = 10.0
    outline: int = 1
    seed: int = 0
    num_classes: int = field(default=len(CLASSES), init=False)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the setting that is out of range."""
        if self.size < 32:
            raise ValueError(f"size must be >= 32 pixels, got {self.size}")
        lo, hi = self.num_objects
        if not 1 <= lo <= hi:
            raise ValueError(f"num_objects must be a range 1 <= lo <= hi, got {self.num_objects}")
        rlo, rhi = self.object_radius
        if not 4 <= rlo <= rhi or 2 * rhi >= self.size:
            raise ValueError(
                f"object_radius must satisfy 4 <= lo <= hi < size / 2, got {self.object_radius} "
                f"for size {self.size}"
            )
        if not 1 <= self.cue_radius < rlo:
            raise ValueError(
                f"cue_radius must be >= 1 and smaller than the smallest object radius {rlo}, "
                f"got {self.cue_radius}"
            )
        if self.num_textures < 1:
            raise ValueError(f"num_textures must be >= 1, got {self.num_textures}")
        if self.noise_std < 0 or self.cue_jitter < 0:
            raise ValueError("noise_std and cue_jitter must be >= 0")


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random RGB texture (float32, H x W x 3 in 0..255): stripes, checks, dots or smooth blobs."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    kind = rng.integers(4)
    c1, c2 = rng.uniform(40, 215, size=(2, 3)).astype(np.float32)
    if kind == 0:  # oriented stripes
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(4, 10)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)
    elif kind == 1:  # checkerboard
        period = int(rng.integers(3, 8))
        t = ((xx // period + yy // period) % 2).astype(np.float32)
    elif kind == 2:  # dots on a grid
        period = rng.uniform(5, 10)
        t = (np.hypot((xx % period) - period / 2, (yy % period) - period / 2) < period / 4).astype(np.float32)
    else:  # smooth random blobs
        t = ndimage.gaussian_filter(
            rng.standard_normal((size, size)).astype(np.float32), sigma=rng.uniform(2, 4)
        )
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    return c1 * t[..., None] + c2 * (1 - t[..., None])


def _object_mask(rng: np.random.Generator, size: int, radius: float) -> np.ndarray:
    """A random star-shaped polygon (bool H x W) fully inside the image."""
    margin = int(np.ceil(radius * 1.3)) + 1
    cx, cy = rng.integers(margin, size - margin, size=2)
    n = int(rng.integers(6, 12))
    angles = np.sort(rng.uniform(0, 2 * np.pi, size=n))
    radii = radius * rng.uniform(0.7, 1.3, size=n)
    pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    return mask.astype(bool)


@dataclass
class SceneObject:
    """One object of a scene, as drawn."""

    class_id: int
    texture_id: int
    cue_center: tuple[int, int]  # (row, col)
    mean_cue_distance: float  # mean distance in pixels from the object's visible pixels to the cue centre


def generate_scene(
    cfg: SceneConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, list[SceneObject]]:
    """Draw one scene.

    Returns:
        ``(image, label, objects)``: uint8 RGB image (H x W x 3), uint8 label map (H x W) and the visible
        objects with their cue positions.
    """
    size = cfg.size
    textures = [_texture(rng, size) for _ in range(cfg.num_textures)]
    # The background uses its own low-contrast texture so that objects stand out by their outline.
    image = 0.35 * _texture(rng, size) + 0.65 * 110.0
    label = np.zeros((size, size), np.uint8)
    owner = np.full((size, size), -1, np.int32)
    objects: list[tuple[int, int]] = []  # (class id, texture id)
    for idx in range(int(rng.integers(cfg.num_objects[0], cfg.num_objects[1] + 1))):
        mask = _object_mask(rng, size, rng.uniform(*cfg.object_radius))
        cls = int(rng.integers(1, len(CLASSES)))
        objects.append((cls, int(rng.integers(cfg.num_textures))))
        owner[mask] = idx  # later objects occlude earlier ones
    drawn: list[SceneObject] = []
    yy, xx = np.mgrid[0:size, 0:size]
    for idx, (cls, tex) in enumerate(objects):
        visible = owner == idx
        # A cue must fit entirely inside the visible part, away from the outline.
        inner = ndimage.distance_transform_edt(visible) > cfg.cue_radius + cfg.outline + 1
        if not inner.any():
            owner[visible] = -1  # fully occluded or too thin to carry a cue: becomes background
            continue
        image[visible] = textures[tex][visible]
        label[visible] = cls
        candidates = np.flatnonzero(inner)
        cy, cx = np.unravel_index(candidates[rng.integers(len(candidates))], inner.shape)
        colour = np.clip(np.array(CUE_COLOURS[cls], np.float32) + rng.normal(0, cfg.cue_jitter, 3), 0, 255)
        cue = (yy - cy) ** 2 + (xx - cx) ** 2 <= cfg.cue_radius**2
        image[cue] = colour
        distance = float(np.hypot(yy[visible] - cy, xx[visible] - cx).mean())
        drawn.append(SceneObject(cls, tex, (int(cy), int(cx)), distance))
        if cfg.outline > 0:
            eroded = ndimage.binary_erosion(visible, iterations=cfg.outline)
            image[visible & ~eroded] = 20.0
    image = image + rng.normal(0, cfg.noise_std, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), label, drawn


def _write_png(path: Path, array: np.ndarray) -> None:
    # cv2 writes BGR; the images are generated as RGB.
    data = cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if array.ndim == 3 else array
    if not cv2.imwrite(str(path), data):
        raise OSError(f"could not write {path}")


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
        cfg: Scene settings; defaults to :class:`SceneConfig`'s defaults.
    """
    cfg = cfg or SceneConfig()
    cfg.validate()
    if num_train < 1 or num_val < 1:
        raise ValueError(f"num_train and num_val must be >= 1, got {num_train} and {num_val}")
    root = Path(out)
    stats: dict[str, dict[str, float]] = {}
    for split_id, (split, count) in enumerate((("train", num_train), ("val", num_val))):
        img_dir, ann_dir = root / "img_dir" / split, root / "ann_dir" / split
        img_dir.mkdir(parents=True, exist_ok=True)
        ann_dir.mkdir(parents=True, exist_ok=True)
        distances: list[float] = []
        counts = np.zeros(len(CLASSES), np.int64)
        for i in range(count):
            rng = np.random.default_rng([cfg.seed, split_id, i])
            image, label, objects = generate_scene(cfg, rng)
            name = f"{split}_{i:05d}.png"
            _write_png(img_dir / name, image)
            _write_png(ann_dir / name, label)
            distances.extend(o.mean_cue_distance for o in objects)
            counts += np.bincount(label.ravel(), minlength=len(CLASSES))
        stats[split] = {
            "images": count,
            "objects": len(distances),
            "mean_cue_distance_px": float(np.mean(distances)) if distances else 0.0,
            "mean_cue_distance_stride8": float(np.mean(distances)) / 8 if distances else 0.0,
            "class_pixel_fraction": dict(zip(CLASSES, (counts / counts.sum()).round(4).tolist())),
        }
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
    parser.add_argument("--out", default="data/synthetic_context", help="output root")
    parser.add_argument("--num-train", type=int, default=400, help="number of training images")
    parser.add_argument("--num-val", type=int, default=100, help="number of validation images")
    defaults = SceneConfig()
    parser.add_argument("--size", type=int, default=defaults.size, help="image size in pixels")
    parser.add_argument(
        "--num-objects", type=_range, default=defaults.num_objects, help="objects per image, lo,hi"
    )
    parser.add_argument(
        "--object-radius", type=_range, default=defaults.object_radius, help="object radius, lo,hi"
    )
    parser.add_argument(
        "--cue-radius", type=int, default=defaults.cue_radius, help="class cue radius in pixels"
    )
    parser.add_argument(
        "--num-textures", type=int, default=defaults.num_textures, help="shared texture pool size"
    )
    parser.add_argument("--noise-std", type=float, default=defaults.noise_std, help="pixel noise std (0-255)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="dataset seed")
    args = parser.parse_args(argv)
    cfg = SceneConfig(
        size=args.size,
        num_objects=args.num_objects,
        object_radius=args.object_radius,
        cue_radius=args.cue_radius,
        num_textures=args.num_textures,
        noise_std=args.noise_std,
        seed=args.seed,
    )
    try:
        root = generate_dataset(args.out, args.num_train, args.num_val, cfg)
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
