"""Training losses of the RANet head: segmentation and boundary losses of both branches."""

from __future__ import annotations

import torch
from mmseg.models.losses import accuracy
from mmseg.models.utils import resize
from mmseg.utils import SampleList
from torch import Tensor


class RANetLossMixin:
    """``loss_by_feat`` of :class:`RANetHead`, kept apart from the head's wiring.

    Mixed into ``RANetHead`` ahead of ``BaseDecodeHead``; it reads the head's loss modules
    (``loss_decode``, ``loss_stage3``, ``loss_boundary``, ``loss_stage3_boundary``), ``sampler``,
    ``ignore_index``, ``boundary_ignore_index`` and ``align_corners``, and the optional
    ``loss_partition`` on the region decision of ``region_construction`` (computed on the region grid
    from the stage-3 logits, which ``forward`` returns at that grid).
    """

    def _stack_boundary_gt(self, batch_data_samples: SampleList) -> Tensor:
        missing = [i for i, sample in enumerate(batch_data_samples) if "gt_edge_map" not in sample]
        if missing:
            raise KeyError(
                "RANetHead needs boundary labels 'gt_edge_map' in training; add "
                "dict(type='GenerateRegionBoundary') after the augmentations of the train pipeline "
                f"(missing in samples {missing})"
            )
        return torch.stack([sample.gt_edge_map.data for sample in batch_data_samples], dim=0)

    def loss_by_feat(
        self, seg_logits: tuple[Tensor, Tensor, Tensor, Tensor], batch_data_samples: SampleList
    ) -> dict:
        """Segmentation losses of the final and stage-3 logits and boundary losses of both branches.

        Args:
            seg_logits (tuple[Tensor]): The training outputs of :meth:`forward`.
            batch_data_samples (list[SegDataSample]): Samples with ``gt_sem_seg`` and ``gt_edge_map``.

        Returns:
            dict[str, Tensor]: The losses keyed by their ``loss_name`` and ``acc_seg``.
        """
        final_logits, stage3_logits, boundary_logits, stage3_boundary_logits = seg_logits
        seg_label = self._stack_batch_gt(batch_data_samples)
        boundary_label = self._stack_boundary_gt(batch_data_samples).squeeze(1)
        size = seg_label.shape[2:]

        def upsample(logits: Tensor) -> Tensor:
            return resize(logits, size=size, mode="bilinear", align_corners=self.align_corners)

        final_logits = upsample(final_logits)
        seg_weight = self.sampler.sample(final_logits, seg_label) if self.sampler is not None else None
        seg_label = seg_label.squeeze(1)
        losses: dict[str, Tensor] = {}
        for loss in self._final_losses():
            losses[loss.loss_name] = loss(
                final_logits, seg_label, weight=seg_weight, ignore_index=self.ignore_index
            )
        losses[self.loss_stage3.loss_name] = self.loss_stage3(
            upsample(stage3_logits), seg_label, weight=seg_weight, ignore_index=self.ignore_index
        )
        losses[self.loss_boundary.loss_name] = self.loss_boundary(
            upsample(boundary_logits), boundary_label, ignore_index=self.boundary_ignore_index
        )
        losses[self.loss_stage3_boundary.loss_name] = self.loss_stage3_boundary(
            upsample(stage3_boundary_logits), boundary_label, ignore_index=self.boundary_ignore_index
        )
        if self.loss_partition is not None:
            losses[self.loss_partition.loss_name] = self.loss_partition(
                self.region_construction,
                stage3_logits,
                stage3_boundary_logits,
                self._stack_batch_gt(batch_data_samples),
                self.ignore_index,
            )
        losses["acc_seg"] = accuracy(final_logits, seg_label, ignore_index=self.ignore_index)
        return losses
