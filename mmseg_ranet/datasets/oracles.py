"""Pooling oracles: how well a pixel's class follows from the cues inside a given pooling region.

No training: every oracle is computed from what the generator knows (cue positions, object ids). Each
one pools the cue *votes* (the number of cue pixels of each class) over a region around the pixel and
predicts the class with the most votes. The background is granted to every oracle (it has its own
texture and is told locally), so the numbers measure only how well the object classes are found:

* ``object``: the pixel's own object (its ground-truth object id). The cue is always there: the ceiling.
* ``object, stride-8 cells``: the same on the stride-8 grid (each cell takes its centre pixel's object;
  the cell's prediction is copied to its 8 x 8 pixels), the ceiling of a region method at that stride.
* ``same texture``: every object pixel of the image showing the pixel's texture. Class-level context
  (OCRNet's soft object regions) pools over the predicted class region; before the class is known, the
  pixels a head can group are the ones that look alike, so this is the fair best case of class pooling.
* ``touching cluster``: the connected component of the foreground: a region builder that ignores
  outlines merges touching objects into one region.
* ``image``: all object pixels of the image (image-level pooling, e.g. PSPNet's global bin).
* ``window W``: a W x W window centred on the pixel (what a local head sees); with no cue in the window
  the oracle falls back on the image pooling.
* ``nearest cue``: the class of the nearest cue pixel (a pixel joins the closest cue, outlines ignored).

Command line (the numbers quoted in docs/segmentation.md)::

    python -m mmseg_ranet.datasets.oracles --scene objects --num 200
"""

from __future__ import annotations

import argparse
import sys

import cv2
import numpy as np
from scipy import ndimage

from .scenes import Scene, SceneConfig
from .synthetic_classes import CLASSES

#: Window sizes (pixels) of the window oracles: 3, 5 and 9 stride-8 cells.
WINDOWS: tuple[int, ...] = (24, 40, 72)
STRIDE = 8


def _votes(cue: np.ndarray, regions: np.ndarray, num_regions: int) -> np.ndarray:
    """Cue pixels of each class in each region: int array (num_regions x num_classes)."""
    votes = np.zeros((num_regions, len(CLASSES)), np.int64)
    on = cue > 0
    np.add.at(votes, (regions[on], cue[on]), 1)
    return votes


def _decide(votes: np.ndarray, fallback: int) -> np.ndarray:
    """The class with the most votes per row (lowest class id on ties), ``fallback`` for rows without."""
    best = votes[:, 1:].argmax(1) + 1
    return np.where(votes[:, 1:].sum(1) > 0, best, fallback)


def pool_regions(cue: np.ndarray, regions: np.ndarray, fallback: int = 1) -> np.ndarray:
    """Predicted class map: the majority cue class of each pixel's region (``regions`` >= 0 ids)."""
    num = int(regions.max()) + 1
    return _decide(_votes(cue, regions, num), fallback)[regions]


def image_class(cue: np.ndarray) -> int:
    """The majority cue class of the whole image (1 if the image has no cue)."""
    return int(_decide(_votes(cue, np.zeros_like(cue, np.int64), 1), 1)[0])


def pool_window(cue: np.ndarray, window: int) -> np.ndarray:
    """Predicted class map: the majority cue class in the ``window`` x ``window`` box around each pixel."""
    box = dict(ksize=(window, window), normalize=False, borderType=cv2.BORDER_CONSTANT)
    counts = [cv2.boxFilter((cue == k).astype(np.float32), -1, **box) for k in range(len(CLASSES))]
    votes = np.rint(np.stack(counts, axis=-1)).astype(np.int64).reshape(-1, len(CLASSES))
    return _decide(votes, image_class(cue)).reshape(cue.shape)


def nearest_cue(cue: np.ndarray) -> np.ndarray:
    """Predicted class map: the class of the nearest cue pixel."""
    if not (cue > 0).any():
        return np.ones_like(cue)
    _, (rows, cols) = ndimage.distance_transform_edt(cue == 0, return_indices=True)
    return cue[rows, cols]


