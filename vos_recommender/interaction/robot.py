"""Simulated user that corrects a segmentation with scribbles, after the DAVIS interactive robot.

For every label (background included) the robot looks at the pixels that belong to that label but
were predicted as something else, smooths that error region, takes its medial axis and draws the
longest path of each sizeable part of it as a stroke of that label. This reproduces the algorithm of
the DAVIS-2018 interactive track (Caelles et al., arXiv:1803.00557; robot defaults ``kernel_size=0.2``,
``max_kernel_radius=16``, ``min_nb_nodes=4``, ``nb_points=1000``) without its run-time clock: stroke
times here are simulated, so the same inputs and seed always give the same scribble. By default it
opens error regions and picks the worst frame as davisinteractive 1.0.4 does (its off-centre disk,
void pixels counted in J); ``opening_rule="centred"`` and ``void_rule="ignore"`` are the project's
variants.
"""

from __future__ import annotations

import zlib

import numpy as np

from vos_recommender.interaction.scribbles import Scribble, empty_scribble
from vos_recommender.interaction.skeleton import OPENING_RULES, longest_paths, open_region, smooth_path
from vos_recommender.metrics.jf import VOID_LABEL, VOID_RULES, db_eval_iou

__all__ = ["InteractiveRobot"]


class InteractiveRobot:
    """DAVIS-style scribble robot.

    Args:
        kernel_size: Opening radius as a fraction of ``sqrt(area)`` of the error region, halved
            (DAVIS interactive evaluation default 0.2).
        max_kernel_radius: Largest opening radius in pixels (DAVIS default 16).
        min_nb_nodes: Skeleton components with fewer pixels give no stroke (DAVIS default 4).
        nb_points: Maximum number of points per stroke (DAVIS default 1000).
        seed: Seed of the simulated drawing speed; the scribble is a function of
            ``(seed, sequence, frame, masks)`` only.
        ms_per_pixel: Mean simulated drawing time per pixel of stroke length.
        pause_ms: Simulated pause between strokes.
        opening_rule: How error regions are opened before skeletonising: ``"davis"`` (default, the
            DAVIS robot's off-centre disk) or ``"centred"``; see
            :data:`vos_recommender.interaction.skeleton.OPENING_RULES`.
        void_rule: How void pixels count in the J that picks the worst frame: ``"count"`` (default,
            davisinteractive's ``batched_jaccard``) or ``"ignore"``; see
            :data:`vos_recommender.metrics.jf.VOID_RULES`.
    """

    #: Changes whenever the same inputs would give other strokes, so stored scribbles of an older robot
    #: are not read back (2: regions that every opening erases give no stroke, as in the DAVIS robot;
    #: 3: the DAVIS robot's opening and void counting by default).
    ALGORITHM_VERSION = 3

    def __init__(
        self,
        kernel_size: float = 0.2,
        max_kernel_radius: float = 16,
        min_nb_nodes: int = 4,
        nb_points: int = 1000,
        seed: int = 0,
        ms_per_pixel: float = 3.0,
        pause_ms: float = 400.0,
        opening_rule: str = "davis",
        void_rule: str = "count",
    ) -> None:
        if not 0.0 <= kernel_size < 1.0:
            raise ValueError(f"kernel_size must lie in [0, 1), got {kernel_size}")
        if max_kernel_radius < 0:
            raise ValueError(f"max_kernel_radius must be >= 0, got {max_kernel_radius}")
        if min_nb_nodes < 1:
            raise ValueError(f"min_nb_nodes must be >= 1, got {min_nb_nodes}")
        if nb_points < 2:
            raise ValueError(f"nb_points must be >= 2, got {nb_points}")
        if opening_rule not in OPENING_RULES:
            raise ValueError(f"opening_rule must be one of {OPENING_RULES}, got {opening_rule!r}")
        if void_rule not in VOID_RULES:
            raise ValueError(f"void_rule must be one of {VOID_RULES}, got {void_rule!r}")
        self.opening_rule = opening_rule
        self.void_rule = void_rule
        self.kernel_size = float(kernel_size)
        self.max_kernel_radius = float(max_kernel_radius)
        self.min_nb_nodes = int(min_nb_nodes)
        self.nb_points = int(nb_points)
        self.seed = int(seed)
        self.ms_per_pixel = float(ms_per_pixel)
        self.pause_ms = float(pause_ms)

    def error_region(self, pred: np.ndarray, gt: np.ndarray, obj_id: int) -> np.ndarray:
        """Pixels of label ``obj_id`` that the prediction missed (void pixels never count)."""
        return (gt == obj_id) & (pred != obj_id) & (gt != VOID_LABEL)

    def strokes_for_frame(
        self, pred: np.ndarray, gt: np.ndarray, nb_objects: int
    ) -> list[tuple[int, np.ndarray]]:
        """Stroke paths for one frame, in pixel coordinates.

        Args:
            pred: ``H x W`` predicted labels.
            gt: ``H x W`` ground-truth labels (255 = void).
            nb_objects: Number of objects; labels ``0..nb_objects`` are corrected.

        Returns:
            List of ``(object_id, path)`` with ``path`` an ``N x 2`` float array of ``(x, y)`` pixels.
        """
        strokes: list[tuple[int, np.ndarray]] = []
        for obj_id in range(nb_objects + 1):
            error = self.error_region(pred, gt, obj_id)
            if not error.any():
                continue
            region = open_region(error, self.kernel_size, self.max_kernel_radius, rule=self.opening_rule)
            for path in longest_paths(region, self.min_nb_nodes):
                strokes.append((obj_id, smooth_path(path, self.nb_points)))
        return strokes

    def interact(
        self,
        sequence: str,
        pred_masks: np.ndarray,
        gt_masks: np.ndarray,
        frame: int | None = None,
        nb_objects: int | None = None,
    ) -> Scribble:
        """Scribble that corrects the prediction on one frame.

        Args:
            sequence: Sequence name, written into the scribble.
            pred_masks: ``T x H x W`` predicted labels.
            gt_masks: ``T x H x W`` ground-truth labels (0 = background, 255 = void).
            frame: Frame to correct. ``None`` picks the frame with the lowest object-averaged J, as
                the DAVIS evaluation server does by default (void pixels as ``void_rule`` says).
            nb_objects: Number of objects; ``None`` takes the largest non-void id in ``gt_masks``.

        Returns:
            A DAVIS scribble dictionary whose strokes all lie on ``frame`` (none when the prediction
            on that frame is already perfect), with ``annotated_frame`` set.
        """
        pred_masks = np.asarray(pred_masks)
        gt_masks = np.asarray(gt_masks)
        if pred_masks.shape != gt_masks.shape or gt_masks.ndim != 3:
            raise ValueError(
                f"pred_masks and gt_masks must both be T x H x W, got {pred_masks.shape} and {gt_masks.shape}"
            )
        num_frames, height, width = gt_masks.shape
        if nb_objects is None:
            labels = np.unique(gt_masks)
            labels = labels[labels != VOID_LABEL]
            nb_objects = int(labels.max()) if labels.size else 0
        if frame is None:
            frame = self.worst_frame(pred_masks, gt_masks, nb_objects, self.void_rule)
        frame = int(frame)
        if not 0 <= frame < num_frames:
            raise IndexError(f"frame {frame} outside a sequence of {num_frames} frames")

        scribble = empty_scribble(sequence, num_frames)
        scribble["annotated_frame"] = frame
        rng = np.random.default_rng([self.seed, zlib.crc32(sequence.encode("utf-8")), frame])
        clock_ms = 0.0
        scale = np.array([width, height], dtype=np.float64)
        for obj_id, path in self.strokes_for_frame(pred_masks[frame], gt_masks[frame], nb_objects):
            length = float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum()) if len(path) > 1 else 1.0
            duration = max(50.0, length * self.ms_per_pixel * rng.uniform(0.7, 1.3))
            scribble["scribbles"][frame].append(
                {
                    # Normalised by (W, H) as the DAVIS robot does: x = column / width.
                    "path": (path / scale).tolist(),
                    "object_id": int(obj_id),
                    "start_time": int(round(clock_ms)),
                    "end_time": int(round(clock_ms + duration)),
                }
            )
            clock_ms += duration + self.pause_ms * rng.uniform(0.5, 1.5)
        return scribble

    @staticmethod
    def worst_frame(
        pred_masks: np.ndarray, gt_masks: np.ndarray, nb_objects: int, void_rule: str = "count"
    ) -> int:
        """Index of the frame with the lowest J averaged over objects (first one on ties).

        ``void_rule="count"`` compares void pixels like any other, as davisinteractive's
        ``batched_jaccard``; ``"ignore"`` leaves them out.
        """
        if void_rule not in VOID_RULES:
            raise ValueError(f"void_rule must be one of {VOID_RULES}, got {void_rule!r}")
        scores = []
        for t in range(gt_masks.shape[0]):
            void = gt_masks[t] == VOID_LABEL if void_rule == "ignore" else None
            per_object = [
                db_eval_iou(gt_masks[t] == k, pred_masks[t] == k, void) for k in range(1, nb_objects + 1)
            ]
            scores.append(np.mean(per_object) if per_object else 1.0)
        return int(np.argmin(scores))
