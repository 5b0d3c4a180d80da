"""A small IPN-style backend trained on this machine.

Two tiny fully-convolutional networks, following the split of Oh et al., "Fast User-Guided Video
Object Segmentation by Interaction-and-Propagation Networks" (CVPR 2019):

* :class:`InteractionNet`: RGB of the annotated frame + the object's previous probability on it +
  positive and negative scribble maps -> the object's new probability on that frame.
* :class:`PropagationNet`: RGB of the current frame + the object's probability on the previous
  (already processed) frame + RGB and probability of the annotated (reference) frame -> the object's
  probability on the current frame.

Objects are processed one at a time (as in IPN) and merged by soft aggregation. After each round the
new propagation is blended with the previous round's result with weights that fall linearly from 1 at
the annotated frame to 0 at the neighbouring annotated frames (IPN's ``Get_weight``), so a new
correction does not overwrite frames that earlier annotations already fixed.

Train with ``python -m vos_recommender.training.learned --data <root> --out <run dir>``; the
backend loads the checkpoint written there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vos_recommender.backends.base import (
    BackendNotAvailableError,
    VOSBackend,
    objects_to_probs,
    probs_to_masks,
)
from vos_recommender.interaction.scribbles import rasterize_scribble
from vos_recommender.utils.atomic import atomic_torch_save

__all__ = [
    "InteractionNet",
    "LearnedBackend",
    "PropagationNet",
    "TinyUNet",
    "linear_fade_weights",
    "load_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "vos_recommender.learned_vos/1"


class TinyUNet(nn.Module):
    """A three-level encoder-decoder with skip connections, producing one logit map.

    Args:
        in_channels: Input channels.
        width: Channels of the first level (doubled at the lower levels).
    """

    def __init__(self, in_channels: int, width: int = 16) -> None:
        super().__init__()
        w1, w2 = width, 2 * width
        self.enc1 = nn.Sequential(nn.Conv2d(in_channels, w1, 3, padding=1), nn.ReLU(inplace=True))
        self.enc2 = nn.Sequential(nn.Conv2d(w1, w2, 3, stride=2, padding=1), nn.ReLU(inplace=True))
        self.enc3 = nn.Sequential(
            nn.Conv2d(w2, w2, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(w2, w2, 3, padding=2, dilation=2),
            nn.ReLU(inplace=True),
        )
        self.dec2 = nn.Sequential(nn.Conv2d(2 * w2, w2, 3, padding=1), nn.ReLU(inplace=True))
        self.dec1 = nn.Sequential(nn.Conv2d(w2 + w1, w1, 3, padding=1), nn.ReLU(inplace=True))
        self.head = nn.Conv2d(w1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``B x C x H x W`` inputs to ``B x 1 x H x W`` logits."""
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([F.interpolate(e3, size=e2.shape[-2:], mode="bilinear"), e2], dim=1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[-2:], mode="bilinear"), e1], dim=1))
        return self.head(d1)


class InteractionNet(TinyUNet):
    """Interaction network: ``[RGB(3), previous prob(1), positive scribble(1), negative scribble(1)]``.

    Args:
        width: Channels of the first level.
    """

    in_channels = 6

    def __init__(self, width: int = 16) -> None:
        super().__init__(self.in_channels, width)

    def forward(  # type: ignore[override]
        self, rgb: torch.Tensor, prev_prob: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor
    ) -> torch.Tensor:
        """Return ``B x 1 x H x W`` logits of the object on the annotated frame.

        Args:
            rgb: ``B x 3 x H x W`` frame in ``[0, 1]``.
            prev_prob: ``B x 1 x H x W`` the object's probability before this round (zeros in round 1).
            positive: ``B x 1 x H x W`` scribbles on the object.
            negative: ``B x 1 x H x W`` scribbles on the background or other objects.
        """
        return super().forward(torch.cat([rgb, prev_prob, positive, negative], dim=1))


class PropagationNet(TinyUNet):
    """Propagation network: ``[RGB(3), previous-frame prob(1), reference RGB(3), reference prob(1)]``.

    Args:
        width: Channels of the first level.
    """

    in_channels = 8

    def __init__(self, width: int = 16) -> None:
        super().__init__(self.in_channels, width)

    def forward(  # type: ignore[override]
        self, rgb: torch.Tensor, prev_prob: torch.Tensor, ref_rgb: torch.Tensor, ref_prob: torch.Tensor
    ) -> torch.Tensor:
        """Return ``B x 1 x H x W`` logits of the object on the current frame.

        Args:
            rgb: ``B x 3 x H x W`` current frame.
            prev_prob: ``B x 1 x H x W`` the object's probability on the neighbouring processed frame.
            ref_rgb: ``B x 3 x H x W`` the annotated frame of this round.
            ref_prob: ``B x 1 x H x W`` the object's probability on the annotated frame.
        """
        return super().forward(torch.cat([rgb, prev_prob, ref_rgb, ref_prob], dim=1))


