"""IPN's training objective: the interaction and propagation networks learnt together, in their crops.

As in the authors' training, each network sees the square region of interest it sees at run time
(:func:`~vos_recommender.nets.ipn.roi.roi_box` around the previous mask and the scribbles, resp. the
previous round's and the neighbour's masks), the loss is the 2-class cross-entropy of the decoder's
logits against the ground truth warped into the same crop, and the propagation network is guided by
the interaction network's stride-32 feature of the annotated frame, so one loss trains both (the
reference is not detached, as in the authors' joint fine-tuning).

The networks' ``forward`` runs one frame and returns pasted probabilities; training batches the crops
and calls their ``Encoder`` / ``Decoder`` directly, the same modules ``forward`` uses.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vos_recommender.backends.native.ipn_scribbles import object_scribble_maps
from vos_recommender.backends.train_native.samples import Sample
from vos_recommender.nets.ipn import CONFIGS, InteractionNetwork, PropagationNetwork
from vos_recommender.nets.ipn.roi import RoiWarp, roi_box

__all__ = ["IPNTrainer"]


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


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
        """Mean cross-entropies of both networks on a batch (``total`` is their sum)."""
        pairs = [self.inputs(s) for s in samples]
        rgb, prev, pos, neg, target = (torch.stack(f) for f in zip(*(p[0] for p in pairs)))
        features = self.interaction.Encoder(rgb, prev, pos, neg)
        logits = self.interaction.Decoder(*features)
        loss_i = F.cross_entropy(logits, (target > 0.5).long())
        reference = self.propagation.reference(features[0], None)
        rgb, prev, neighbour, target = (torch.stack(f) for f in zip(*(p[1] for p in pairs)))
        features = self.propagation.Encoder(rgb, prev, neighbour)
        logits = self.propagation.Decoder(*features, reference=reference)
        loss_p = F.cross_entropy(logits, (target > 0.5).long())
        return {"total": loss_i + loss_p, "interaction": loss_i, "propagation": loss_p}
