"""MANet as a backend, running the native network with the authors' call contract (as IVOS-W uses it).

Per video every frame is embedded once (BGR, resized to the configuration's input size with bicubic
interpolation, ImageNet mean/std applied in BGR order: the authors' ``custom_transforms_f`` fed
OpenCV's BGR frames to a network normalised with RGB statistics, and the checkpoint expects it).
Per round:

1. the round's scribbles on the annotated frame are drawn at embedding resolution as the authors'
   pipeline draws them (davisinteractive's ``scribbles2mask``, called by IVOS-W's
   ``eval_agent_manet.py`` and MANet's ``test.py``; ``pixel_rule="davis"``); in round 1 only a box 20
   pixels around them keeps its labels and everything outside it becomes background (IVOS-W's
   ``rough_ROI``);
2. the interaction head segments the annotated frame (with the previous round's labels from round 2);
3. the propagation head segments the following frames to the end, then the preceding ones back to
   the start, each from its neighbour on the annotated frame's side, restarting from the annotated
   frame every round; the global and local maps are aggregated over rounds (:class:`RoundMemory`).

Logits are upsampled bilinearly to the frame size and normalised with a softmax over background and
objects. Unlike the authors' code there is no 104-frame or 9-round limit.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from vos_recommender.backends.base import BackendNotAvailableError, VOSBackend
from vos_recommender.interaction.scribbles import PIXEL_RULES, rasterize_scribble
from vos_recommender.nets.manet import MANET_CONFIGS, MANet, MANetConfig, RoundMemory, load_manet_checkpoint

__all__ = ["NativeMANetBackend", "rough_roi"]

#: ImageNet statistics, applied to BGR channels as the authors' transforms do.
_MEAN = np.array([0.485, 0.456, 0.406])
_STD = np.array([0.229, 0.224, 0.225])


def rough_roi(labels: torch.Tensor, margin: int = 20) -> torch.Tensor:
    """Keep labels within ``margin`` pixels of the labelled ones' bounding box; label the rest 0.

    IVOS-W's ``rough_ROI`` for MANet's first round: it gives the matching background seeds far from
    the strokes. Its box ends one pixel short of the far image edges (``min(max + margin, size - 1)``
    as an exclusive bound), reproduced here. Without any labelled pixel the labels are returned as
    they are.
    """
    labelled = (labels != -1).nonzero()
    if labelled.numel() == 0:
        return labels
    (top, left), (bottom, right) = labelled.amin(0).tolist(), labelled.amax(0).tolist()
    height, width = labels.shape
    out = torch.zeros_like(labels)
    box = (
        slice(max(top - margin, 0), min(bottom + margin, height - 1)),
        slice(max(left - margin, 0), min(right + margin, width - 1)),
    )
    out[box] = labels[box]
    return out


class NativeMANetBackend(VOSBackend):
    """MANet in plain PyTorch on any device.

    Args:
        weights: Checkpoint (the authors' ``save_step_80000.pth`` for ``config="released"``); None
            keeps random weights and warns.
        device: Torch device.
        config: ``"released"``, ``"cpu"`` (see :data:`MANET_CONFIGS`) or a :class:`MANetConfig`.
        input_size: ``(height, width)`` frames are resized to before embedding; overrides the
            configuration's (None there means the frames' own size).
        dtype: Computation dtype (float32; float64 for equivalence checks).
        batch_size: Frames embedded per forward pass.
        pixel_rule: How scribbles are drawn at embedding resolution: ``"davis"`` (default, the authors'
            ``scribbles2mask``, which the released weights were trained and evaluated with) or the
            project's ``"inverse"``; see :func:`vos_recommender.interaction.scribbles.rasterize_scribble`.

    Raises:
        BackendNotAvailableError: If ``weights`` is given but is not a file.
        CheckpointMismatchError: If the checkpoint does not fit the configuration.
        ValueError: On an unknown configuration name or ``pixel_rule``.
    """

    name = "manet"
    #: The simulated user MANet was evaluated with in IVOS-W (davis-interactive's default robot).
    simulated_user = {"min_nb_nodes": 4}

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        config: str | MANetConfig = "released",
        input_size: tuple[int, int] | None = None,
        dtype: torch.dtype = torch.float32,
        batch_size: int = 4,
        pixel_rule: str = "davis",
    ) -> None:
        super().__init__()
        if pixel_rule not in PIXEL_RULES:
            raise ValueError(f"pixel_rule must be one of {PIXEL_RULES}, got {pixel_rule!r}")
        self.pixel_rule = pixel_rule
        if isinstance(config, str):
            if config not in MANET_CONFIGS:
                raise ValueError(f"unknown MANet config {config!r}; choose from {sorted(MANET_CONFIGS)}")
            config = MANET_CONFIGS[config]
        self.config = config
        self.model = MANet(config)
        if weights is None:
            warnings.warn(
                "NativeMANetBackend: no weights= given, the MANet networks keep their random "
                "initialisation and their masks are meaningless",
                stacklevel=2,
            )
        else:
            if not os.path.isfile(weights):
                raise BackendNotAvailableError(f"MANet weights not found: {weights}")
            load_manet_checkpoint(self.model, weights)
        self.device = torch.device(device)
        self.dtype = dtype
        self.model.to(device=self.device, dtype=dtype).eval()
        self.input_size = tuple(int(v) for v in input_size) if input_size else config.input_size
        self.batch_size = int(batch_size)
        self._embeddings: torch.Tensor | None = None
        self._memory: RoundMemory | None = None
        self._labels: torch.Tensor | None = None

    # ------------------------------------------------------------------ video
    def _preprocess(self, rgb: np.ndarray) -> np.ndarray:
        bgr = np.ascontiguousarray(rgb[..., ::-1]).astype(np.float32)
        if self.input_size is not None and tuple(self.input_size) != bgr.shape[:2]:
            height, width = self.input_size
            bgr = cv2.resize(bgr, dsize=(width, height), interpolation=cv2.INTER_CUBIC)
        # The authors' arithmetic, rounding for rounding: a float32 division, then in-place
        # subtraction and division by float64 tuples (computed in float64, stored as float32). The
        # input's last bit matters when comparing with their code.
        image = bgr / 255.0
        image[...] = image - _MEAN
        image[...] = image / _STD
        return image.transpose(2, 0, 1)

    @torch.no_grad()
    def _start(self) -> None:
        assert self.frames is not None
        embeddings = []
        for start in range(0, len(self.frames), self.batch_size):
            batch = np.stack([self._preprocess(f) for f in self.frames[start : start + self.batch_size]])
            images = torch.from_numpy(batch).to(device=self.device, dtype=self.dtype)
            embeddings.append(self.model.extract_feature(images))
        self._embeddings = torch.cat(embeddings, 0)
        self._memory = RoundMemory(self.num_objects + 1)
        self._labels = torch.zeros(self.frames.shape[:3], dtype=torch.long, device=self.device)

    def _reset(self) -> None:
        self._embeddings = self._memory = self._labels = None

    # ------------------------------------------------------------------ rounds
    def _small(self, labels: torch.Tensor) -> torch.Tensor:
        """Frame-size labels -> embedding-size labels (nearest, as the authors' heads resize them)."""
        assert self._embeddings is not None
        size = self._embeddings.shape[-2:]
        return F.interpolate(labels[None, None].float(), size=size, mode="nearest")[0, 0].long()

    def _upsample(self, logits: torch.Tensor) -> torch.Tensor:
        assert self.frames is not None
        size = self.frames.shape[1:3]
        return F.interpolate(logits[None], size=size, mode="bilinear", align_corners=True)[0]

    @torch.no_grad()
    def _interact(self, scribble: dict[str, Any], frame: int) -> tuple[np.ndarray, np.ndarray]:
        assert self._embeddings is not None and self._memory is not None and self._labels is not None
        embeddings, memory, labels = self._embeddings, self._memory, self._labels
        first = memory.next_round() == 1
        emb_h, emb_w = embeddings.shape[-2:]
        drawn = rasterize_scribble(scribble, frame, emb_h, emb_w, pixel_rule=self.pixel_rule)
        drawn = torch.from_numpy(drawn.astype(np.int64))
        drawn = drawn.to(self.device)
        if first:
            drawn = rough_roi(drawn)
        previous_round = None if first else self._small(labels[frame])
        reference = embeddings[frame]
        logits: dict[int, torch.Tensor] = {}
        logits[frame] = self._upsample(
            self.model.interaction_logits(reference, drawn, previous_round, memory, frame)
        )
        labels[frame] = logits[frame].argmax(0)
        for step in (1, -1):
            previous, previous_labels = reference, labels[frame]
            t = frame + step
            while 0 <= t < len(labels):
                current = embeddings[t]
                out = self.model.propagation_logits(
                    reference, drawn, previous, self._small(previous_labels), current, memory, t, frame
                )
                logits[t] = self._upsample(out)
                labels[t] = logits[t].argmax(0)
                previous, previous_labels = current, labels[t]
                t += step
        probs = torch.softmax(torch.stack([logits[t] for t in range(len(labels))]), 1)
        # Labels from the probabilities in the computation dtype (float64 ties differ from float32's).
        masks = probs.argmax(1).to(torch.uint8).cpu().numpy()
        return masks, probs.float().cpu().numpy()
