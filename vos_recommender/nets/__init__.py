"""Network building blocks shared across the project (one ResNet for every model that needs one)."""

from __future__ import annotations

from vos_recommender.nets.resnet import BasicBlock, Bottleneck, ResNet

__all__ = ["BasicBlock", "Bottleneck", "ResNet"]
