"""The learned per-frame quality estimator used in the wild setting.

Structure of the released estimator (IVOS-W ``models/assessment.py`` as described in the paper): the
input is the RGB frame and *one object's* probability map, both cropped around that object (the box
of ``prob > 0.5``, each side at least ``min_box`` pixels, enlarged 1.5 times) and resampled to a square;
a CNN whose first layer has an extra branch for the probability map (its output is added to the RGB
branch's); global pooling and ``Linear -> 1`` give the score, trained with MSE against the object's
true J&F (its mask being ``prob > 0.8``) on the VOS model's own outputs. A frame's quality is the mean
over its objects.

Released values: ResNet-50 backbone with ImageNet weights, ``min_box`` 128 px, crops of 256 x 256. No
pretrained weights can be fetched here and the generated videos are small, so the default backbone is
a tiny CNN with 64 x 64 crops and ``min_box`` 32; ``backbone="resnet50"`` builds the ResNet-50
structure (bottleneck blocks 3-4-6-3, randomly initialised; torchvision is not used).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from vos_recommender.backends.base import BackendNotAvailableError, VOSResult
from vos_recommender.quality.oracle import QualitySource

from ..atomic import atomic_torch_save

__all__ = [
    "QualityConfig",
    "QualityNet",
    "WildQuality",
    "crop_object",
    "load_quality_checkpoint",
    "save_quality_checkpoint",
]

CHECKPOINT_FORMAT = "vos_recommender.quality_estimator/1"


@dataclasses.dataclass
class QualityConfig:
    """Architecture and crop settings of the estimator (stored in its checkpoint)."""

    backbone: str = "tiny"
    """``"tiny"`` (four strided conv blocks) or ``"resnet50"`` (the released structure)."""
    width: int = 16
    """Channels of the first tiny-CNN block (ignored by resnet50)."""
    crop_size: int = 64
    """Side of the square the crop is resampled to (released: 256)."""
    min_box: int = 32
    """Smallest crop side before enlargement, in pixels (released: 128)."""
    box_scale: float = 1.5
    """Enlargement of the box around ``prob > 0.5``."""


def crop_object(
    frame: np.ndarray, prob: np.ndarray, crop_size: int = 64, min_box: int = 32, box_scale: float = 1.5
) -> np.ndarray:
    """Crop the frame and one object's probability map around the object and resample them.

    The box is the bounding box of ``prob > 0.5`` (the whole frame when empty); each side is raised to
    at least ``min_box`` and multiplied by ``box_scale`` around the box centre. Parts outside the image
    are zero.

    Args:
        frame: ``H x W x 3`` uint8 RGB frame.
        prob: ``H x W`` float probability of the object.
        crop_size: Output side length.
        min_box: Minimum box side in pixels.
        box_scale: Box enlargement factor.

    Returns:
        ``4 x crop_size x crop_size`` float32: RGB in ``[0, 1]`` then the probability map.
    """
    height, width = prob.shape
    ys, xs = np.nonzero(prob > 0.5)
    if len(ys):
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    else:
        y0, y1, x0, x1 = 0, height, 0, width
    cy, cx = (y0 + y1) / 2.0, (x0 + x1) / 2.0
    box_h = max(float(y1 - y0), float(min_box)) * box_scale
    box_w = max(float(x1 - x0), float(min_box)) * box_scale
    # Affine map from the box to the output square; warpAffine fills outside pixels with 0.
    sx, sy = crop_size / box_w, crop_size / box_h
    matrix = np.array(
        [[sx, 0.0, crop_size / 2.0 - sx * cx], [0.0, sy, crop_size / 2.0 - sy * cy]], dtype=np.float64
    )
    size = (crop_size, crop_size)
    rgb = cv2.warpAffine(
        frame.astype(np.float32) / 255.0, matrix, size, flags=cv2.INTER_LINEAR, borderValue=0
    )
    mask = cv2.warpAffine(prob.astype(np.float32), matrix, size, flags=cv2.INTER_LINEAR, borderValue=0)
    return np.concatenate([rgb.transpose(2, 0, 1), mask[None]], axis=0).astype(np.float32)


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        out = channels * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, out, 1, bias=False),
            nn.BatchNorm2d(out),
        )
        self.shortcut = (
            nn.Sequential(nn.Conv2d(in_channels, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
            if stride != 1 or in_channels != out
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def _resnet50_body() -> tuple[nn.Module, int]:
    layers: list[nn.Module] = [
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, stride=2, padding=1),
    ]
    in_channels = 64
    for channels, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for index in range(blocks):
            layers.append(_Bottleneck(in_channels, channels, stride if index == 0 else 1))
            in_channels = channels * _Bottleneck.expansion
    return nn.Sequential(*layers), in_channels


def _tiny_body(width: int) -> tuple[nn.Module, int]:
    layers: list[nn.Module] = [nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
    channels = width
    for _ in range(3):
        layers += [
            nn.Conv2d(channels, channels * 2, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(channels * 2),
            nn.ReLU(inplace=True),
        ]
        channels *= 2
    return nn.Sequential(*layers), channels


class QualityNet(nn.Module):
    """Quality regressor: RGB crop + probability crop -> one score (the object's J&F).

    The first layer has two branches, ``conv_rgb`` (3 channels) and ``conv_prob`` (1 channel), whose
    outputs are summed, so an RGB backbone gains a probability input without changing its other
    layers (the released design on top of an ImageNet ResNet-50).

    Args:
        config: Architecture settings.
    """

    def __init__(self, config: QualityConfig | None = None) -> None:
        super().__init__()
        self.config = config or QualityConfig()
        if self.config.backbone == "resnet50":
            stem = 64
            self.conv_rgb = nn.Conv2d(3, stem, 7, stride=2, padding=3, bias=False)
            self.conv_prob = nn.Conv2d(1, stem, 7, stride=2, padding=3, bias=False)
            self.body, features = _resnet50_body()
        elif self.config.backbone == "tiny":
            stem = self.config.width
            self.conv_rgb = nn.Conv2d(3, stem, 5, stride=2, padding=2, bias=False)
            self.conv_prob = nn.Conv2d(1, stem, 5, stride=2, padding=2, bias=False)
            self.body, features = _tiny_body(stem)
        else:
            raise ValueError(f"unknown backbone {self.config.backbone!r}; use 'tiny' or 'resnet50'")
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(features, 1)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """Map ``B x 4 x S x S`` crops (RGB + probability) to ``B`` scores."""
        x = self.conv_rgb(crops[:, :3]) + self.conv_prob(crops[:, 3:4])
        x = self.pool(self.body(x)).flatten(1)
        return self.fc(x)[:, 0]


def save_quality_checkpoint(path: str | os.PathLike, net: QualityNet, extra: dict | None = None) -> None:
    """Write the estimator atomically (temporary file + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": dataclasses.asdict(net.config),
        "state_dict": net.state_dict(),
        "extra": dict(extra or {}),
    }
    atomic_torch_save(payload, path)


def load_quality_checkpoint(path: str | os.PathLike) -> QualityNet:
    """Load an estimator written by :func:`save_quality_checkpoint` (tensors and plain values only).

    Raises:
        BackendNotAvailableError: If the file is missing, corrupt or of another kind.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "quality_estimator.pt"  # a run folder of quality.train
    hint = "train one with: python -m vos_recommender.quality.train --data <root> --out <dir>"
    if not path.is_file():
        raise BackendNotAvailableError(f"quality estimator checkpoint not found: {path}; {hint}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise BackendNotAvailableError(
            f"quality estimator checkpoint {path} is unreadable ({err}); {hint}"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise BackendNotAvailableError(f"{path} is not a quality estimator checkpoint; {hint}")
    net = QualityNet(QualityConfig(**payload["config"]))
    net.load_state_dict(payload["state_dict"])
    return net.eval()


class WildQuality(QualitySource):
    """Per-frame quality predicted by a trained :class:`QualityNet` (no ground truth needed).

    Args:
        checkpoint: Path written by ``python -m vos_recommender.quality.train`` (or its run folder).
        net: An already built network (instead of ``checkpoint``).
        batch_size: Crops per forward pass.
    """

    name = "wild"

    def __init__(
        self, checkpoint: str | os.PathLike | None = None, net: QualityNet | None = None, batch_size: int = 64
    ) -> None:
        if net is None:
            if checkpoint is None:
                raise ValueError("WildQuality needs checkpoint= (or net=)")
            net = load_quality_checkpoint(checkpoint)
        self.net = net.eval()
        self.batch_size = int(batch_size)

    def crops(self, frames: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """All ``(frame, object)`` crops, ``(T * O) x 4 x S x S`` in frame-major order."""
        cfg = self.net.config
        return np.stack(
            [
                crop_object(frames[t], probs[t, o], cfg.crop_size, cfg.min_box, cfg.box_scale)
                for t in range(probs.shape[0])
                for o in range(1, probs.shape[1])
            ]
        )

    @torch.no_grad()
    def predict_objects(self, frames: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """Predicted J&F of every object on every frame, ``T x O``, clipped to ``[0, 1]``."""
        crops = torch.from_numpy(self.crops(frames, probs))
        scores = torch.cat(
            [self.net(crops[i : i + self.batch_size]) for i in range(0, len(crops), self.batch_size)]
        )
        return scores.clamp(0.0, 1.0).numpy().reshape(probs.shape[0], probs.shape[1] - 1).astype(np.float32)

    def __call__(
        self, frames: np.ndarray, result: VOSResult, gt_masks: np.ndarray | None, num_objects: int
    ) -> np.ndarray:
        """Mean predicted J&F over objects per frame; ``gt_masks`` is not used."""
        return self.predict_objects(frames, result.probs[:, : num_objects + 1]).mean(axis=1)