def object_cells(object_ids: np.ndarray, cue: np.ndarray) -> np.ndarray:
    """The object oracle on the stride-8 grid, copied back to pixels."""
    h, w = object_ids.shape
    centre = STRIDE // 2
    cells = object_ids[centre::STRIDE, centre::STRIDE]
    per_object = _decide(_votes(cue, object_ids.astype(np.int64), int(object_ids.max()) + 1), 1)
    cell_class = np.where(cells > 0, per_object[cells], 0)
    return np.repeat(np.repeat(cell_class, STRIDE, 0), STRIDE, 1)[:h, :w]


def oracle_predictions(scene: Scene, cue_radius: int) -> dict[str, np.ndarray]:
    """Every oracle's predicted class map for one scene (background copied from the label)."""
    cue = scene.cue_map(cue_radius)
    foreground = scene.label > 0
    texture_groups = np.where(foreground, scene.texture_ids() + 1, 0)
    clusters, _ = ndimage.label(foreground)
    preds = {
        "object": pool_regions(cue, scene.object_ids.astype(np.int64)),
        "object, stride-8 cells": object_cells(scene.object_ids, cue),
        "same texture": pool_regions(cue, texture_groups),
        "touching cluster": pool_regions(cue, clusters),
        "image": np.full(cue.shape, image_class(cue)),
        **{f"window {w}": pool_window(cue, w) for w in WINDOWS},
        "nearest cue": nearest_cue(cue),
    }
    # The background is granted to every oracle but the stride-8 one: there, a cell on an object's border
    # that takes the background is part of the loss being measured.
    for name, pred in preds.items():
        if name != "object, stride-8 cells":
            preds[name] = np.where(foreground, pred, 0)
    return preds


def confusion(label: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Confusion matrix (num_classes x num_classes), rows = ground truth."""
    n = len(CLASSES)
    return np.bincount(label.ravel().astype(np.int64) * n + pred.ravel(), minlength=n * n).reshape(n, n)


def scores(matrix: np.ndarray) -> dict[str, float]:
    """Object-pixel accuracy (background rows left out) and mIoU over the classes present."""
    tp = np.diag(matrix).astype(np.float64)
    union = matrix.sum(0) + matrix.sum(1) - tp
    present = matrix.sum(1) > 0
    return {
        "object_pixel_accuracy": float(tp[1:].sum() / max(matrix[1:].sum(), 1)),
        "mIoU": float((tp[present] / union[present]).mean()),
    }


def measure(scenes, cue_radius: int) -> dict[str, dict[str, float]]:
    """Scores of every oracle over ``scenes`` (an iterable of :class:`Scene`)."""
    totals: dict[str, np.ndarray] = {}
    for scene in scenes:
        for name, pred in oracle_predictions(scene, cue_radius).items():
            totals[name] = totals.get(name, 0) + confusion(scene.label, pred)
    return {name: scores(matrix) for name, matrix in totals.items()}


def draw_scenes(cfg: SceneConfig, num: int, split: int = 1):
    """The scenes ``generate_dataset`` writes as the first ``num`` images of a split (1 = val)."""
    from .generate import draw_scene

    for i in range(num):
        yield draw_scene(cfg, np.random.default_rng([cfg.seed, split, i]))


def markdown(results: dict[str, dict[str, float]]) -> str:
    """The oracle table in Markdown, ratios relative to the object oracle's accuracy."""
    top = results["object"]["object_pixel_accuracy"]
    lines = [
        "| pooling region | object-pixel accuracy | mIoU | accuracy / object oracle |",
        "|---|---|---|---|",
    ]
    for name, s in results.items():
        acc = s["object_pixel_accuracy"]
        lines.append(f"| {name} | {acc:.3f} | {s['mIoU']:.3f} | {acc / top:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scene", default="objects", help="scene kind (context or objects)")
    parser.add_argument("--num", type=int, default=200, help="number of val scenes to measure")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed")
    args = parser.parse_args(argv)
    try:
        cfg = SceneConfig.preset(args.scene, seed=args.seed)
    except ValueError as err:
        parser.error(str(err))
    if args.num < 1:
        parser.error(f"--num must be >= 1, got {args.num}")
    print(markdown(measure(draw_scenes(cfg, args.num), cfg.cue_radius)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
