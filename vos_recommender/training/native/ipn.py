"""IPN's training objective: the interaction and propagation networks learnt together, in their crops.

As in the authors' training, each network sees the square region of interest it sees at run time
(:func:`~vos_recommender.nets.ipn.roi.roi_box` around the previous mask and the scribbles, resp. the
previous round's and the neighbour's masks), the loss compares the decoder's 2-class logits with the
ground truth warped into the same crop, and the propagation network is guided by
the interaction network's stride-32 feature of the annotated frame, so one loss trains both (the
reference is not detached, as in the authors' joint fine-tuning).

Each network's loss adds to the cross-entropy a soft Jaccard term per crop (:func:`soft_jaccard_loss`).
The cross-entropy alone is a mean over pixels, and in a first round the crop is the whole frame (the
unknown previous mask covers it), where the object is about 5 % of the pixels: a run whose interaction
cross-entropy reached 0.04 on first rounds (a constant prior gives 0.20) still overlapped the object
with an IoU of only 0.66, on its own training frames. The Jaccard term weighs every crop's object
equally, whatever its size.

The networks' ``forward`` runs one frame and returns pasted probabilities; training batches the crops
and calls their ``Encoder`` / ``Decoder`` directly, the same modules ``forward`` uses.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vos_recommender.backends.native.ipn_scribbles import object_scribble_maps
from vos_recommender.nets.ipn import CONFIGS, InteractionNetwork, PropagationNetwork
from vos_recommender.nets.ipn.roi import RoiWarp, roi_box
from vos_recommender.training.native.samples import Sample

__all__ = ["IPNTrainer", "soft_jaccard_loss"]


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def soft_jaccard_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``1 - soft IoU`` of the foreground probability with a binary target.

    Args:
        logits: ``B x 2 x H x W`` background / foreground logits.
        target: ``B x H x W`` binary target.
    """
    prob = F.softmax(logits, dim=1)[:, 1]
    intersection = (prob * target).sum(dim=(1, 2))
    union = (prob + target - prob * target).sum(dim=(1, 2))
    # An empty target with an empty prediction is a perfect overlap, not 0 / 0.
    return (1.0 - (intersection + 1.0) / (union + 1.0)).mean()


def _segmentation_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    binary = (target > 0.5).long()
    return F.cross_entropy(logits, binary) + soft_jaccard_loss(logits, binary.to(logits.dtype))


class IPNTrainer(nn.Module):
    """Both IPN networks of one configuration and their joint loss.

    Args:
        config: Name in :data:`vos_recommender.nets.ipn.CONFIGS`.
    """

    checkpoint_files = ("I.pth", "P.pth")

    def __init__(self, config: str = "cpu") -> None:
        super().__init__()
        self.config = CONFIGS[config]
        self.interaction = InteractionNetwork(self.config)
        self.propagation = PropagationNetwork(self.config)

    def state_dicts(self) -> dict[str, dict[str, torch.Tensor]]:
        """Checkpoint file name -> state dict in the layout :func:`~vos_recommender.nets.ipn.load_weights` reads."""
        return {"I.pth": self.interaction.state_dict(), "P.pth": self.propagation.state_dict()}

    def _crop(
        self, maps: list[np.ndarray], box_maps: list[np.ndarray], frame: np.ndarray
    ) -> list[torch.Tensor]:
        box = roi_box([_tensor(m) for m in box_maps], self.config.min_box)
        height, width = frame.shape[:2]
        warp = RoiWarp(box, (height, width), self.config.roi_size)
        rgb = warp.crop(_tensor(frame.transpose(2, 0, 1))[None])[0]
        return [rgb] + [warp.crop(_tensor(m)[None])[0] for m in maps]

    def inputs(self, sample: Sample) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Crops of one sample: ``(rgb, prev, pos, neg, target)`` and ``(rgb, prev, neighbour, target)``."""
        height, width = sample.target.shape
        # No previous round: the backend's -1 marker, which the networks read as 0.5 everywhere.
        prev = np.full((height, width), 0.5, np.float32) if sample.prev is None else sample.prev
        marker = np.full((height, width), -1.0, np.float32) if sample.prev is None else sample.prev
        positive, negative = object_scribble_maps(sample.strokes, sample.object_id, marker)
        interaction = self._crop(
            [prev, positive, negative, sample.target], [prev, positive, negative], sample.frame
        )
        # The propagation's previous-round estimate of the target frame: none in this sample.
        unknown = np.full((height, width), 0.5, np.float32)
        propagation = self._crop(
            [unknown, sample.neighbour, sample.next_target], [unknown, sample.neighbour], sample.next_frame
        )
        return interaction, propagation

    def loss(self, samples: list[Sample]) -> dict[str, torch.Tensor]:
        """Cross-entropy + soft Jaccard loss of both networks on a batch (``total`` is their sum)."""
        pairs = [self.inputs(s) for s in samples]
        rgb, prev, pos, neg, target = (torch.stack(f) for f in zip(*(p[0] for p in pairs)))
        features = self.interaction.Encoder(rgb, prev, pos, neg)
        logits = self.interaction.Decoder(*features)
        loss_i = _segmentation_loss(logits, target)
        reference = self.propagation.reference(features[0], None)
        rgb, prev, neighbour, target = (torch.stack(f) for f in zip(*(p[1] for p in pairs)))
        features = self.propagation.Encoder(rgb, prev, neighbour)
        logits = self.propagation.Decoder(*features, reference=reference)
        loss_p = _segmentation_loss(logits, target)
        return {"total": loss_i + loss_p, "interaction": loss_i, "propagation": loss_p}
