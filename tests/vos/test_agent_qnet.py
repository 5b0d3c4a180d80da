"""The per-frame Q-network: released size, masking, length independence, reference equality, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn

from tests.vos.test_agent_toy_env import single_torch_thread  # noqa: F401  (autouse fixture)
from vos_recommender.agent import FrameQNetwork, FrameQPolicy
from vos_recommender.envs.observation import split_observation


def reference_q(net: FrameQNetwork, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Slow reference: one LSTMCell stepped forward over each row's valid frames, then backward."""
    lstm = net.lstm
    cell = nn.LSTMCell(lstm.input_size, lstm.hidden_size)
    with torch.no_grad():
        cell.weight_ih.copy_(lstm.weight_ih_l0)
        cell.weight_hh.copy_(lstm.weight_hh_l0)
        cell.bias_ih.copy_(lstm.bias_ih_l0)
        cell.bias_hh.copy_(lstm.bias_hh_l0)
    rows = []
    for b in range(features.shape[0]):
        valid = torch.nonzero(mask[b]).flatten().tolist()
        out = torch.full((features.shape[1],), float("-inf"))
        if valid:
            x = net.encoder(features[b, valid])
            h = c = torch.zeros(1, lstm.hidden_size)
            forward = []
            for i in range(len(valid)):
                h, c = cell(x[i : i + 1], (h, c))
                forward.append(h)
            h = c = torch.zeros(1, lstm.hidden_size)
            backward = [None] * len(valid)
            for i in reversed(range(len(valid))):
                h, c = cell(x[i : i + 1], (h, c))
                backward[i] = h
            for k, frame in enumerate(valid):
                out[frame] = net.head(torch.cat([forward[k], backward[k]], dim=-1)).squeeze()
        rows.append(out)
    return torch.stack(rows)


def test_released_architecture_size_and_shapes() -> None:
    net = FrameQNetwork()
    assert sum(p.numel() for p in net.parameters()) == 182_017  # "about 182k" in the paper's release
    assert [m.out_features for m in net.encoder if isinstance(m, nn.Linear)] == [128, 128]
    assert [m.out_features for m in net.head if isinstance(m, nn.Linear)] == [128, 1]
    for frames in (1, 3, 25, 60):
        q = net(torch.rand(4, frames, 2))
        assert q.shape == (4, frames) and torch.isfinite(q).all()
    small = FrameQNetwork(in_features=3, embed_dim=8, lstm_dim=6, head_dim=5)
    assert small(torch.rand(2, 7, 3)).shape == (2, 7)
    with pytest.raises(ValueError):
        small(torch.rand(2, 7, 2))


def test_matches_step_by_step_lstm_cell_reference_values_and_gradients() -> None:
    torch.manual_seed(0)
    net = FrameQNetwork(embed_dim=16, lstm_dim=12, head_dim=10)
    features = torch.rand(4, 9, 2)
    mask = torch.ones(4, 9, dtype=torch.bool)
    mask[1, 6:] = False  # padded tail
    mask[2, [0, 4, 5]] = False  # holes anywhere are also excluded
    mask[3, 1:] = False  # a single valid frame
    fast = net(features, mask)
    slow = reference_q(net, features, mask)
    assert torch.equal(torch.isinf(fast), ~mask)
    torch.testing.assert_close(fast[mask], slow[mask], rtol=1e-5, atol=1e-6)

    weights = torch.rand(int(mask.sum()))
    (fast[mask] * weights).sum().backward()
    fast_grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    # The reference shares the encoder/head modules; its LSTM gradients land on a copied cell, so compare those.
    slow = reference_q(net, features, mask)
    (slow[mask] * weights).sum().backward()
    for (name, parameter), fast_grad in zip(net.named_parameters(), fast_grads):
        if not name.startswith("lstm"):
            torch.testing.assert_close(parameter.grad, fast_grad, rtol=1e-4, atol=1e-6)


def test_padding_does_not_change_valid_q_values() -> None:
    torch.manual_seed(1)
    net = FrameQNetwork()
    features = torch.rand(3, 8, 2)
    base = net(features, torch.ones(3, 8, dtype=torch.bool))
    for extra in (1, 5, 17):
        padded = torch.cat([features, torch.rand(3, extra, 2) * 5], dim=1)  # garbage in the padding
        mask = torch.zeros(3, 8 + extra, dtype=torch.bool)
        mask[:, :8] = True
        q = net(padded, mask)
        torch.testing.assert_close(q[:, :8], base, rtol=0, atol=1e-6)
        assert torch.isneginf(q[:, 8:]).all()
    # Rows of different lengths in one batch give the same values as each row alone.
    mask = torch.ones(3, 8, dtype=torch.bool)
    mask[0, 3:] = False
    mask[2, 6:] = False
    batched = net(features, mask)
    for b, length in enumerate((3, 8, 6)):
        alone = net(features[b : b + 1, :length])
        torch.testing.assert_close(batched[b, :length], alone[0], rtol=0, atol=1e-6)


