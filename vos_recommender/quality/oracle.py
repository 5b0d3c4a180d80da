"""The oracle quality source: the true per-frame J&F, averaged over objects."""

from __future__ import annotations

import abc

import numpy as np

from vos_recommender.backends.base import VOSResult
from vos_recommender.metrics.jf import per_frame_jf

__all__ = ["OracleQuality", "QualitySource"]


class QualitySource(abc.ABC):
    """Maps a VOS result to a per-frame quality in ``[0, 1]``."""

    name: str = "base"
    needs_ground_truth: bool = False

    @abc.abstractmethod
    def __call__(
        self, frames: np.ndarray, result: VOSResult, gt_masks: np.ndarray | None, num_objects: int
    ) -> np.ndarray:
        """Return the length-``T`` float32 quality of every frame.

        Args:
            frames: ``T x H x W x 3`` uint8 frames.
            result: The backend's output of the round.
            gt_masks: ``T x H x W`` ground-truth labels (required by the oracle only).
            num_objects: Number of objects ``O``.
        """


class OracleQuality(QualitySource):
    """True per-frame J&F of the label masks, averaged over objects (the paper's oracle setting)."""

    name = "oracle"
    needs_ground_truth = True

    def __call__(
        self, frames: np.ndarray, result: VOSResult, gt_masks: np.ndarray | None, num_objects: int
    ) -> np.ndarray:
        """Per-frame J&F; see :meth:`QualitySource.__call__`.

        Raises:
            ValueError: If ``gt_masks`` is None.
        """
        if gt_masks is None:
            raise ValueError("the oracle quality source needs the ground-truth masks")
        return per_frame_jf(gt_masks, result.masks, num_objects)["JF"].astype(np.float32)
