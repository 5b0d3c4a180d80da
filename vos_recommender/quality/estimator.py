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
structure with the project's :class:`~vos_recommender.nets.resnet.ResNet` (randomly initialised; an
ImageNet torchvision state dict loads into ``QualityNet.body``).
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
from vos_recommender.nets.resnet import ResNet
from vos_recommender.quality.oracle import QualitySource
from vos_recommender.utils.atomic import atomic_torch_save

__all__ = [
    "QualityConfig",
    "QualityNet",
    "WildQuality",
    "crop_object",
    "load_quality_checkpoint",
    "save_quality_checkpoint",
    "upgrade_resnet50_state_dict",
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

    The first layer has two branches, an RGB convolution (``conv_rgb``; ``body.conv1`` with the ResNet)
    and ``conv_prob`` (1 channel), whose outputs are summed, so an RGB backbone gains a probability input without changing its other
    layers (the released design on top of an ImageNet ResNet-50).

    Args:
        config: Architecture settings.
    """

    def __init__(self, config: QualityConfig | None = None) -> None:
        super().__init__()
        self.config = config or QualityConfig()
        if self.config.backbone == "resnet50":
            # The RGB branch is the ResNet's own conv1 (body.conv1), so ImageNet weights fit unchanged.
            self.body = ResNet(50)
            self.conv_prob = nn.Conv2d(1, 64, 7, stride=2, padding=3, bias=False)
            features = self.body.out_channels
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
        if isinstance(self.body, ResNet):
            x = self.body(crops[:, :3], stem_add=self.conv_prob(crops[:, 3:4]))
        else:
            x = self.body(self.conv_rgb(crops[:, :3]) + self.conv_prob(crops[:, 3:4]))
        return self.fc(self.pool(x).flatten(1))[:, 0]


#: Block layout of the ResNet-50 estimator before it used the shared ResNet: one flat ``body`` Sequential
#: (BN, ReLU, max-pool, then the 16 bottlenecks) and blocks with ``body.<i>`` / ``shortcut.<i>`` members.
_LEGACY_BLOCK_NAMES = {
    "body.0": "conv1",
    "body.1": "bn1",
    "body.3": "conv2",
    "body.4": "bn2",
    "body.6": "conv3",
    "body.7": "bn3",
    "shortcut.0": "downsample.0",
    "shortcut.1": "downsample.1",
}


def upgrade_resnet50_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a ResNet-50 estimator state dict of the earlier layout to the shared ResNet's names.

    ``conv_rgb`` becomes ``body.conv1``, ``body.0`` (the stem's BN) ``body.bn1``, and block ``body.<3+i>``
    the i-th bottleneck of ``layer1`` .. ``layer4`` (3, 4, 6, 3 blocks).

    Raises:
        ValueError: On a key that belongs to neither layout.
    """
    blocks = [(stage, index) for stage, count in enumerate((3, 4, 6, 3), 1) for index in range(count)]
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        new = None
        if key.startswith("conv_rgb."):
            new = "body.conv1." + key[len("conv_rgb.") :]
        elif key.startswith("body.0."):
            new = "body.bn1." + key[len("body.0.") :]
        elif key.startswith("body."):
            position, _, rest = key[len("body.") :].partition(".")
            block = int(position) - 3 if position.isdigit() else -1
            for old, renamed in _LEGACY_BLOCK_NAMES.items():
                if 0 <= block < len(blocks) and rest.startswith(old + "."):
                    stage, index = blocks[block]
                    new = f"body.layer{stage}.{index}.{renamed}.{rest[len(old) + 1 :]}"
                    break
        elif key.startswith(("conv_prob.", "fc.")):
            new = key
        if new is None:
            raise ValueError(f"unexpected key {key!r} in a ResNet-50 quality estimator state dict")
        out[new] = value
    return out


def save_quality_checkpoint(path: str | os.PathLike, net: QualityNet, extra: dict | None = None) -> None:
    """Write the estimator atomically (:func:`vos_recommender.utils.atomic.atomic_torch_save`)."""
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
        path = path / "quality_estimator.pt"  # a run folder of training.quality
    hint = "train one with: python -m vos_recommender.training.quality --data <root> --out <dir>"
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
    state = payload["state_dict"]
    if net.config.backbone == "resnet50" and "conv_rgb.weight" in state:
        state = upgrade_resnet50_state_dict(state)
    net.load_state_dict(state)
    return net.eval()


class WildQuality(QualitySource):
    """Per-frame quality predicted by a trained :class:`QualityNet` (no ground truth needed).

    Args:
        checkpoint: Path written by ``python -m vos_recommender.training.quality`` (or its run folder).
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