def linear_fade_weights(
    target: int, previous_targets: list[int], num_frames: int
) -> tuple[int, int, np.ndarray]:
    """Range and blending weights of a new round, as IPN's ``Get_weight``.

    The new result fully replaces the old one at ``target``; the weight falls linearly to 0 at the
    nearest earlier-annotated frame on each side (and stays 1 up to the video ends where there is
    none). Propagation only needs to run over ``[left_end, right_end]``.

    Args:
        target: Annotated frame of this round.
        previous_targets: Annotated frames of earlier rounds.
        num_frames: Video length.

    Returns:
        ``(left_end, right_end, weight)`` with ``weight`` a length-``num_frames`` float array.
    """
    others = [p for p in previous_targets if p != target]
    right = min((p for p in others if p > target), default=None)
    left = max((p for p in others if p < target), default=None)
    weight = np.ones(num_frames, dtype=np.float32)
    right_end = num_frames - 1 if right is None else right
    left_end = 0 if left is None else left
    if right is not None:
        for f in range(target + 1, num_frames):
            weight[f] = max(0.0, 1.0 - (f - target) / (right - target))
    if left is not None:
        for f in range(0, target):
            weight[f] = max(0.0, 1.0 - (target - f) / (target - left))
    return left_end, right_end, weight


def save_checkpoint(
    path: str | os.PathLike, interaction: nn.Module, propagation: nn.Module, config: dict
) -> None:
    """Write both networks and their configuration atomically (temporary file + ``os.replace``).

    Args:
        path: Destination file.
        interaction: Trained :class:`InteractionNet`.
        propagation: Trained :class:`PropagationNet`.
        config: Plain-Python settings needed to rebuild and run the networks (``width``, ``scale``...).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": dict(config),
        "interaction": interaction.state_dict(),
        "propagation": propagation.state_dict(),
    }
    atomic_torch_save(payload, path)


def load_checkpoint(path: str | os.PathLike) -> tuple[InteractionNet, PropagationNet, dict]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Only tensors and plain Python values are read (``torch.load(weights_only=True)``).

    Args:
        path: Checkpoint file, or a run folder holding ``learned_vos.pt``.

    Returns:
        ``(interaction_net, propagation_net, config)`` in eval mode.

    Raises:
        BackendNotAvailableError: If the file is missing, unreadable or not such a checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "learned_vos.pt"  # a run folder of training.learned
    train_hint = "train one with: python -m vos_recommender.training.learned --data <root> --out <dir>"
    if not path.is_file():
        raise BackendNotAvailableError(f"learned VOS checkpoint not found: {path}; {train_hint}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated/corrupt files
        raise BackendNotAvailableError(
            f"learned VOS checkpoint {path} is unreadable or corrupt ({err}); {train_hint}"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise BackendNotAvailableError(
            f"{path} is not a learned VOS checkpoint ({CHECKPOINT_FORMAT}); {train_hint}"
        )
    config = payload["config"]
    interaction = InteractionNet(width=int(config.get("width", 16)))
    propagation = PropagationNet(width=int(config.get("width", 16)))
    try:
        interaction.load_state_dict(payload["interaction"])
        propagation.load_state_dict(payload["propagation"])
    except (RuntimeError, KeyError) as err:
        raise BackendNotAvailableError(
            f"learned VOS checkpoint {path} does not match the networks: {err}"
        ) from err
    return interaction.eval(), propagation.eval(), config


def scribble_maps(strokes: np.ndarray, obj_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Positive / negative float maps of one object from a rasterised stroke label image (-1 = none)."""
    positive = (strokes == obj_id).astype(np.float32)
    negative = ((strokes >= 0) & (strokes != obj_id)).astype(np.float32)
    return positive, negative


