"""Adapters for the authors' IPN, MANet and ATNet, tested against the stand-in repositories.

``tests/vos/fake_authors`` holds test doubles with the authors' module layout and call signatures
(not their models); these tests check the adapters' import, weight-loading and per-round call
contracts, and the errors when code or weights are missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.vos.fake_authors import use_fake_davisinteractive
from vos_recommender.backends import BackendNotAvailableError, build_backend
from vos_recommender.backends.authors import AuthorsCode
from vos_recommender.interaction.scribbles import empty_scribble

FAKE = Path(__file__).parent / "fake_authors"
T, H, W, NUM_OBJECTS = 6, 32, 48, 2


def _frames() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, size=(T, H, W, 3), dtype=np.uint8)


def _scribble(frame: int, points: dict[int, tuple[int, int]]) -> dict:
    """One single-point stroke per object id at pixel (row, col)."""
    scribble = empty_scribble("toy", T)
    for obj_id, (row, col) in points.items():
        scribble["scribbles"][frame].append(
            {"path": [[col / W, row / H]], "object_id": obj_id, "start_time": 0, "end_time": 10}
        )
    return scribble


def _import_fake(folder: str, module: str):
    return AuthorsCode(FAKE / folder, "fake", []).import_module(module)


# --------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("name", ["ipn_authors", "manet_authors", "atnet_authors"])
def test_missing_code_dir_names_the_path(tmp_path, name):
    missing = tmp_path / "nowhere"
    with pytest.raises(BackendNotAvailableError, match="nowhere"):
        build_backend(name, code_dir=missing, weights=tmp_path / "w.pth")
    with pytest.raises(BackendNotAvailableError, match="code_dir"):
        build_backend(name)


def test_missing_files_and_modules_are_named(tmp_path):
    with pytest.raises(BackendNotAvailableError, match="I.pth"):
        build_backend("ipn_authors", code_dir=FAKE / "ipn", weights=tmp_path)
    with pytest.raises(BackendNotAvailableError, match="networks/IntVOS.py"):
        build_backend("manet_authors", code_dir=FAKE / "ipn", weights=tmp_path / "w.pth")
    with pytest.raises(BackendNotAvailableError, match="ATNet-checkpoint.pth"):
        build_backend("atnet_authors", code_dir=FAKE / "atnet", device="cpu")
    # A repository whose module needs a package that is not installed.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.py").write_text("import davisinteractive_not_installed\n")
    for name in ("I.pth", "P.pth"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(BackendNotAvailableError, match="davisinteractive_not_installed"):
        build_backend("ipn_authors", code_dir=broken, weights=tmp_path)


def test_corrupt_weights_are_reported(tmp_path):
    for name in ("I.pth", "P.pth"):
        (tmp_path / name).write_bytes(b"not a checkpoint")
    with pytest.raises(BackendNotAvailableError, match="cannot read weights"):
        build_backend("ipn_authors", code_dir=FAKE / "ipn", weights=tmp_path)


# ------------------------------------------------------------------------------------------ IPN
def _ipn_weights(tmp_path: Path) -> Path:
    inet = _import_fake("ipn", "interaction_net").Inet()
    with torch.no_grad():
        inet.conv.weight.copy_(torch.tensor([10.0, -10.0, 0.0]).view(1, 3, 1, 1))
        inet.conv.bias.fill_(-5.0)
    pnet = _import_fake("ipn", "propagation_net").Pnet()
    # Saved as nn.DataParallel does ("module." prefix), as the released weights are.
    torch.save({f"module.{k}": v for k, v in inet.state_dict().items()}, tmp_path / "I.pth")
    torch.save(pnet.state_dict(), tmp_path / "P.pth")
    return tmp_path


def test_ipn_adapter_contract(tmp_path):
    backend = build_backend("ipn_authors", code_dir=FAKE / "ipn", weights=_ipn_weights(tmp_path))
    assert backend.model.model_I.conv.bias.item() == -5.0  # weights really loaded
    for name in ("model", "interaction_net", "propagation_net", "utils_ipn"):
        assert name not in sys.modules  # the authors' generic names do not leak
    backend.start_video(_frames(), NUM_OBJECTS, video_id="toy")
    result = backend.interact(_scribble(2, {1: (5, 5), 2: (20, 30), 0: (28, 2)}), 2)
    assert result.masks.shape == (T, H, W) and result.probs.shape == (T, NUM_OBJECTS + 1, H, W)
    assert result.masks[2, 5, 5] == 1 and result.masks[2, 20, 30] == 2 and result.masks[2, 28, 2] == 0
    np.testing.assert_allclose(result.probs.sum(axis=1), 1.0, atol=1e-5)
    # Round 2 on frame 4: IPN receives only this round's strokes and the object count from the start.
    backend.interact(_scribble(4, {1: (10, 40)}), 4)
    last = backend.code.modules["model"].CALLS[-1]
    assert last["num_objs"] == NUM_OBJECTS
    assert last["scribbles"]["annotated_frame"] == 4
    assert [len(s) for s in last["scribbles"]["scribbles"]] == [0, 0, 0, 0, 1, 0]


# ---------------------------------------------------------------------------------------- MANet
def test_manet_adapter_contract(tmp_path, monkeypatch):
    use_fake_davisinteractive(
        monkeypatch
    )  # the adapter draws scribbles with davisinteractive's scribbles2mask
    intvos = AuthorsCode(FAKE / "manet", "fake", [], injected=_manet_config_module()).import_module(
        "networks.IntVOS"
    )
    deeplab = _import_fake("manet", "networks.deeplab")
    with torch.no_grad():
        model = intvos.IntVOS(_manet_cfg(), deeplab.DeepLab())
        model.inter_seghead.weight.fill_(1.0)
        model.dynamic_seghead.weight.fill_(1.0)
    torch.save(model.state_dict(), tmp_path / "save_step_80000.pth")

    backend = build_backend(
        "manet_authors",
        code_dir=FAKE / "manet",
        weights=tmp_path / "save_step_80000.pth",
        device="cpu",
        input_size=(32, 48),
    )
    # "dataloaders" is a namespace package (no __init__.py), as folders in research code often are.
    assert not {"config", "networks", "dataloaders"} & set(sys.modules)
    backend.start_video(_frames(), NUM_OBJECTS, video_id="toy")
    result = backend.interact(_scribble(3, {1: (4, 4), 2: (24, 40), 0: (16, 24)}), 3)
    assert result.masks.shape == (T, H, W) and result.probs.shape == (T, NUM_OBJECTS + 1, H, W)
    np.testing.assert_allclose(result.probs.sum(axis=1), 1.0, atol=1e-5)
    assert result.masks[3, 4, 4] == 1 and result.masks[3, 24, 40] == 2
    calls = backend.code.modules["networks.IntVOS"].CALLS
    assert calls[0] == ("int", 3, 1, True, True)
    assert [c[1] for c in calls[1:]] == [4, 5, 2, 1, 0]  # forward to the end, then backward
    calls.clear()
    backend.interact(_scribble(5, {1: (8, 8)}), 5)
    # MANet restarts propagation from the latest scribble, with the previous round's labels.
    assert calls[0] == ("int", 5, 2, False, False)
    assert [c[1] for c in calls[1:]] == [4, 3, 2, 1, 0] and all(c[3] == 5 for c in calls[1:])


def _manet_cfg():
    from vos_recommender.backends.authors import manet_config

    return manet_config()


def _manet_config_module():
    from types import ModuleType

    module = ModuleType("config")
    module.cfg = _manet_cfg()
    return {"config": module}


# ---------------------------------------------------------------------------------------- ATNet
def test_atnet_adapter_contract(tmp_path):
    net = _import_fake("atnet", "networks.atnet").ATnet()
    with torch.no_grad():
        net.anet.weight.copy_(torch.tensor([0, 0, 0, 0, 10.0, -10.0]).view(1, 6, 1, 1))
        net.anet.bias.fill_(-5.0)
    torch.save(net.state_dict(), tmp_path / "ATNet-checkpoint.pth")
    backend = build_backend(
        "atnet_authors", code_dir=FAKE / "atnet", weights=tmp_path / "ATNet-checkpoint.pth", device="cpu"
    )
    backend.start_video(_frames(), NUM_OBJECTS, video_id="toy")
    result = backend.interact(_scribble(1, {1: (5, 5), 2: (20, 30)}), 1)
    assert result.masks.shape == (T, H, W) and result.probs.shape == (T, NUM_OBJECTS + 1, H, W)
    assert result.masks[1, 5, 5] == 1 and result.masks[1, 20, 30] == 2
    assert result.masks[4, 5, 5] == 1  # propagated by the transfer network
    utils_calls = backend.code.modules["libs.utils"].CALLS
    utils_calls.clear()
    backend.interact(_scribble(4, {2: (10, 10)}), 4)
    # ATNet sees every scribble so far: round 1's strokes on frame 1 and round 2's on frame 4.
    assert utils_calls[0]["num_strokes"] == [0, 2, 0, 0, 1, 0]
    tnet = [c for c in backend.code.modules["networks.atnet"].CALLS if c[0] == "tnet"]
    assert tnet[-1][1:] == (2, 2)  # both annotated frames' encodings go to the transfer network


def test_registry_points_at_the_authors_modules():
    from vos_recommender.backends import BACKENDS
    from vos_recommender.backends.authors import atnet, ipn, manet

    for name, cls in (
        ("ipn_authors", ipn.IPNBackend),
        ("manet_authors", manet.MANetBackend),
        ("atnet_authors", atnet.ATNetBackend),
    ):
        assert BACKENDS.get(name) is cls


def _fake_atnet_copy(tmp_path: Path, extra: dict[str, str]) -> Path:
    import shutil

    code = tmp_path / "atnet_code"
    shutil.copytree(FAKE / "atnet", code, ignore=shutil.ignore_patterns("__pycache__"))
    for rel, text in extra.items():
        (code / rel).parent.mkdir(parents=True, exist_ok=True)
        (code / rel).write_text(text)
    return code


def test_atnet_adapter_refuses_cuda_calls_without_cuda(tmp_path):
    code = _fake_atnet_copy(
        tmp_path, {"networks/ltm_transfer.py": "import torch\nd = torch.zeros(2).cuda()\n"}
    )
    with pytest.raises(
        BackendNotAvailableError, match=r"\.cuda\(\) \(networks/ltm_transfer\.py:2\).*device='cpu'"
    ):
        build_backend("atnet_authors", code_dir=code, weights=tmp_path / "w.pth", device="cpu")


def test_atnet_adapter_detects_the_backbone_download_before_building(tmp_path, monkeypatch):
    resnet = "URL = 'https://download.pytorch.org/models/resnet50-19c8e357.pth'\n"
    code = _fake_atnet_copy(tmp_path, {"networks/deeplab/backbone/resnet.py": resnet})
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(BackendNotAvailableError, match="resnet50-19c8e357.pth"):
        build_backend("atnet_authors", code_dir=code, weights=tmp_path / "w.pth", device="cpu")
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / "resnet50-19c8e357.pth").write_bytes(b"")
    with pytest.raises(BackendNotAvailableError, match="ATNet-checkpoint.pth|w.pth"):  # past the check
        build_backend("atnet_authors", code_dir=code, weights=tmp_path / "w.pth", device="cpu")


def test_atnet_numpy_aliases_exist_only_inside_the_adapters_calls():
    from vos_recommender.backends.authors.atnet import numpy_aliases

    assert "int" not in np.__dict__
    with numpy_aliases():
        assert getattr(np, "int") is int and getattr(np, "float") is float  # noqa: B009
    assert "int" not in np.__dict__ and "float" not in np.__dict__
