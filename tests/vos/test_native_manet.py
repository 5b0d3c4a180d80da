"""Native MANet: checkpoint compatibility with the authors' model, matching maps, memory, backend.

The manifest (``tests/vos/data/manifests/manet.json``) lists every tensor of the authors' model as
their code builds it; it is written by ``benchmarks/vos_native_equivalence.py manet``, so these tests
guard checkpoint compatibility without the authors' code.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from vos_recommender.backends import build_backend
from vos_recommender.backends.native.manet import NativeMANetBackend, rough_roi
from vos_recommender.interaction.scribbles import empty_scribble
from vos_recommender.nets.manet import (
    MANET_CONFIGS,
    CheckpointMismatchError,
    MANet,
    RoundMemory,
    global_matching,
    load_manet_checkpoint,
    local_matching,
)

MANIFEST = Path(__file__).parent / "data" / "manifests" / "manet.json"
T, H, W, NUM_OBJECTS = 5, 48, 64, 2


def _manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def _manifest_state(seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, spec in _manifest()["tensors"].items():
        dtype = getattr(torch, spec["dtype"])
        if dtype.is_floating_point:
            state[name] = torch.rand(spec["shape"], generator=gen, dtype=dtype) + 0.5
        else:
            state[name] = torch.randint(0, 10, spec["shape"], generator=gen, dtype=dtype)
    return state


@pytest.fixture(scope="module")
def released_model() -> MANet:
    return MANet()


# ------------------------------------------------------------------------------ checkpoints
def test_manifest_names_the_authors_commit():
    manifest = _manifest()
    assert manifest["repository"] == "lightas/CVPR2020_MANet"
    assert manifest["commit"] == "75f562baff25c5c0c6c0c5d2ed9338dab54fd9b5"


def test_native_state_dict_matches_the_manifest_exactly(released_model):
    own = {
        k: (list(v.shape), str(v.dtype).replace("torch.", "")) for k, v in released_model.state_dict().items()
    }
    theirs = {k: (v["shape"], v["dtype"]) for k, v in _manifest()["tensors"].items()}
    assert sorted(set(own) ^ set(theirs)) == []
    assert {k: v for k, v in own.items() if theirs[k] != v} == {}


def test_manifest_shaped_state_dict_loads_strict(released_model):
    state = _manifest_state()
    released_model.load_state_dict(state, strict=True)
    loaded = released_model.state_dict()
    assert torch.equal(loaded["inter_seghead.conv.weight"], state["inter_seghead.conv.weight"])
    # The embedding layers are registered under two names, as in the authors' IntVOS.
    assert loaded["semantic_embedding.3.weight"].data_ptr() == loaded["embedding_conv.weight"].data_ptr()


@pytest.mark.parametrize("wrap", ["plain", "module_prefix", "state_dict_key", "no_batch_counters"])
def test_loader_accepts_the_authors_saved_format(tmp_path, wrap):
    source = MANet(MANET_CONFIGS["cpu"])
    state = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in source.state_dict().items()}
    saved: object = dict(state)
    if wrap == "module_prefix":
        saved = {f"module.{k}": v for k, v in state.items()}
    elif wrap == "state_dict_key":
        saved = {"state_dict": state, "step": 80000}
    elif wrap == "no_batch_counters":
        saved = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "save_step_80000.pth"
    torch.save(saved, path)  # the authors save with torch.save(net.state_dict(), path)
    target = MANet(MANET_CONFIGS["cpu"])
    assert load_manet_checkpoint(target, path) == len(state)
    for name in ("dynamic_seghead.conv.bias", "feature_extracter.backbone.layer4.1.conv2.weight"):
        assert torch.equal(target.state_dict()[name], state[name])


def test_wrong_checkpoint_names_the_file_and_the_keys(tmp_path):
    state = MANet(MANET_CONFIGS["cpu"]).state_dict()
    state.pop("inter_seghead.conv.weight")
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "wrong.pth"
    torch.save(state, path)
    with pytest.raises(
        CheckpointMismatchError, match=r"wrong\.pth.*inter_seghead\.conv\.weight.*extra\.weight"
    ):
        NativeMANetBackend(path, config="cpu")
    torch.save({"not": "weights"}, path)
    with pytest.raises(CheckpointMismatchError, match="wrong.pth"):
        load_manet_checkpoint(MANet(MANET_CONFIGS["cpu"]), path)


def test_released_checkpoint_does_not_fit_the_cpu_configuration(tmp_path):
    path = tmp_path / "save_step_80000.pth"
    torch.save(_manifest_state(), path)
    with pytest.raises(CheckpointMismatchError, match="shape mismatches"):
        NativeMANetBackend(path, config="cpu")


# ------------------------------------------------------------------------------ matching
def _naive_global(ref, labels, query, num_ids):
    dist = torch.cdist(query.flatten(1).t().double(), ref.flatten(1).t().double()) ** 2
    out = torch.ones(num_ids, query.shape[1] * query.shape[2], dtype=torch.float64)
    for i in range(num_ids):
        members = labels.flatten() == i
        if members.any():
            out[i] = (torch.sigmoid(dist[:, members].min(1).values) - 0.5) * 2
    return out.view(num_ids, *query.shape[1:])


def test_global_matching_is_the_nearest_labelled_pixel_per_id():
    gen = torch.Generator().manual_seed(1)
    ref, query = torch.randn(4, 6, 8, generator=gen), torch.randn(4, 6, 8, generator=gen)
    labels = torch.full((6, 8), -1)
    labels[0, :3], labels[4, 5:] = 0, 1  # id 2 has no pixel: "no match" everywhere
    got = global_matching(ref, labels, query, 3, max_elements=7)  # several query blocks
    torch.testing.assert_close(got.double(), _naive_global(ref, labels, query, 3), atol=1e-5, rtol=0)
    assert torch.all(got[2] == 1)


def _naive_local(query, prev, labels, num_ids, m):
    """Window search written out pixel by pixel from the definition (see matching.py)."""
    q2, p2 = F.avg_pool2d(query[None], 2)[0].double(), F.avg_pool2d(prev[None], 2)[0].double()
    h2, w2 = q2.shape[1:]
    coarse = torch.ones((2 * m + 1) ** 2, h2, w2, dtype=torch.float64)
    for k in range((2 * m + 1) ** 2):
        dy, dx = k // (2 * m + 1) - m, k % (2 * m + 1) - m
        for y in range(h2):
            for x in range(w2):
                if 0 <= y + dy < h2 and 0 <= x + dx < w2:
                    d = ((q2[:, y, x] - p2[:, y + dy, x + dx]) ** 2).sum()
                    coarse[k, y, x] = (torch.sigmoid(d) - 0.5) * 2
    fine = F.interpolate(coarse[None], size=query.shape[1:], mode="bilinear", align_corners=True)[0]
    h, w = query.shape[1:]
    out = torch.ones(num_ids, h, w, dtype=torch.float64)
    for k in range((2 * m + 1) ** 2):
        dy, dx = 2 * (k // (2 * m + 1) - m), 2 * (k % (2 * m + 1) - m)
        for y in range(h):
            for x in range(w):
                inside = 0 <= y + dy < h and 0 <= x + dx < w
                label = int(labels[y + dy, x + dx]) if inside else 0  # outside counts as background
                if 0 <= label < num_ids:
                    out[label, y, x] = min(out[label, y, x], fine[k, y, x])
    return out


def test_local_matching_follows_the_window_definition():
    gen = torch.Generator().manual_seed(2)
    query, prev = torch.randn(3, 10, 12, generator=gen), torch.randn(3, 10, 12, generator=gen)
    labels = torch.randint(-1, 3, (10, 12), generator=gen)
    got = local_matching(query, prev, labels, 3, max_distance=2)
    torch.testing.assert_close(got.double(), _naive_local(query, prev, labels, 3, 2), atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------ memory
def test_round_memory_keeps_minimum_global_map_and_the_closer_local_map():
    memory = RoundMemory(2)
    first, second = torch.full((2, 3, 3), 0.5), torch.full((2, 3, 3), 0.7)
    second[0, 0, 0] = 0.1
    memory.aggregate_global(200, first)  # beyond the authors' 104 frames
    merged = memory.aggregate_global(200, second)
    assert merged[0, 0, 0] == 0.1 and merged[1, 1, 1] == 0.5
    a, b, c = torch.zeros(2, 3, 3), torch.ones(2, 3, 3), torch.full((2, 3, 3), 2.0)
    for _ in range(12):  # beyond the authors' 9 rounds
        memory.next_round()
    assert torch.equal(memory.choose_local(150, 140, a), a)  # first visit: its own map
    assert torch.equal(memory.choose_local(150, 160, b), a)  # as far as before: the previous round's
    assert torch.equal(memory.choose_local(150, 152, c), c)  # closer: the new map
    assert torch.equal(memory.choose_local(150, 140, a), c)  # farther than last round: last round's
    memory.mark_annotated(150)
    assert torch.equal(memory.choose_local(150, 100, b), b)  # annotated last round: the new map


def test_rough_roi_keeps_a_box_around_the_strokes():
    labels = torch.full((60, 80), -1)
    labels[30, 40], labels[31, 45] = 1, 0
    out = rough_roi(labels)
    assert out[30, 40] == 1 and out[31, 45] == 0
    assert out[0, 0] == 0 and out[59, 79] == 0  # outside: background
    assert out[15, 25] == -1 and out[50, 64] == -1  # inside the box: still unlabelled
    assert out[51, 40] == 0  # the box ends at bottom + 20 (exclusive)
    empty = torch.full((4, 4), -1)
    assert torch.equal(rough_roi(empty), empty)


# ------------------------------------------------------------------------------ backend
def _scribble(frame: int, points: dict[int, tuple[int, int]]) -> dict:
    scribble = empty_scribble("toy", T)
    for obj_id, (row, col) in points.items():
        path = [[col / W, row / H], [(col + 6) / W, (row + 3) / H]]
        scribble["scribbles"][frame].append(
            {"path": path, "object_id": obj_id, "start_time": 0, "end_time": 1}
        )
    return scribble


def test_registry_names():
    from vos_recommender.backends import BACKENDS
    from vos_recommender.backends.authors.manet import MANetBackend

    assert BACKENDS.get("manet") is NativeMANetBackend and BACKENDS.get("manet_authors") is MANetBackend
    assert NativeMANetBackend.simulated_user == {"min_nb_nodes": 4}


def test_backend_two_rounds_with_random_weights_warns_and_normalises():
    frames = np.random.default_rng(0).integers(0, 255, (T, H, W, 3), dtype=np.uint8)
    with pytest.warns(UserWarning, match="random"):
        backend = build_backend("manet", config="cpu", input_size=(H, W))
    backend.start_video(frames, NUM_OBJECTS, video_id="toy")
    for frame, points in ((2, {1: (10, 10), 2: (30, 40), 0: (40, 5)}), (4, {1: (20, 20)})):
        result = backend.interact(_scribble(frame, points), frame)
        assert result.masks.shape == (T, H, W) and result.probs.shape == (T, NUM_OBJECTS + 1, H, W)
        np.testing.assert_allclose(result.probs.sum(axis=1), 1.0, atol=1e-5)
        assert np.array_equal(result.masks, result.probs.argmax(1))
    assert backend._memory.round == 2
    backend.reset()
    assert backend._embeddings is None


def test_backend_loads_a_manifest_shaped_checkpoint(tmp_path):
    path = tmp_path / "save_step_80000.pth"
    torch.save(_manifest_state(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # weights given: no random-weights warning
        backend = build_backend("manet", weights=path, input_size=(32, 32))
    expected = _manifest_state()["dynamic_seghead.conv.weight"]
    assert torch.equal(backend.model.dynamic_seghead.conv.weight, expected)
    frames = np.random.default_rng(1).integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    backend.start_video(frames, 1)
    assert backend._embeddings.shape == (2, 100, 8, 8)


def test_backend_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="'huge'"):
        NativeMANetBackend(config="huge")
    from vos_recommender.backends import BackendNotAvailableError

    with pytest.raises(BackendNotAvailableError, match="missing.pth"):
        NativeMANetBackend(tmp_path / "missing.pth", config="cpu")
    with pytest.raises(ValueError, match="pixel_rule"):
        NativeMANetBackend(config="cpu", pixel_rule="round")


@pytest.mark.parametrize("pixel_rule", ["davis", "inverse"])
def test_backend_draws_scribbles_with_the_authors_rasteriser_by_default(pixel_rule):
    from vos_recommender.interaction.scribbles import rasterize_scribble

    frames = np.random.default_rng(0).integers(0, 255, (T, H, W, 3), dtype=np.uint8)
    with pytest.warns(UserWarning, match="random"):
        kwargs = {} if pixel_rule == "davis" else {"pixel_rule": pixel_rule}
        backend = build_backend("manet", config="cpu", input_size=(H, W), **kwargs)
    backend.start_video(frames, NUM_OBJECTS, video_id="toy")
    seen = []
    logits = backend.model.interaction_logits

    def recording(reference, drawn, *args):
        seen.append(drawn.clone())
        return logits(reference, drawn, *args)

    backend.model.interaction_logits = recording
    scribble = _scribble(2, {1: (10, 10), 2: (30, 40), 0: (40, 5)})
    backend.interact(scribble, 2)
    emb_h, emb_w = backend._embeddings.shape[-2:]
    davis = torch.from_numpy(rasterize_scribble(scribble, 2, emb_h, emb_w).astype(np.int64))
    inverse = torch.from_numpy(
        rasterize_scribble(scribble, 2, emb_h, emb_w, pixel_rule="inverse").astype(np.int64)
    )
    expected, other = (davis, inverse) if pixel_rule == "davis" else (inverse, davis)
    assert torch.equal(seen[0], rough_roi(expected)) and not torch.equal(seen[0], rough_roi(other))
