"""Training videos at the networks' resolution, and the simulated wrong masks training samples start from.

Shared by the ``learned`` backend's training (:mod:`vos_recommender.training.learned`) and the native
models' samples (:mod:`vos_recommender.training.native.samples`), so both see the same data and the same
perturbations of a previous result.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from vos_recommender.data.davis import DavisDataset

__all__ = ["Video", "load_videos", "perturb_mask", "soften"]


class Video:
    """A training video at full resolution (for scribbles) and at network resolution (for the nets)."""

    def __init__(
        self, name: str, frames: np.ndarray, masks: np.ndarray, num_objects: int, scale: float
    ) -> None:
        self.name = name
        self.full_masks = masks
        self.num_objects = num_objects
        _, height, width, _ = frames.shape
        self.size = (max(8, round(height * scale)), max(8, round(width * scale)))
        h, w = self.size
        self.frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames]).astype(
            np.float32
        )
        self.frames /= 255.0
        self.masks = np.stack([cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST) for m in masks])


def load_videos(root: str, split: str, scale: float) -> list[Video]:
    """Read every video of a split (frames and masks also down-scaled to the network resolution)."""
    dataset = DavisDataset(root, split=split)
    videos = [
        Video(sample.name, sample.frames, sample.masks, int(sample.num_objects), scale)
        for sample in (dataset[i] for i in range(len(dataset.sequences)))
    ]
    if not videos:
        raise RuntimeError(f"no videos found in split {split!r} of {root}")
    return videos


def perturb_mask(mask: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """A plausible wrong result for a binary mask: shifted, dilated or eroded (still binary)."""
    out = mask.astype(bool)
    dy, dx = np.rint(rng.integers(-4, 5, size=2) * strength).astype(int)
    out = ndimage.shift(out.astype(np.uint8), (dy, dx), order=0, mode="constant").astype(bool)
    grow = int(round(rng.integers(-2, 3) * strength))
    if grow > 0:
        out = ndimage.binary_dilation(out, iterations=grow)
    elif grow < 0:
        out = ndimage.binary_erosion(out, iterations=-grow)
    return out


def soften(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A binary mask turned into a soft probability map (blurred edges)."""
    return np.clip(cv2.GaussianBlur(mask.astype(np.float32), (5, 5), rng.uniform(0.5, 1.5)), 0.0, 1.0)
