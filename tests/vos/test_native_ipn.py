"""Native IPN networks: checkpoint compatibility with the authors' code (via the manifest) and loading.

``tests/vos/data/manifests/ipn.json`` lists every tensor of the authors' ``Inet`` / ``Pnet`` as their
code builds them (written by ``benchmarks/vos_native_equivalence.py ipn --write-manifest``), so these
tests guard the released checkpoints' compatibility without the authors' code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vos_recommender.nets.ipn import (
    CONFIGS,
    InteractionNetwork,
    IPNConfig,
    PropagationNetwork,
    load_weights,
    unwrap_state_dict,
)

MANIFEST = Path(__file__).parent / "data" / "manifests" / "ipn.json"
NETWORKS = {"I.pth": InteractionNetwork, "P.pth": PropagationNetwork}


def _manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def manifest_state(file: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors with the manifest's names, shapes and dtypes."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, spec in _manifest()["checkpoints"][file]["tensors"].items():
        dtype = getattr(torch, spec["dtype"].split(".")[-1])
        if dtype.is_floating_point:
            state[name] = torch.randn(spec["shape"], generator=generator, dtype=dtype)
        else:
            state[name] = torch.randint(0, 100, spec["shape"], generator=generator, dtype=dtype)
    return state


def test_manifest_records_the_authors_commit():
    manifest = _manifest()
    assert manifest["authors_repository"].endswith("zyy-cn/IPN")
    assert manifest["authors_commit"] == "dd808cc9f21f7ca7061339703868a6057354db28"
    assert set(manifest["checkpoints"]) == set(NETWORKS)


@pytest.mark.parametrize("file", sorted(NETWORKS))
def test_native_names_shapes_dtypes_equal_the_manifest(file):
    expected = {
        name: (tuple(spec["shape"]), spec["dtype"])
        for name, spec in _manifest()["checkpoints"][file]["tensors"].items()
    }
    native = {name: (tuple(t.shape), str(t.dtype)) for name, t in NETWORKS[file]().state_dict().items()}
    assert sorted(set(native) - set(expected)) == [] and sorted(set(expected) - set(native)) == []
    assert native == expected


@pytest.mark.parametrize("file", sorted(NETWORKS))
def test_manifest_shaped_state_loads_strictly(file):
    net = NETWORKS[file]()
    state = manifest_state(file)
    net.load_state_dict(state, strict=True)
    for name, value in net.state_dict().items():
        assert torch.equal(value, state[name]), name


@pytest.mark.parametrize("wrap", ["dataparallel", "plain", "state_dict"])
def test_loader_accepts_the_authors_saved_formats(tmp_path, wrap):
    # save_IPN_checkpoint writes model_I.state_dict(); on GPU model_I is nn.DataParallel ("module.").
    state = manifest_state("I.pth", seed=3)
    saved = {
        "dataparallel": {f"module.{k}": v for k, v in state.items()},
        "plain": state,
        "state_dict": {"state_dict": state},
    }[wrap]
    torch.save(saved, tmp_path / "I.pth")
    net = InteractionNetwork()
    assert load_weights(net, tmp_path / "I.pth") == len(state)
    assert torch.equal(net.Encoder.conv1_p.weight, state["Encoder.conv1_p.weight"])
    assert torch.equal(net.Decoder.pred2.bias, state["Decoder.pred2.bias"])


def test_loader_names_the_file_and_the_first_bad_keys(tmp_path):
    state = manifest_state("P.pth")
    del state["SEFA.fc1.weight"]
    state["SEFA.fc3.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "P_bad.pth")
    with pytest.raises(ValueError, match="P_bad.pth") as err:
        load_weights(PropagationNetwork(), tmp_path / "P_bad.pth")
    assert "missing keys: SEFA.fc1.weight" in str(err.value)
    assert "unexpected keys: SEFA.fc3.weight" in str(err.value)
    # A checkpoint of the other size: shapes are reported.
    torch.save(PropagationNetwork(CONFIGS["cpu"]).state_dict(), tmp_path / "P_cpu.pth")
    with pytest.raises(ValueError, match=r"P_cpu.pth.*shape mismatches"):
        load_weights(PropagationNetwork(), tmp_path / "P_cpu.pth")
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        load_weights(PropagationNetwork(), tmp_path / "nowhere.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(ValueError, match="cannot read IPN checkpoint .*junk.pth"):
        load_weights(PropagationNetwork(), tmp_path / "junk.pth")


def test_unwrap_rejects_non_state_dicts():
    with pytest.raises(ValueError, match="my.pth does not hold a state dict"):
        unwrap_state_dict({"epoch": 3}, "my.pth")
    assert set(unwrap_state_dict({"module.a": torch.zeros(1), "module.b": torch.ones(1)})) == {"a", "b"}
    # A prefix on only some keys is not DataParallel's: left alone (and then reported as unexpected).
    assert set(unwrap_state_dict({"module.a": torch.zeros(1), "b": torch.ones(1)})) == {"module.a", "b"}


def test_config_validation_and_cpu_size():
    with pytest.raises(ValueError, match="roi_size"):
        IPNConfig(roi_size=100)
    released = sum(p.numel() for p in InteractionNetwork().parameters())
    small = sum(p.numel() for p in InteractionNetwork(CONFIGS["cpu"]).parameters())
    assert small * 3 < released


@pytest.mark.parametrize("config", ["released", "cpu"])
def test_networks_map_a_frame_to_a_probability(config):
    torch.manual_seed(0)
    cfg = CONFIGS[config]
    inet, pnet = InteractionNetwork(cfg).eval(), PropagationNetwork(cfg).eval()
    frame = torch.rand(1, 3, 70, 90)
    unset = torch.full((1, 70, 90), -1.0)
    positive = torch.zeros(1, 70, 90)
    positive[0, 30:34, 40:50] = 1
    with torch.no_grad():
        prob, reference = inet(frame, unset, positive, torch.zeros(1, 70, 90))
        assert prob.shape == (1, 70, 90) and 0 <= prob.min() and prob.max() <= 1
        assert reference.shape == (1, inet.Encoder.channels[-1], cfg.roi_size // 32, cfg.roi_size // 32)
        fused = pnet.reference(reference, reference * 0.5)
        assert fused.shape == reference.shape
        assert pnet.reference(reference, None) is reference
        out = pnet(frame, unset, prob, fused)
    assert out.shape == (1, 70, 90) and 0 <= out.min() and out.max() <= 1


def test_equivalence_benchmark_names_a_wrong_authors_dir(tmp_path):
    from benchmarks.vos_native_equivalence import main

    with pytest.raises(FileNotFoundError, match=rf"{tmp_path.name} has no model.py"):
        main(["ipn", "--authors-dir", str(tmp_path), "--write-manifest"])