def test_every_parameter_gets_a_gradient() -> None:
    net = FrameQNetwork(embed_dim=16, lstm_dim=16, head_dim=16)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[0, 4:] = False
    q = net(torch.rand(2, 6, 2), mask)
    q[mask].sum().backward()
    for name, parameter in net.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_bidirectional_context_reaches_every_frame() -> None:
    torch.manual_seed(2)
    net = FrameQNetwork(embed_dim=16, lstm_dim=16, head_dim=16)
    features = torch.rand(1, 6, 2)
    base = net(features)
    changed = features.clone()
    changed[0, 5] += 1.0  # the last frame influences the first (backward pass) ...
    assert not torch.allclose(net(changed)[0, 0], base[0, 0])
    changed = features.clone()
    changed[0, 0] += 1.0  # ... and the first the last (forward pass)
    assert not torch.allclose(net(changed)[0, 5], base[0, 5])


def test_split_observation_and_policy_masking() -> None:
    obs = np.zeros((2, 3, 5), dtype=np.float32)
    obs[:, 0] = [[0.9, 0.1, 0.5, 0.3, 0.0], [0.2, 0.4, 0.6, 0.8, 1.0]]
    obs[0, 2, :4] = 1
    obs[1, 2, :] = 1
    features, mask = split_observation(torch.as_tensor(obs))
    assert features.shape == (2, 5, 2) and mask.tolist() == [[True] * 4 + [False], [True] * 5]
    with pytest.raises(ValueError):
        split_observation(torch.zeros(2, 5))

    space = spaces.Box(0.0, 8.0, shape=(3, 5), dtype=np.float32)
    policy = FrameQPolicy(space, spaces.Discrete(5), lambda _: 1e-3, embed_dim=8, lstm_dim=8, head_dim=8)
    q = policy.q_values(torch.as_tensor(obs)).detach()
    assert torch.isneginf(q[0, 4])
    actions, state = policy.predict(obs)
    assert actions.shape == (2,) and actions[0] < 4 and state is None
    # An extra action mask that allows a single frame forces that frame.
    only = np.zeros((2, 5), dtype=bool)
    only[:, 2] = True
    assert policy.predict(obs, action_masks=only)[0].tolist() == [2, 2]
    single, _ = policy.predict(obs[1])
    assert single.shape == ()
    with pytest.raises(ValueError, match="no allowed frame"):
        policy.predict(obs, action_masks=np.zeros((2, 5), dtype=bool))
    with pytest.raises(ValueError):
        FrameQPolicy(space, spaces.Discrete(4), lambda _: 1e-3)
    assert policy.optimizer.defaults["weight_decay"] == 5e-4


def test_default_optimizer_is_fused_adam_with_the_released_settings_and_modes_switch() -> None:
    space = spaces.Box(low=0.0, high=1.0, shape=(3, 6), dtype=np.float32)
    policy = FrameQPolicy(space, spaces.Discrete(6), lambda _: 5e-6)
    optimizer = policy.optimizer
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.defaults["fused"] is True
    assert optimizer.defaults["lr"] == 5e-6 and optimizer.defaults["weight_decay"] == 5e-4
    assert policy.optimizer_kwargs == {"weight_decay": 5e-4}  # what checkpoints record is unchanged
    # The fused update equals the plain one (to rounding) on the same gradients.
    plain_net = FrameQPolicy(
        space, spaces.Discrete(6), lambda _: 5e-6, optimizer_kwargs={"weight_decay": 5e-4, "foreach": False}
    )
    plain_net.q_net.load_state_dict(policy.q_net.state_dict())
    assert plain_net.optimizer.defaults["fused"] is None
    for _ in range(3):
        for p, q in zip(policy.q_net.parameters(), plain_net.q_net.parameters()):
            p.grad = torch.full_like(p, 0.3)
            q.grad = torch.full_like(q, 0.3)
        policy.optimizer.step()
        plain_net.optimizer.step()
    for p, q in zip(policy.q_net.parameters(), plain_net.q_net.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    for mode in (True, False, False, True):
        policy.set_training_mode(mode)
        assert policy.q_net.training is mode and policy.training is mode
        assert all(m.training is mode for m in policy.q_net.modules())
