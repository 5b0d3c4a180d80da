"""The authors'-code IPN adapter (``ipn_authors``): device, backbone-download and NumPy-alias checks,
exercised with the stand-in repository in ``tests/vos/fake_authors/ipn``."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.vos.test_backend_authors import FAKE, NUM_OBJECTS, _frames, _ipn_weights, _scribble
from vos_recommender.backends import BackendNotAvailableError, build_backend
from vos_recommender.backends.authors.ipn import RESNET50_FILES, numpy_aliases


def _fake_copy(tmp_path: Path, patch=None) -> Path:
    code = tmp_path / "code"
    shutil.copytree(FAKE / "ipn", code)
    if patch is not None:
        patch(code)
    return code


def test_device_must_match_where_the_code_puts_its_networks(tmp_path, monkeypatch):
    weights = _ipn_weights(tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BackendNotAvailableError, match="device='cuda:0' but no CUDA GPU"):
        build_backend("ipn_authors", code_dir=FAKE / "ipn", weights=weights, device="cuda:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(BackendNotAvailableError, match="GPU is visible.*device='cpu'"):
        build_backend("ipn_authors", code_dir=FAKE / "ipn", weights=weights, device="cpu")


def test_backbone_download_is_detected_before_building(tmp_path, monkeypatch):
    def needs_imagenet(code: Path) -> None:
        net = code / "interaction_net.py"
        net.write_text(
            net.read_text() + "\n\ndef backbone(models):\n    return models.resnet50(pretrained=True)\n"
        )

    code = _fake_copy(tmp_path, needs_imagenet)
    weights = _ipn_weights(tmp_path)
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    with pytest.raises(BackendNotAvailableError, match=r"resnet50\(pretrained=True\).*hub/checkpoints"):
        build_backend("ipn_authors", code_dir=code, weights=weights)
    build_backend("ipn_authors", code_dir=code, weights=weights, allow_download=True)
    (hub / "checkpoints").mkdir(parents=True)
    (hub / "checkpoints" / RESNET50_FILES[0]).write_bytes(b"")
    build_backend("ipn_authors", code_dir=code, weights=weights)  # cached: nothing to download


def test_numpy_aliases_exist_only_while_the_code_runs(tmp_path):
    def uses_aliases(code: Path) -> None:
        model = code / "model.py"
        text = model.read_text()
        marker = '        scribbles = variables["scribbles"]\n'
        assert marker in text
        model.write_text(
            text.replace(marker, marker + "        ALIASES.append((np.int, np.float))\n", 1)
            + "\nALIASES = []\n"
        )

    code = _fake_copy(tmp_path, uses_aliases)
    backend = build_backend("ipn_authors", code_dir=code, weights=_ipn_weights(tmp_path))
    backend.start_video(_frames(), NUM_OBJECTS)
    backend.interact(_scribble(2, {1: (5, 5)}), 2)
    assert backend.code.modules["model"].ALIASES == [(int, float)]
    assert "int" not in np.__dict__ and "float" not in np.__dict__
    with numpy_aliases():
        assert getattr(np, "int") is int and getattr(np, "float") is float  # noqa: B009
    assert "int" not in np.__dict__
