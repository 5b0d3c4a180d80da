"""The small IPN-style learned backend: networks, checkpoint, backend, training entry point."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from vos_recommender.backends import BackendNotAvailableError, build_backend
from vos_recommender.backends.learned import (
    InteractionNet,
    PropagationNet,
    linear_fade_weights,
    load_checkpoint,
    save_checkpoint,
)
from vos_recommender.interaction.scribbles import empty_scribble


def _inputs(batch=2, h=24, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand(batch, 3, h, w, generator=g)
    maps = [torch.rand(batch, 1, h, w, generator=g) for _ in range(3)]
    return rgb, maps


def test_shapes_and_gradients_reach_every_parameter():
    rgb, (prev, pos, neg) = _inputs()
    for net, args in (
        (InteractionNet(width=8), (rgb, prev, pos, neg)),
        (PropagationNet(width=8), (rgb, prev, rgb.flip(0), pos)),
    ):
        out = net(*args)
        assert out.shape == (2, 1, 24, 32)
        out.square().mean().backward()
        for name, param in net.named_parameters():
            assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_odd_sizes_work():
    rgb, (prev, pos, neg) = _inputs(batch=1, h=19, w=27)
    assert InteractionNet(width=4)(rgb, prev, pos, neg).shape == (1, 1, 19, 27)


def test_a_few_training_steps_reduce_the_loss():
    torch.manual_seed(0)
    net = InteractionNet(width=8)
    rgb, (prev, _, _) = _inputs(batch=2, h=16, w=16, seed=1)
    target = (rgb[:, :1] > 0.5).float()  # learnable from the input
    pos = target * (torch.rand_like(target) < 0.05)
    neg = (1 - target) * (torch.rand_like(target) < 0.05)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = F.binary_cross_entropy_with_logits(net(rgb, prev, pos, neg), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


def test_linear_fade_weights_match_reference():
    def reference(target, prev, n):
        # Straight from the definition: 1 at the target, linear to 0 at the nearest earlier target.
        w = np.ones(n)
        right = [p for p in prev if p > target]
        left = [p for p in prev if p < target]
        for f in range(n):
            if f > target and right:
                w[f] = max(0.0, 1 - (f - target) / (min(right) - target))
            if f < target and left:
                w[f] = max(0.0, 1 - (target - f) / (target - max(left)))
        return w

    for target, prev in [(3, []), (3, [0]), (3, [7]), (4, [1, 8, 4]), (0, [5]), (9, [2])]:
        left, right, weight = linear_fade_weights(target, prev, 10)
        np.testing.assert_allclose(weight, reference(target, prev, 10), atol=1e-6)
        assert left == max([p for p in prev if p < target], default=0)
        assert right == min([p for p in prev if p > target], default=9)


def _tiny_checkpoint(path, seed=0):
    torch.manual_seed(seed)
    save_checkpoint(path, InteractionNet(width=4), PropagationNet(width=4), {"width": 4, "scale": 0.5})
    return path


def test_save_load_identical_output(tmp_path):
    path = _tiny_checkpoint(tmp_path / "ckpt" / "learned_vos.pt")
    assert not list(path.parent.glob("*.tmp"))  # atomic write leaves no temporary file
    inter, prop, config = load_checkpoint(path)
    torch.manual_seed(0)
    fresh_i, fresh_p = InteractionNet(width=4), PropagationNet(width=4)
    rgb, (prev, pos, neg) = _inputs(batch=1)
    with torch.no_grad():
        torch.testing.assert_close(
            inter(rgb, prev, pos, neg), fresh_i.eval()(rgb, prev, pos, neg), rtol=0, atol=0
        )
        torch.testing.assert_close(
            prop(rgb, prev, rgb, pos), fresh_p.eval()(rgb, prev, rgb, pos), rtol=0, atol=0
        )
    assert config == {"width": 4, "scale": 0.5}


def test_missing_and_corrupt_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(BackendNotAvailableError, match="not found.*training.learned"):
        build_backend("learned", checkpoint=tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage")
    with pytest.raises(BackendNotAvailableError, match="corrupt"):
        build_backend("learned", checkpoint=corrupt)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(BackendNotAvailableError, match="not a learned VOS checkpoint"):
        build_backend("learned", checkpoint=other)


def test_backend_runs_rounds(tmp_path):
    path = _tiny_checkpoint(tmp_path / "learned_vos.pt")
    backend = build_backend("learned", checkpoint=path)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(5, 20, 28, 3), dtype=np.uint8)
    backend.start_video(frames, 2)
    scribble = empty_scribble("toy", 5)
    scribble["scribbles"][2] = [
        {"path": [[0.2, 0.2], [0.4, 0.3]], "object_id": 1},
        {"path": [[0.7, 0.8]], "object_id": 0},
    ]
    first = backend.interact(scribble, 2)
    assert first.masks.shape == (5, 20, 28) and first.probs.shape == (5, 3, 20, 28)
    np.testing.assert_allclose(first.probs.sum(axis=1), 1.0, atol=1e-5)
    scribble2 = empty_scribble("toy", 5)
    scribble2["scribbles"][4] = [{"path": [[0.5, 0.5]], "object_id": 2}]
    second = backend.interact(scribble2, 4)
    # Frames up to the earlier annotated frame keep round 1's result (fade weight 0 there).
    np.testing.assert_allclose(second.probs[:3], first.probs[:3], atol=1e-6)
    assert not np.allclose(second.probs[4], first.probs[4])


def test_training_entry_point_writes_checkpoint(tmp_path):
    from vos_recommender.data.generate import generate_davis_dataset
    from vos_recommender.training import learned as train_learned

    root = generate_davis_dataset(
        tmp_path / "data", num_train=2, num_val=0, num_frames=4, height=32, width=48, seed=2
    )
    out = tmp_path / "run"
    train_learned.main(
        [
            "--data",
            str(root),
            "--out",
            str(out),
            "--steps",
            "4",
            "--batch-size",
            "2",
            "--width",
            "4",
            "--interaction-pool",
            "6",
            "--log-every",
            "2",
        ]
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(metrics["loss_interaction_last"]) and np.isfinite(metrics["loss_propagation_last"])
    assert json.loads((out / "settings.json").read_text())["steps"] == 4
    backend = build_backend("learned", checkpoint=out)  # the run folder works too
    assert backend.config["width"] == 4


@pytest.mark.slow
def test_trained_backend_segments_the_annotated_frame(tmp_path):
    from vos_recommender.data.davis import DavisDataset
    from vos_recommender.data.generate import generate_davis_dataset
    from vos_recommender.interaction.scribbles import scribble_frame
    from vos_recommender.metrics.jf import per_frame_jf
    from vos_recommender.training import learned as train_learned

    root = generate_davis_dataset(
        tmp_path / "d", num_train=8, num_val=3, num_frames=8, height=64, width=96, seed=8
    )
    out = tmp_path / "run"
    train_learned.main(
        ["--data", str(root), "--out", str(out), "--steps", "300", "--interaction-pool", "300"]
    )
    backend = build_backend("learned", checkpoint=out)
    dataset = DavisDataset(root, split="val")
    annotated, far = [], []
    for index in range(len(dataset.sequences)):
        video = dataset[index]
        frame = scribble_frame(video.scribbles[0])
        backend.start_video(video.frames, video.num_objects)
        result = backend.interact(video.scribbles[0], frame)
        jf = per_frame_jf(video.masks, result.masks, video.num_objects)["JF"]
        annotated.append(jf[frame])
        far.append(jf[np.abs(np.arange(len(jf)) - frame) >= 4].mean())
    # Randomly initialised networks score 0.02-0.03 on the annotated frames of these videos.
    assert np.mean(annotated) > 0.4 and np.mean(annotated) > np.mean(far)


def test_a_restored_state_repeats_the_next_round_exactly(tmp_path):
    backend = build_backend("learned", checkpoint=_tiny_checkpoint(tmp_path / "learned_vos.pt"))
    frames = np.random.default_rng(1).integers(0, 255, size=(5, 20, 28, 3), dtype=np.uint8)
    backend.start_video(frames, 1)
    first = empty_scribble("toy", 5)
    first["scribbles"][1] = [{"path": [[0.2, 0.2], [0.4, 0.3]], "object_id": 1}]
    backend.interact(first, 1)
    saved = backend.snapshot()
    second = empty_scribble("toy", 5)
    second["scribbles"][3] = [{"path": [[0.5, 0.5]], "object_id": 1}]
    expected = backend.interact(second, 3)
    other = empty_scribble("toy", 5)
    other["scribbles"][4] = [{"path": [[0.6, 0.6]], "object_id": 0}]
    backend.restore(saved)
    backend.interact(other, 4)  # a probe that blends into the probabilities in place
    backend.restore(saved)
    assert backend.annotated_frames == [1]
    np.testing.assert_array_equal(backend.interact(second, 3).probs, expected.probs)
