"""MANet's training objective: the interaction head on scribbled frames, the propagation head on transfer pairs.

The inputs are those the backend builds (:mod:`vos_recommender.backends.native.manet`): frames in BGR
order, resized bicubically to the configuration's input size and ImageNet-normalised, embedded once;
scribbles drawn at embedding resolution (round 1: only a box 20 pixels around them keeps its labels,
IVOS-W's ``rough_ROI``); the previous round's and the neighbour's labels read at embedding resolution
(nearest). A sample holds one object, so each is a two-id problem: the object against everything else
(background and the other objects' strokes are background seeds). The heads' logits are upsampled to
the frame as the backend does, and each loss is the cross-entropy over the two ids plus the soft
Jaccard term of the object (:func:`~vos_recommender.training.native.ipn.soft_jaccard_loss`):
with cross-entropy alone a 56-step run only learnt the prior (loss 0.12 on objects of about 5 % of the
frame, where all-background gives 0.20) and labelled the held-out frames all background. Gradients reach the embedding through the heads and the global matching map (the local
map enters as an input, see :meth:`MANetTrainer._sample_losses`).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vos_recommender.backends.native.manet import rough_roi
from vos_recommender.interaction.scribbles import rasterize_scribble
from vos_recommender.nets.manet import MANET_CONFIGS, MANet, RoundMemory, global_matching, local_matching
from vos_recommender.nets.manet.model import one_hot_masks
from vos_recommender.training.native.ipn import soft_jaccard_loss
from vos_recommender.training.native.samples import Sample

__all__ = ["MANetTrainer"]

_MEAN = np.array([0.485, 0.456, 0.406])
_STD = np.array([0.229, 0.224, 0.225])
#: Object against the rest.
_NUM_IDS = 2


class MANetTrainer(nn.Module):
    """MANet of one configuration and its interaction + propagation loss.

    Args:
        config: Name in :data:`vos_recommender.nets.manet.MANET_CONFIGS`.
    """

    checkpoint_files = ("manet.pth",)

    def __init__(self, config: str = "cpu") -> None:
        super().__init__()
        self.config = MANET_CONFIGS[config]
        self.net = MANet(self.config)

    def state_dicts(self) -> dict[str, dict[str, torch.Tensor]]:
        """Checkpoint file name -> state dict (what ``NativeMANetBackend(weights=...)`` loads strictly)."""
        return {"manet.pth": self.net.state_dict()}

    def image(self, rgb: np.ndarray) -> np.ndarray:
        """``H x W x 3`` RGB in ``[0, 1]`` -> the backend's ``3 x h x w`` network input."""
        bgr = np.ascontiguousarray(rgb[..., ::-1] * 255.0, dtype=np.float32)
        if self.config.input_size is not None and tuple(self.config.input_size) != bgr.shape[:2]:
            height, width = self.config.input_size
            bgr = cv2.resize(bgr, dsize=(width, height), interpolation=cv2.INTER_CUBIC)
        return (((bgr / 255.0) - _MEAN) / _STD).astype(np.float32).transpose(2, 0, 1)

    @staticmethod
    def scribble_labels(sample: Sample, size: tuple[int, int]) -> torch.Tensor:
        """The sample's strokes at embedding ``size``: -1 none, 1 the object, 0 anything else."""
        drawn = rasterize_scribble({"scribbles": [sample.strokes]}, 0, *size).astype(np.int64)
        labels = np.where(drawn == -1, -1, (drawn == sample.object_id).astype(np.int64))
        labels = torch.from_numpy(labels)
        return rough_roi(labels) if sample.prev is None else labels

    @staticmethod
    def _small(mask: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
        # Binary frame-size mask -> embedding-size labels, nearest as the backend's ``_small``.
        labels = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]
        return F.interpolate(labels, size=size, mode="nearest")[0, 0].long()

    def _sample_losses(
        self, sample: Sample, annotated: torch.Tensor, neighbour: torch.Tensor, current: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        size = tuple(annotated.shape[-2:])
        scribble = self.scribble_labels(sample, size)
        previous_round = (
            None if sample.prev is None else self._small(sample.prev_labels == sample.object_id, size)
        )
        logits = self.net.interaction_logits(annotated, scribble, previous_round, RoundMemory(_NUM_IDS), 0)
        loss_i = self._loss(logits, sample.target)
        # The model's ``propagation_logits`` reads the maps through the round memory, which detaches them
        # (it keeps them across rounds at inference); in a single round that memory returns the maps
        # unchanged, so they are computed here directly to let gradients reach the embedding.
        neighbour_labels = self._small(sample.neighbour > 0.5, size)
        # The local map is built by in-place minima over the window (inference code, kept bounded in
        # memory), which autograd cannot differentiate; it enters as an input, and the embedding learns
        # its metric through the global map.
        with torch.no_grad():
            local = local_matching(
                current, neighbour, neighbour_labels, _NUM_IDS, self.config.max_local_distance
            )
        inputs = torch.cat(
            (
                current.unsqueeze(0).expand(_NUM_IDS, -1, -1, -1),
                global_matching(annotated, scribble, current, _NUM_IDS).unsqueeze(1),
                local.unsqueeze(1),
                one_hot_masks(neighbour_labels, _NUM_IDS, current.dtype),
            ),
            1,
        )
        loss_p = self._loss(self.net.dynamic_seghead(inputs)[:, 0], sample.next_target)
        return loss_i, loss_p

    @staticmethod
    def _loss(logits: torch.Tensor, target: np.ndarray) -> torch.Tensor:
        # Upsampled to the frame as the backend does, then the softmax over ids it applies.
        up = F.interpolate(logits[None], size=target.shape, mode="bilinear", align_corners=True)
        binary = torch.from_numpy(target > 0.5).long()[None]
        return F.cross_entropy(up, binary) + soft_jaccard_loss(up, binary.to(up.dtype))

    def loss(self, samples: list[Sample]) -> dict[str, torch.Tensor]:
        """Cross-entropy + soft Jaccard loss of both heads, mean over a batch (``total`` is their sum)."""
        frames = [f for s in samples for f in (s.frame, s.neighbour_frame, s.next_frame)]
        embeddings = self.net.extract_feature(torch.from_numpy(np.stack([self.image(f) for f in frames])))
        losses = [self._sample_losses(s, *embeddings[3 * i : 3 * i + 3]) for i, s in enumerate(samples)]
        loss_i = torch.stack([a for a, _ in losses]).mean()
        loss_p = torch.stack([b for _, b in losses]).mean()
        return {"total": loss_i + loss_p, "interaction": loss_i, "propagation": loss_p}
