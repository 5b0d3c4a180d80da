"""Native ATNet: checkpoint compatibility with the authors' model, the local-transfer operators, the loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vos_recommender.nets.atnet import (
    ATNet,
    displacements,
    load_atnet_checkpoint,
    local_correlation,
    read_atnet_state_dict,
    shift_zero,
)

MANIFEST = Path(__file__).parent / "data" / "manifests" / "atnet.json"


def _manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def _manifest_state(seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for entry in _manifest()["tensors"]:
        dtype = getattr(torch, entry["dtype"])
        if dtype.is_floating_point:
            state[entry["name"]] = torch.randn(entry["shape"], generator=gen, dtype=dtype)
        else:
            state[entry["name"]] = torch.randint(0, 100, entry["shape"], generator=gen, dtype=dtype)
    return state


@pytest.fixture(scope="module")
def released() -> ATNet:
    return ATNet.from_config("released")


# ------------------------------------------------------------------------------ checkpoint compatibility
def test_manifest_records_the_authors_commit():
    manifest = _manifest()
    assert manifest["repository"] == "yuk6heo/IVOS-ATNet"
    assert manifest["commit"] == "1cf574953a96bd680c518c6362b510fd103ff271"
    assert len(manifest["tensors"]) > 900


def test_native_names_shapes_and_dtypes_equal_the_manifest(released):
    want = [(t["name"], tuple(t["shape"]), t["dtype"]) for t in _manifest()["tensors"]]
    have = [(k, tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in released.state_dict().items()]
    assert sorted(have) == sorted(want)


def test_manifest_shaped_state_dict_loads_strictly(released):
    state = _manifest_state()
    released.load_state_dict(state, strict=True)
    key = "decoder_prop.RF2.convFS1.weight"
    assert torch.equal(released.state_dict()[key], state[key])


@pytest.mark.parametrize("wrap", ["plain", "module_prefix", "state_dict_key"])
def test_loader_accepts_saved_formats(tmp_path, wrap):
    # The released file is a plain state dict (their evaluation: net.load_state_dict(torch.load(path))).
    model = ATNet.from_config("cpu")
    source = {
        k: torch.full_like(v, 0.5) if v.is_floating_point() else v for k, v in model.state_dict().items()
    }
    saved = {
        "plain": source,
        "module_prefix": {f"module.{k}": v for k, v in source.items()},
        "state_dict_key": {"state_dict": source, "epoch": 3},
    }[wrap]
    path = tmp_path / "ATNet-checkpoint.pth"
    torch.save(saved, path)
    target = ATNet.from_config("cpu")
    assert load_atnet_checkpoint(target, path) == len(source)
    assert torch.equal(target.state_dict()["conv1x1.weight"], source["conv1x1.weight"])
    assert set(read_atnet_state_dict(path)) == set(source)


def test_loader_names_the_file_and_the_first_wrong_keys(tmp_path):
    state = ATNet.from_config("cpu").state_dict()
    state.pop("prev_conv1x1.weight")
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "wrong.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"wrong\.pth.*prev_conv1x1\.weight.*extra\.weight"):
        load_atnet_checkpoint(ATNet.from_config("cpu"), path)
    with pytest.raises(ValueError, match="of another shape"):
        load_atnet_checkpoint(ATNet(depth=18, mdim=32), _save(tmp_path, ATNet.from_config("cpu")))
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth"):
        read_atnet_state_dict(tmp_path / "junk.pth")
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        read_atnet_state_dict(tmp_path / "missing.pth")


def _save(folder: Path, model: ATNet) -> Path:
    path = folder / "cpu-sized.pth"
    torch.save(model.state_dict(), path)
    return path


# ------------------------------------------------------------------------------ local transfer operators
def _correlation_loop(f1, f2, max_displacement, stride, pad):
    """FlowNet2's kernel, one output value at a time (kernel_size 1, stride1 1)."""
    b, c, h, w = f1.shape
    radius = max_displacement // stride
    out_h, out_w = h + 2 * pad - 2 * max_displacement, w + 2 * pad - 2 * max_displacement
    out = torch.zeros(b, (2 * radius + 1) ** 2, out_h, out_w, dtype=f1.dtype)
    for n in range(b):
        for y in range(out_h):
            for x in range(out_w):
                y1, x1 = y + max_displacement - pad, x + max_displacement - pad  # unpadded coordinates
                for j in range(-radius, radius + 1):
                    for i in range(-radius, radius + 1):
                        y2, x2 = y1 + j * stride, x1 + i * stride
                        inside1 = 0 <= y1 < h and 0 <= x1 < w
                        inside2 = 0 <= y2 < h and 0 <= x2 < w
                        if inside1 and inside2:
                            channel = (j + radius) * (2 * radius + 1) + (i + radius)
                            out[n, channel, y, x] = (f1[n, :, y1, x1] * f2[n, :, y2, x2]).sum() / c
    return out


@pytest.mark.parametrize("max_displacement,stride,pad", [(8, 2, 8), (2, 1, 2), (4, 2, 2)])
def test_correlation_equals_the_loop_reference(max_displacement, stride, pad):
    gen = torch.Generator().manual_seed(1)
    f1 = torch.randn(2, 3, 7, 9, generator=gen, dtype=torch.float64)
    f2 = torch.randn(2, 3, 7, 9, generator=gen, dtype=torch.float64)
    fast = local_correlation(f1, f2, max_displacement, stride, pad)
    slow = _correlation_loop(f1, f2, max_displacement, stride, pad)
    assert fast.shape == slow.shape
    assert torch.allclose(fast, slow, atol=1e-12)


def test_correlation_rejects_mismatched_maps():
    with pytest.raises(ValueError, match="one shape"):
        local_correlation(torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 4, 4), 2, 1)


def test_shift_reads_displaced_pixels_and_zero_outside():
    x = torch.arange(20.0).view(1, 1, 4, 5)
    for dy, dx in displacements(4, 2) + [(1, -3), (-2, 1)]:
        out = shift_zero(x, dy, dx)
        for y in range(4):
            for col in range(5):
                inside = 0 <= y + dy < 4 and 0 <= col + dx < 5
                assert out[0, 0, y, col] == (x[0, 0, y + dy, col + dx] if inside else 0)


def test_displacement_order_is_vertical_major():
    order = displacements(8, 2)
    assert len(order) == 81 and order[0] == (-8, -8) and order[1] == (-8, -6) and order[9] == (-6, -8)


def test_global_transfer_is_attention_over_target_positions():
    gen = torch.Generator().manual_seed(2)
    keys = [torch.randn(2, 4, 3, 3, generator=gen, dtype=torch.float64) for _ in range(2)]
    values = [torch.randn(2, 4, 3, 3, generator=gen, dtype=torch.float64) for _ in range(2)]
    target = torch.randn(2, 4, 3, 3, generator=gen, dtype=torch.float64)
    out = ATNet.global_transfer(keys, target, values)
    want = torch.zeros_like(out)
    for k, v in zip(keys, values):
        # softmax over the target positions q for each memory position p, averaged over frames
        logits = torch.einsum("bcp,bcq->bpq", k.flatten(2), target.flatten(2))
        want += torch.einsum("bcp,bpq->bcq", v.flatten(2), logits.softmax(dim=2)).view_as(out) / len(keys)
    assert torch.allclose(out, want, atol=1e-12)
