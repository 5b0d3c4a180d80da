"""Fixtures of the segmentation tests: the devices every operator and the head's train step run on."""

from __future__ import annotations

import pytest
import torch

DEVICES = (
    pytest.param("cpu", id="cpu"),
    pytest.param(
        "cuda",
        id="cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
    ),
)


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """``cpu`` always and ``cuda`` when a CUDA device is present (skipped, with its reason, otherwise)."""
    return torch.device(request.param)
