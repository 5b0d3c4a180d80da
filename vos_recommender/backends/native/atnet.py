"""ATNet (Heo et al., ECCV 2020) as a native backend: the authors' IVOS-W call contract, pure PyTorch.

Per round (as ``eval_davis-framework.py`` of yuk6heo/IVOS-ATNet and IVOS-W's ``eval_agent_atnet.py``):

1. guidance maps of every object on the annotated frame from *all* scribbles drawn on it so far:
   round 1 ``[0.5, positive, 0]``, later rounds ``[previous mask == object, positive, negative]``;
2. A-Net segments the annotated frame; its indicator code and T-Net's encoding of the frame are
   appended to the memory (one entry per round, kept for the whole video);
3. T-Net propagates backward then forward (:func:`~.atnet_inputs.propagation_order`), each frame
   from its neighbour's mask and features, blended with the previous round near other annotated frames;
4. labels: per pixel the most probable object if its probability exceeds 0.8, else background.

Probabilities: ATNet scores each object independently (a sigmoid each). The authors' adapter reports
``[prod(1 - p_o), p_1 .. p_O]``, which does not sum to one (about 1.25 for two objects at 0.5);
:attr:`NativeATNetBackend.object_probs` keeps that raw ``p`` (what the equivalence check compares), and
the returned ``probs`` are the same vector divided by its sum.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vos_recommender.backends.base import VOSBackend
from vos_recommender.backends.native.atnet_inputs import (
    blend_weight,
    pad_info,
    propagation_order,
    scribble_maps,
)
from vos_recommender.nets.atnet import ATNET_CONFIGS, ATNet, load_atnet_checkpoint

__all__ = ["NativeATNetBackend"]

logger = logging.getLogger(__name__)

_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class NativeATNetBackend(VOSBackend):
    """ATNet in pure PyTorch, loading the released ``ATNet-checkpoint.pth`` strictly.

    Args:
        weights: Checkpoint path (the released file for ``config="released"``); None: random
            initialisation, with a warning.
        device: Torch device (``"cpu"``, ``"cuda"``, ...).
        config: ``"released"`` (SE-ResNet-50, full resolution) or ``"cpu"`` (SE-ResNet-18, narrower
            decoders, frames resized to 240 rows), or a dict of :class:`ATNet` arguments plus
            ``working_height``.
        propagation_proportion: Share of the way to the nearest other annotated frame that a round
            propagates (released: 0.99).
        threshold: Smallest probability that labels a pixel as an object (released: 0.8).
        dtype: Computation dtype (float32; float64 for checks).

    Raises:
        ValueError: On an unknown configuration, or a checkpoint that does not fit (the message names
            the file and the first missing / unexpected keys).
        FileNotFoundError: If ``weights`` does not exist.
    """

    name = "atnet"
    #: The DAVIS robot setting ATNet was evaluated with (its ``config.test_min_nb_nodes``, and IVOS-W's).
    simulated_user = {"min_nb_nodes": 2}

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        device: str = "cpu",
        config: str | dict[str, Any] = "released",
        propagation_proportion: float = 0.99,
        threshold: float = 0.8,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if isinstance(config, str) and config not in ATNET_CONFIGS:
            raise ValueError(f"config must be one of {sorted(ATNET_CONFIGS)}, got {config!r}")
        settings = dict(ATNET_CONFIGS[config]) if isinstance(config, str) else dict(config)
        self.working_height = settings.get("working_height")
        self.net = ATNet.from_config(settings)
        if weights is None:
            warnings.warn(
                "NativeATNetBackend has no weights: the network is randomly initialised "
                "(pass weights=.../ATNet-checkpoint.pth)",
                stacklevel=2,
            )
        else:
            count = load_atnet_checkpoint(self.net, weights)
            logger.info("ATNet: loaded %d tensors from %s", count, weights)
        self.device = torch.device(device)
        self.dtype = dtype
        self.net.to(device=self.device, dtype=dtype).eval()
        self.propagation_proportion = float(propagation_proportion)
        self.threshold = float(threshold)
        self.object_probs: np.ndarray | None = None
        self._state: dict[str, Any] = {}

    # ------------------------------------------------------------------ video
    def _start(self) -> None:
        assert self.frames is not None
        frames = self.frames
        if self.working_height is not None and frames.shape[1] > self.working_height:
            scale = self.working_height / frames.shape[1]
            size = (max(1, round(frames.shape[2] * scale)), int(self.working_height))
            frames = np.stack([cv2_resize(f, size) for f in frames])
        num_frames, height, width = frames.shape[:3]
        pad = pad_info(height, width)
        images = (frames.astype(np.float32) / 255.0 - _MEAN) / _STD
        images = np.pad(images, ((0, 0), pad[0], pad[1], (0, 0)), mode="reflect")
        self._state = {
            "size": (height, width),
            "pad": pad,
            "images": torch.from_numpy(images.transpose(0, 3, 1, 2).copy()).to(self.device, self.dtype),
            "prob_maps": torch.zeros(
                (num_frames, self.num_objects, height + sum(pad[0]), width + sum(pad[1])),
                device=self.device,
                dtype=self.dtype,
            ),
            "labels": np.zeros((num_frames, height, width), dtype=np.int64),
            "strokes": [[] for _ in range(num_frames)],
            "anno_r5": [],
            "anno_indicators": [],
        }

    def _reset(self) -> None:
        self._state = {}
        self.object_probs = None

    # ------------------------------------------------------------------ round
    def _guidance(self, frame: int, first_round: bool) -> torch.Tensor:
        """``O x 3 x H' x W'`` guidance maps of the annotated frame, reflect-padded."""
        state = self._state
        prev = state["labels"][frame]
        # Paths are normalised by the frame size, so they apply unchanged at the working size.
        strokes = state["strokes"][frame]
        maps = []
        for obj_id in range(1, self.num_objects + 1):
            positive, negative = scribble_maps(strokes, obj_id, prev)
            if first_round:  # nothing to correct yet: a flat 0.5 prior and no negative map
                maps.append(
                    np.stack([np.full_like(positive, 0.5), positive - negative, np.zeros_like(positive)])
                )
            else:
                maps.append(np.stack([(prev == obj_id).astype(np.float32), positive, negative]))
        tensor = torch.from_numpy(np.stack(maps)).to(self.device, self.dtype)
        (top, bottom), (left, right) = state["pad"]
        return F.pad(tensor, (left, right, top, bottom), mode="reflect")

    @torch.no_grad()
    def _interact(self, scribble: dict[str, Any], frame: int) -> tuple[np.ndarray, np.ndarray]:
        state = self._state
        state["strokes"][frame].extend(scribble["scribbles"][frame])  # ATNet uses every scribble so far
        annotated = list(self.annotated_frames)
        n_obj, prob_maps = self.num_objects, state["prob_maps"]
        guidance = self._guidance(frame, first_round=len(annotated) == 1)
        order = propagation_order(annotated, frame, len(prob_maps), self.propagation_proportion)
        visits = 0
        prob_anno = prob_prop = r2_anno = r2_prev = None
        for operating in order:
            image = state["images"][operating : operating + 1].expand(n_obj, -1, -1, -1)
            if operating == frame:
                visits += 1
                if visits == 2:  # the annotated frame again, now heading forward
                    prob_prop = None
                    continue
                logit, indicator = self.net.forward_anet(torch.cat([image, guidance], dim=1))
                prob_anno = torch.sigmoid(logit)
                prob = prob_anno[:, 0]
                anno_r5, _, _, r2_anno = self.net.encoder_3ch(image)
                state["anno_indicators"].append(indicator)
                state["anno_r5"].append(anno_r5)
            else:
                if prob_prop is None:  # first frame away from the annotated one in this direction
                    r2_prev, mask_prev = r2_anno, prob_anno
                else:
                    mask_prev = prob_prop
                logit, r2_prev = self.net.forward_tnet(
                    state["anno_r5"], image, state["anno_indicators"], r2_prev, mask_prev
                )
                prob_prop = torch.sigmoid(logit)
                alpha = blend_weight(operating, frame, annotated, backward=visits == 1)
                prob = alpha * prob_prop[:, 0] + (1 - alpha) * prob_maps[operating]
            prob_maps[operating] = prob
        return self._outputs(min(order), max(order))

    def _outputs(self, fore: int, rear: int) -> tuple[np.ndarray, np.ndarray]:
        state = self._state
        (top, _), (left, _) = state["pad"]
        height, width = state["size"]
        probs = state["prob_maps"][:, :, top : top + height, left : left + width]
        best, index = probs[fore : rear + 1].max(dim=1)
        labels = torch.where(best > self.threshold, index + 1, torch.zeros_like(index))
        state["labels"][fore : rear + 1] = labels.cpu().numpy()
        objects = probs.float()
        labels_out = state["labels"]
        if self.frames is not None and objects.shape[-2:] != self.frames.shape[1:3]:
            full = self.frames.shape[1:3]
            objects = F.interpolate(objects, size=full, mode="bilinear", align_corners=False)
            labels_out = (
                F.interpolate(torch.from_numpy(labels_out)[:, None].float(), size=full, mode="nearest")[:, 0]
                .long()
                .numpy()
            )
        self.object_probs = objects.cpu().numpy().astype(np.float32)
        background = np.prod(1.0 - self.object_probs, axis=1, keepdims=True)
        raw = np.concatenate([background, self.object_probs], axis=1)
        return labels_out.astype(np.uint8), (raw / raw.sum(axis=1, keepdims=True)).astype(np.float32)


def cv2_resize(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-resize one frame to ``(width, height)``."""
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
