"""Both LSTM directions in one call, and the truncated per-frame evaluation used in training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.vos.test_agent_qnet import reference_q
from tests.vos.test_agent_toy_env import single_torch_thread  # noqa: F401  (autouse fixture)
from vos_recommender.agent import FrameQNetwork
from vos_recommender.agent.frame_lstm import both_directions, final_hidden
from vos_recommender.agent.loss import double_dqn_loss


def per_direction(
    lstm: nn.LSTM, embedded: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The previous form: one LSTM call per direction, each row reversed within its length."""
    forward, _ = lstm(embedded)
    backward = torch.zeros_like(forward)
    for b, length in enumerate(lengths.reshape(-1).tolist()):
        out, _ = lstm(embedded[b : b + 1, :length].flip(1))
        backward[b, :length] = out[0].flip(0)
    return forward, backward


def test_one_call_equals_one_call_per_direction_values_and_gradients() -> None:
    torch.manual_seed(3)
    lstm = nn.LSTM(6, 5, batch_first=True)
    embedded = torch.randn(4, 7, 6, requires_grad=True)
    lengths = torch.tensor([[7], [3], [1], [5]])
    weights = torch.randn(4, 7, 10)
    valid = (torch.arange(7) < lengths).unsqueeze(-1)

    def grads(fn):
        lstm.zero_grad()
        embedded.grad = None
        forward, backward = fn(lstm, embedded, lengths)
        out = torch.cat([forward, backward], dim=-1) * valid
        (out * weights).sum().backward()
        return out.detach(), [embedded.grad.clone()] + [p.grad.clone() for p in lstm.parameters()]

    fast, fast_grads = grads(both_directions)
    slow, slow_grads = grads(per_direction)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6)
    for a, b in zip(fast_grads, slow_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("chunk", [1, 2, 5, 40])
def test_final_hidden_is_the_full_call_at_each_rows_last_step(chunk: int) -> None:
    torch.manual_seed(4)
    lstm = nn.LSTM(3, 4, batch_first=True)
    sequences = torch.randn(9, 11, 3, requires_grad=True)
    steps = torch.tensor([1, 11, 5, 5, 2, 10, 7, 1, 3])
    full, _ = lstm(sequences)
    expected = full[torch.arange(9), steps - 1]
    got = final_hidden(lstm, sequences, steps, chunk=chunk)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    weights = torch.randn(9, 4)
    (got * weights).sum().backward()
    fast = [sequences.grad.clone()] + [p.grad.clone() for p in lstm.parameters()]
    sequences.grad = None
    lstm.zero_grad()
    (expected.detach() * 0 + lstm(sequences)[0][torch.arange(9), steps - 1] * weights).sum().backward()
    slow = [sequences.grad.clone()] + [p.grad.clone() for p in lstm.parameters()]
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # Inputs past a row's last step cannot change its result.
    later = sequences.detach().clone()
    later[0, 1:] += 100.0
    torch.testing.assert_close(final_hidden(lstm, later, steps, chunk)[0], got[0].detach())


def test_values_at_equals_the_gathered_full_values_and_the_cell_reference() -> None:
    torch.manual_seed(5)
    net = FrameQNetwork(embed_dim=16, lstm_dim=12, head_dim=10)
    features = torch.rand(5, 9, 2)
    mask = torch.ones(5, 9, dtype=torch.bool)
    mask[1, 6:] = False
    mask[2, [0, 4, 5]] = False
    mask[3, 1:] = False
    frames = torch.tensor([8, 5, 3, 0, 0])
    at = net.values_at(features, mask, frames)
    assert at.shape == (5, 1)
    torch.testing.assert_close(at, net(features, mask).gather(1, frames.unsqueeze(1)), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        at[:, 0], reference_q(net, features, mask).gather(1, frames.unsqueeze(1))[:, 0]
    )
    # Gradients equal those of the full pass.
    at.sum().backward()
    fast = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    net(features, mask).gather(1, frames.unsqueeze(1)).sum().backward()
    for (name, p), g in zip(net.named_parameters(), fast):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-6, msg=name)
    # A padded frame has value -inf, as in the full pass; the per-frame ablation agrees too.
    assert torch.isneginf(net.values_at(features, mask, torch.tensor([8, 7, 0, 4, 1]))).reshape(
        -1
    ).tolist() == [
        False,
        True,
        True,
        True,
        False,
    ]
    flat = FrameQNetwork(embed_dim=8, lstm_dim=8, head_dim=8, recurrent=False)
    torch.testing.assert_close(
        flat.values_at(features, mask, frames), flat(features, mask).gather(1, frames.unsqueeze(1))
    )


def test_values_at_rejects_bad_frames() -> None:
    net = FrameQNetwork(embed_dim=8, lstm_dim=8, head_dim=8)
    with pytest.raises(ValueError, match="one frame per row"):
        net.values_at(torch.rand(2, 4, 2), None, torch.tensor([0]))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        net.values_at(torch.rand(2, 4, 2), None, torch.tensor([0, 4]))


class Batch:
    """Minimal replay batch with the fields the loss reads."""

    def __init__(self, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        obs = torch.rand(12, 3, 7, generator=g)
        obs[:, 2] = 1.0
        obs[3, 2, 5:] = 0.0
        next_obs = torch.rand(12, 3, 7, generator=g)
        next_obs[:, 2] = 1.0
        next_obs[4, 2, 2:] = 0.0
        self.observations, self.next_observations = obs, next_obs
        self.actions = torch.randint(0, 5, (12, 1), generator=g)
        self.dones = (torch.arange(12) % 4 == 3).float().reshape(-1, 1)
        self.rewards = torch.randn(12, 1, generator=g)
        self.goal_rewards = torch.randn(12, 1, generator=g)
        self.aux_rewards = torch.randn(12, 1, generator=g)


def full_pass_loss(q_net, target, batch, gamma, scale, form):
    """The previous loss: full passes everywhere, every next state evaluated."""
    from vos_recommender.envs.observation import split_observation

    features, valid = split_observation(batch.observations)
    next_features, next_valid = split_observation(batch.next_observations)
    with torch.no_grad():
        best = q_net(next_features, next_valid).argmax(dim=1, keepdim=True)
        next_q = target(next_features, next_valid).gather(1, best)
        next_q = torch.where(torch.isfinite(next_q), next_q, torch.zeros_like(next_q))
    q = q_net(features, valid).gather(1, batch.actions.long())
    if form == "seed":
        return ((q - (scale * batch.rewards + (1 - batch.dones) * gamma * next_q)) ** 2).mean()
    td = ((q - (gamma * next_q + scale * batch.aux_rewards)) ** 2).mean()
    return td + ((q - scale * batch.goal_rewards) ** 2).mean()


@pytest.mark.parametrize("form", ["seed", "released"])
def test_loss_equals_the_full_pass_loss_in_value_and_gradient(form: str) -> None:
    torch.manual_seed(6)
    q_net = FrameQNetwork(embed_dim=16, lstm_dim=12, head_dim=10)
    target = FrameQNetwork(embed_dim=16, lstm_dim=12, head_dim=10)
    batch = Batch(7)
    loss, q = double_dqn_loss(q_net, target, batch, 0.95, 0.1, form)
    loss.backward()
    fast = [p.grad.clone() for p in q_net.parameters()]
    q_net.zero_grad()
    expected = full_pass_loss(q_net, target, batch, 0.95, 0.1, form)
    expected.backward()
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-7)
    assert q.shape == (12, 1)
    for p, g in zip(q_net.parameters(), fast):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-7)
