"""ATNet's training objective: A-Net on scribbled frames, T-Net on transfer pairs, binary cross-entropy.

The inputs are those the backend builds (:mod:`vos_recommender.backends.native.atnet`): ImageNet-normalised
frames and guidance maps (round 1 ``[0.5, positive - negative, 0]``, later rounds ``[previous mask,
positive, negative]``), reflect-padded to a multiple of 32. A-Net segments the annotated frame; T-Net
segments the target frame from the annotated frame's encoding and A-Net's indicator code (global
transfer) and from its neighbour's mask and features (local transfer). Both losses are binary
cross-entropies on the unpadded pixels; gradients flow from T-Net into A-Net's indicator code, as in
the authors' end-to-end training.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vos_recommender.backends.native.atnet_inputs import pad_info, scribble_maps
from vos_recommender.nets.atnet import ATNET_CONFIGS, ATNet
from vos_recommender.training.native.samples import Sample

__all__ = ["ATNetTrainer"]

_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class ATNetTrainer(nn.Module):
    """ATNet of one configuration and its A-Net + T-Net loss.

    Args:
        config: Name in :data:`vos_recommender.nets.atnet.ATNET_CONFIGS`.
    """

    checkpoint_files = ("atnet.pth",)

    def __init__(self, config: str = "cpu") -> None:
        super().__init__()
        self.working_height = ATNET_CONFIGS[config].get("working_height")
        self.net = ATNet.from_config(config)

    def state_dicts(self) -> dict[str, dict[str, torch.Tensor]]:
        """Checkpoint file name -> state dict (what ``NativeATNetBackend(weights=...)`` loads strictly)."""
        return {"atnet.pth": self.net.state_dict()}

    @staticmethod
    def _guidance(sample: Sample) -> np.ndarray:
        positive, negative = scribble_maps(sample.strokes, sample.object_id, sample.prev_labels)
        if sample.prev is None:
            return np.stack([np.full_like(positive, 0.5), positive - negative, np.zeros_like(positive)])
        return np.stack([(sample.prev_labels == sample.object_id).astype(np.float32), positive, negative])

    @staticmethod
    def _fit(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        # Videos of one data set may differ in size; a batch takes its first sample's.
        if array.shape[:2] == size:
            return array
        return cv2.resize(array, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)

    def loss(self, samples: list[Sample]) -> dict[str, torch.Tensor]:
        """Mean binary cross-entropies of A-Net and T-Net on a batch (``total`` is their sum)."""
        size = samples[0].target.shape
        pad = pad_info(*size)
        (top, bottom), (left, right) = pad

        def images(key: str) -> torch.Tensor:
            arrays = [(self._fit(getattr(s, key), size) - _MEAN) / _STD for s in samples]
            batch = torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).astype(np.float32))
            return F.pad(batch, (left, right, top, bottom), mode="reflect")

        def maps(arrays: list[np.ndarray]) -> torch.Tensor:
            # Each array is H x W or C x H x W; the result is N x C x H' x W'.
            fitted = [np.stack([self._fit(c, size) for c in (a[None] if a.ndim == 2 else a)]) for a in arrays]
            stacked = torch.from_numpy(np.stack(fitted).astype(np.float32))
            return F.pad(stacked, (left, right, top, bottom), mode="reflect")

        def unpad(x: torch.Tensor) -> torch.Tensor:
            return x[..., top : top + size[0], left : left + size[1]]

        anno = images("frame")
        guidance = maps([self._guidance(s) for s in samples])
        logit_a, indicator = self.net.forward_anet(torch.cat([anno, guidance], dim=1))
        target = unpad(maps([s.target for s in samples]))
        loss_a = F.binary_cross_entropy_with_logits(unpad(logit_a), (target > 0.5).float())

        anno_r5 = self.net.encoder_3ch(anno)[0]
        _, _, _, r2_prev = self.net.encoder_3ch(images("neighbour_frame"))
        mask_prev = maps([s.neighbour for s in samples])
        logit_t, _ = self.net.forward_tnet([anno_r5], images("next_frame"), [indicator], r2_prev, mask_prev)
        next_target = unpad(maps([s.next_target for s in samples]))
        loss_t = F.binary_cross_entropy_with_logits(unpad(logit_t), (next_target > 0.5).float())
        return {"total": loss_a + loss_t, "interaction": loss_a, "propagation": loss_t}