def resize_maps(maps: np.ndarray, height: int, width: int, binary: bool = False) -> np.ndarray:
    """Resize ``... x H x W`` float maps (area averaging down, bilinear up); ``binary`` keeps any hit."""
    lead = maps.shape[:-2]
    flat = maps.reshape((-1,) + maps.shape[-2:]).astype(np.float32)
    down = height < flat.shape[1]
    out = np.stack(
        [
            cv2.resize(m, (width, height), interpolation=cv2.INTER_AREA if down else cv2.INTER_LINEAR)
            for m in flat
        ]
    )
    if binary:
        out = (out > 0).astype(np.float32)
    return out.reshape(lead + (height, width))


class LearnedBackend(VOSBackend):
    """IPN-style backend running the networks trained by ``python -m vos_recommender.training.learned``.

    Args:
        checkpoint: Path to the checkpoint (``<run dir>/learned_vos.pt``) or the run folder itself.
        scribble_thickness: Line thickness used to rasterise strokes (in full-resolution pixels).
        device: Torch device.

    Raises:
        BackendNotAvailableError: If the checkpoint is missing or corrupt.
    """

    name = "learned"

    def __init__(
        self, checkpoint: str | os.PathLike, scribble_thickness: int = 3, device: str = "cpu"
    ) -> None:
        super().__init__()
        self.checkpoint = Path(checkpoint)
        self.interaction_net, self.propagation_net, self.config = load_checkpoint(self.checkpoint)
        self.device = torch.device(device)
        self.interaction_net.to(self.device)
        self.propagation_net.to(self.device)
        self.scale = float(self.config.get("scale", 0.5))
        self.scribble_thickness = int(scribble_thickness)
        self._rgb: torch.Tensor | None = None
        self._object_probs: np.ndarray | None = None  # T x O x h x w at network resolution

    def _net_size(self) -> tuple[int, int]:
        assert self.frames is not None
        height, width = self.frames.shape[1:3]
        return max(8, round(height * self.scale)), max(8, round(width * self.scale))

    def _start(self) -> None:
        assert self.frames is not None
        h, w = self._net_size()
        small = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in self.frames])
        self._rgb = torch.from_numpy(small).permute(0, 3, 1, 2).float().div(255.0).to(self.device)
        self._object_probs = np.zeros((self.frames.shape[0], self.num_objects, h, w), dtype=np.float32)

    def _reset(self) -> None:
        self._rgb = None
        self._object_probs = None

    def _round_state(self) -> Any:
        # A round blends into the per-object probabilities in place: save a copy.
        return None if self._object_probs is None else self._object_probs.copy()

    def _restore_round_state(self, state: Any) -> None:
        self._object_probs = None if state is None else state.copy()

    @torch.no_grad()
    def _interact(self, scribble: dict[str, Any], frame: int) -> tuple[np.ndarray, np.ndarray]:
        assert self.frames is not None and self._rgb is not None and self._object_probs is not None
        num_frames, height, width = self.frames.shape[:3]
        h, w = self._net_size()
        strokes = rasterize_scribble(scribble, frame, height, width, thickness=self.scribble_thickness)
        left_end, right_end, weight = linear_fade_weights(frame, self.annotated_frames[:-1], num_frames)
        previous = self._object_probs.copy()

        def as_tensor(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array))[None, None].float().to(self.device)

        for obj in range(self.num_objects):
            positive, negative = scribble_maps(strokes, obj + 1)
            positive = resize_maps(positive, h, w, binary=True)
            negative = resize_maps(negative, h, w, binary=True)
            ref_rgb = self._rgb[frame : frame + 1]
            ref_prob = torch.sigmoid(
                self.interaction_net(
                    ref_rgb, as_tensor(previous[frame, obj]), as_tensor(positive), as_tensor(negative)
                )
            )
            new = {frame: ref_prob}
            for t in range(frame + 1, right_end + 1):
                new[t] = torch.sigmoid(
                    self.propagation_net(self._rgb[t : t + 1], new[t - 1], ref_rgb, ref_prob)
                )
            for t in range(frame - 1, left_end - 1, -1):
                new[t] = torch.sigmoid(
                    self.propagation_net(self._rgb[t : t + 1], new[t + 1], ref_rgb, ref_prob)
                )
            for t, prob in new.items():
                fresh = prob[0, 0].cpu().numpy()
                self._object_probs[t, obj] = weight[t] * fresh + (1.0 - weight[t]) * previous[t, obj]
        full = resize_maps(self._object_probs, height, width)
        probs = objects_to_probs(np.clip(full, 0.0, 1.0))
        return probs_to_masks(probs), probs
