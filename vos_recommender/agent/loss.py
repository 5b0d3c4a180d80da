"""The double-DQN loss of the frame recommender: the paper's form, the released code's form, and the one-reward
form of the per-round-gain reward."""

from __future__ import annotations

import torch as th
from torch.nn import functional as F

from vos_recommender.agent.buffer import FrameReplaySamples
from vos_recommender.agent.qnet import FrameQNetwork
from vos_recommender.envs.observation import split_observation

__all__ = ["REWARD_FORMS", "double_dqn_loss"]

REWARD_FORMS = ("seed", "released", "gain")
#: The forms whose transitions carry one reward: one TD target with the done flag.
_ONE_REWARD = ("seed", "gain")


def double_dqn_loss(
    q_net: FrameQNetwork,
    q_net_target: FrameQNetwork,
    batch: FrameReplaySamples,
    gamma: float,
    reward_scale: float,
    reward_form: str = "seed",
) -> tuple[th.Tensor, th.Tensor]:
    """Loss of a replayed batch: the online network picks ``argmax_a Q(s', a)``, the target network rates it.

    Replayed transitions carry no extra action mask: the validity row is both the context the networks
    read and the choice of the online arg-max, so the target never picks a padded frame.

    Only what the loss reads is computed: the online network's value of the taken frame and the target
    network's value of the chosen next frame come from :meth:`FrameQNetwork.values_at` (the LSTM runs up
    to that frame from each side, about half the steps of a full pass), and in the seed form terminal
    steps, whose next value is multiplied by zero, get no next-state pass. Values and gradients equal
    those of full passes (``tests/vos/test_agent_frame_lstm.py``).

    Args:
        q_net: Online network.
        q_net_target: Target network.
        batch: Replayed transitions.
        gamma: Discount.
        reward_scale: ``delta``, the scale of both reward terms.
        reward_form: ``"seed"`` and ``"gain"`` (the environment's per-round-gain reward, one reward per
            step like the seed form): ``MSE(Q, delta * r + (1 - done) * gamma * Q_tgt)``; ``"released"``:
            ``MSE(Q, gamma * Q_tgt + delta * r_aux) + MSE(Q, delta * r_goal)`` (no done flag).

    Returns:
        ``(loss, q)``: the scalar loss and the ``B x 1`` online values of the taken actions.

    Raises:
        ValueError: If the released form lacks the reward terms (NaN in the buffer).
    """
    features, valid = split_observation(batch.observations)
    next_features, next_valid = split_observation(batch.next_observations)
    # The seed form multiplies a terminal step's next value by zero: those rows need no next-state pass.
    live = (
        (batch.dones.reshape(-1) == 0)
        if reward_form in _ONE_REWARD
        else th.ones_like(batch.dones.reshape(-1), dtype=th.bool)
    )
    next_q = th.zeros_like(batch.rewards)
    with th.no_grad():
        if bool(live.any()):
            rows = live.nonzero().reshape(-1)
            live_features, live_valid = next_features[rows], next_valid[rows]
            next_actions = q_net(live_features, live_valid).argmax(dim=1)
            live_q = q_net_target.values_at(live_features, live_valid, next_actions)
            next_q[rows] = th.where(th.isfinite(live_q), live_q, th.zeros_like(live_q))
    q = q_net.values_at(features, valid, batch.actions)
    if reward_form in _ONE_REWARD:
        return F.mse_loss(q, reward_scale * batch.rewards + (1.0 - batch.dones) * gamma * next_q), q
    if th.isnan(batch.goal_rewards).any() or th.isnan(batch.aux_rewards).any():
        raise ValueError(
            "reward_form='released' needs info['reward_goal'] and info['reward_aux'] from the "
            "environment (FrameRecommendationEnv reports both)"
        )
    td = F.mse_loss(q, gamma * next_q + reward_scale * batch.aux_rewards)
    return td + F.mse_loss(q, reward_scale * batch.goal_rewards), q
