"""IPN (Oh et al., CVPR 2019) as a native backend: the released networks in pure PyTorch, any device.

One round, as the authors' ``model.Run`` does it under IVOS-W's calls (only the latest round's
scribbles, the object count known at start), for every object in turn:

1. positive / negative maps from this round's strokes on the annotated frame
   (:func:`~vos_recommender.backends.native.ipn_scribbles.object_scribble_maps`);
2. the interaction network on that frame, given the object's previous probability there;
3. the propagation network frame by frame to both sides, up to the nearest earlier annotated frame
   (or the video's end), each frame guided by the reference feature of this round's interaction fused
   with the object's reference of the previous round;
4. a linear blend with the previous round's probabilities
   (:func:`~vos_recommender.backends.native.ipn_scribbles.blend_weights`).

The objects' probabilities are then merged by soft aggregation (background = ``prod(1 - p_o)``, normalised
odds), so the returned probabilities sum to 1. Frames whose blend weight is 0 (the earlier annotated
frames bounding the range) are not run: the released code runs them and discards the result.

Differences from the authors' code that do not change outputs: no training losses (ground truth is not
needed, so the object count comes from ``start_video``), the deep-supervision heads are not evaluated,
and everything runs on ``device`` in ``dtype``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from vos_recommender.backends.base import VOSBackend
from vos_recommender.backends.native.ipn_scribbles import blend_weights, object_scribble_maps
from vos_recommender.nets.ipn import CONFIGS, InteractionNetwork, IPNConfig, PropagationNetwork, load_weights

__all__ = ["NativeIPNBackend"]


class NativeIPNBackend(VOSBackend):
    """The released IPN, natively.

    Args:
        weights: Folder with ``I.pth`` and ``P.pth`` (IVOS-W's ``VOS/IPN/weights`` layout), or None.
        interaction_weights: The interaction network's checkpoint (overrides ``weights``).
        propagation_weights: The propagation network's checkpoint (overrides ``weights``).
        device: Torch device.
        config: ``"released"`` (default; the checkpoints' size), ``"cpu"`` (ResNet-18, smaller crop) or
            an :class:`~vos_recommender.nets.ipn.IPNConfig`.
        dtype: Floating type of the computation (float32; float64 for checks).

    Without weights the networks keep their random initialisation and a warning says so.

    Raises:
        ValueError: On an unknown ``config``, or a checkpoint that does not fit (names the file and the
            first missing / unexpected keys).
        FileNotFoundError: If a given checkpoint file does not exist.
    """

    name = "ipn"
    #: IVOS-W evaluates IPN with davis-interactive's default robot (``eval_agent_ipn.py`` passes nothing).
    simulated_user = {"min_nb_nodes": 4}

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        interaction_weights: str | os.PathLike | None = None,
        propagation_weights: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        config: str | IPNConfig = "released",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if isinstance(config, str):
            if config not in CONFIGS:
                raise ValueError(f"config must be one of {sorted(CONFIGS)} or an IPNConfig, got {config!r}")
            config = CONFIGS[config]
        self.config = config
        self.device = torch.device(device)
        self.dtype = dtype
        self.interaction = InteractionNetwork(config)
        self.propagation = PropagationNetwork(config)
        if weights is not None:
            interaction_weights = interaction_weights or Path(weights) / "I.pth"
            propagation_weights = propagation_weights or Path(weights) / "P.pth"
        if interaction_weights is None or propagation_weights is None:
            missing = [
                n for n, p in (("I.pth", interaction_weights), ("P.pth", propagation_weights)) if not p
            ]
            warnings.warn(
                f"NativeIPNBackend: no checkpoint for {', '.join(missing)}; those networks keep random "
                "weights and their segmentations are meaningless",
                stacklevel=2,
            )
        if interaction_weights is not None:
            load_weights(self.interaction, interaction_weights)
        if propagation_weights is not None:
            load_weights(self.propagation, propagation_weights)
        for net in (self.interaction, self.propagation):
            net.to(device=self.device, dtype=dtype).eval()
        self._frames: torch.Tensor | None = None
        self._probs: torch.Tensor | None = None
        self._refs: list[torch.Tensor | None] = []
        self._targets: list[int] = []

    def _start(self) -> None:
        assert self.frames is not None
        num_frames, height, width = self.frames.shape[:3]
        frames = torch.from_numpy(np.ascontiguousarray(self.frames)).permute(0, 3, 1, 2)
        self._frames = frames.to(device=self.device, dtype=self.dtype) / 255.0
        # -1 marks "no estimate yet"; the networks read it as 0.5.
        self._probs = torch.full(
            (self.num_objects, num_frames, height, width), -1.0, dtype=self.dtype, device=self.device
        )
        self._refs = [None] * self.num_objects
        self._targets = []

    def _reset(self) -> None:
        self._frames = self._probs = None
        self._refs = []
        self._targets = []

    @torch.no_grad()
    def _object_round(self, index: int, strokes: list[dict[str, Any]], target: int) -> torch.Tensor:
        assert self._frames is not None and self._probs is not None
        frames, prev = self._frames, self._probs[index]
        num_frames = prev.shape[0]
        positive, negative = (
            torch.from_numpy(m)[None].to(device=self.device, dtype=self.dtype)
            for m in object_scribble_maps(strokes, index + 1, prev[target].cpu().numpy())
        )
        new = prev.clone()
        estimate, reference = self.interaction(
            frames[target : target + 1], prev[target : target + 1], positive, negative
        )
        new[target] = estimate[0]
        left, right, weights = blend_weights(target, self._targets, num_frames)
        fused = None
        if left < target or right > target:
            fused = self.propagation.reference(reference, self._refs[index])
        order = [(n, n - 1) for n in range(target + 1, right + 1)] + [
            (n, n + 1) for n in range(target - 1, left - 1, -1)
        ]
        for n, neighbour in order:
            if weights[n] == 0.0:
                continue  # bounding annotated frame: the result would be discarded by the blend
            new[n] = self.propagation(
                frames[n : n + 1], prev[n : n + 1], new[neighbour : neighbour + 1], fused
            )[0]
        self._refs[index] = fused
        # Frame by frame with Python-float weights, as released, so the blend rounds identically.
        for f, w in enumerate(weights):
            new[f] = w * new[f] + (1 - w) * prev[f]
        return new

    def _interact(self, scribble: dict[str, Any], frame: int) -> tuple[np.ndarray, np.ndarray]:
        assert self._probs is not None
        strokes = list(scribble["scribbles"][frame])
        self._probs = torch.stack([self._object_round(o, strokes, frame) for o in range(self.num_objects)])
        self._targets.append(frame)
        probs = soft_aggregate(self._probs)
        masks = probs.argmax(dim=1)
        return masks.cpu().numpy().astype(np.uint8), probs.float().cpu().numpy()


def soft_aggregate(object_probs: torch.Tensor) -> torch.Tensor:
    """``O x T x H x W`` object probabilities -> ``T x (O+1) x H x W`` class probabilities summing to 1.

    Background is ``prod_o (1 - p_o)``; the class probabilities are the normalised odds (softmax of
    logits), clamped to ``[1e-7, 1 - 1e-7]`` first, as released.
    """
    stacked = torch.cat([torch.prod(1 - object_probs, dim=0, keepdim=True), object_probs], dim=0)
    stacked = stacked.clamp(1e-7, 1 - 1e-7)
    return F.softmax(torch.log(stacked / (1 - stacked)), dim=0).transpose(0, 1)
