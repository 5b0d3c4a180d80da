"""The frame Q-network (bidirectional LSTM over frames, shared weights) and its SB3 policy.

Architecture of Yin et al., "Learning to Recommend Frame for Interactive Video Object Segmentation in
the Wild" (CVPR 2021), as released: every frame's state ``(q_i, h_i)`` goes through a per-frame MLP
Linear(2,128)-ReLU-Linear(128,128); one LSTM cell runs forward over the frame axis and again backward
with the same weights; a head ReLU-Linear(256,128)-ReLU-Linear(128,1) on ``concat(h_fw, h_bw)`` gives one
Q-value per frame. The network therefore accepts any number of frames.

``recurrent=False`` builds an ablation without the LSTM: the head sees only each frame's own encoding,
so a frame's value cannot depend on the other frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn

from vos_recommender.agent.frame_lstm import both_directions, compact_valid, final_hidden, reverse_index
from vos_recommender.agent.masks import choice_masks, require_choice
from vos_recommender.envs.observation import split_observation

__all__ = ["FrameQNetwork", "FrameQPolicy"]


class FrameQNetwork(nn.Module):
    """One Q-value per frame from per-frame states, for any number of frames.

    Padded frames take no part in the computation of the valid frames' values: valid frames are
    gathered to the front of each row (in their original order), the forward pass runs over them, and
    the backward pass runs over each row reversed within its own length, so it starts at that row's
    last valid frame. Because the LSTM is causal, whatever follows a row's valid frames cannot reach
    them. Padded frames get ``-inf``, so an arg-max never picks them.

    The LSTM is ``nn.LSTM`` (one layer, one direction), which computes exactly what one ``nn.LSTMCell``
    stepped over the frames computes, with the same four weight tensors (the released layout); both
    directions run in one call over the rows and their reversals (see
    :mod:`~vos_recommender.agent.frame_lstm`).

    Args:
        in_features: Features per frame (released: 2, quality and annotation count).
        embed_dim: Width of the per-frame MLP (released: 128).
        lstm_dim: LSTM hidden size (released: 128).
        head_dim: Hidden width of the head (released: 128).
        recurrent: True (default, released): the head reads ``concat(h_fw, h_bw)`` of the LSTM. False:
            no LSTM; the head ``ReLU-Linear(embed_dim, head_dim)-ReLU-Linear(head_dim, 1)`` reads each
            frame's own encoding only (a per-frame ablation without cross-frame context).
    """

    def __init__(
        self,
        in_features: int = 2,
        embed_dim: int = 128,
        lstm_dim: int = 128,
        head_dim: int = 128,
        recurrent: bool = True,
    ) -> None:
        super().__init__()
        self.in_features = int(in_features)
        self.recurrent = bool(recurrent)
        self.encoder = nn.Sequential(
            nn.Linear(in_features, embed_dim), nn.ReLU(inplace=False), nn.Linear(embed_dim, embed_dim)
        )
        self.lstm = nn.LSTM(embed_dim, lstm_dim, num_layers=1, batch_first=True) if self.recurrent else None
        self.head = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Linear(2 * lstm_dim if self.recurrent else embed_dim, head_dim),
            nn.ReLU(inplace=False),
            nn.Linear(head_dim, 1),
        )

    def forward(self, features: th.Tensor, mask: th.Tensor | None = None) -> th.Tensor:
        """Q-values of every frame.

        Args:
            features: ``B x N x F`` per-frame features.
            mask: ``B x N`` boolean validity (None: every frame is valid).

        Returns:
            ``B x N`` Q-values; ``-inf`` where ``mask`` is False.
        """
        if features.dim() != 3 or features.shape[-1] != self.in_features:
            raise ValueError(
                f"expected features of shape B x N x {self.in_features}, got {tuple(features.shape)}"
            )
        batch, frames, _ = features.shape
        if mask is None:
            mask = th.ones(batch, frames, dtype=th.bool, device=features.device)
        mask = mask.bool()
        if frames == 0:
            return features.new_zeros(batch, 0)
        if self.lstm is None:
            # Per-frame ablation: no frame sees another, so padding cannot reach valid frames.
            q_values = self.head(self.encoder(features)).squeeze(-1)
            return q_values.masked_fill(~mask, float("-inf"))
        compact, order, lengths = compact_valid(features, mask)
        forward_hidden, backward_hidden = both_directions(self.lstm, self.encoder(compact), lengths)
        compact_q = self.head(th.cat([forward_hidden, backward_hidden], dim=-1)).squeeze(-1)
        q_values = th.empty_like(compact_q).scatter(1, order, compact_q)
        return q_values.masked_fill(~mask, float("-inf"))

    def values_at(self, features: th.Tensor, mask: th.Tensor | None, frames: th.Tensor) -> th.Tensor:
        """The Q-value of one frame per row: ``forward(features, mask).gather(1, frames)``, with less work.

        The forward direction runs only up to the chosen frame and the backward direction only down to
        it (see :func:`~vos_recommender.agent.frame_lstm.final_hidden`): about half of the LSTM steps of
        :meth:`forward`, and the same values (what training needs: the value of the taken action, and the
        target network's value of the online network's choice).

        Args:
            features: ``B x N x F`` per-frame features.
            mask: ``B x N`` boolean validity (None: every frame is valid).
            frames: ``B`` or ``B x 1`` integer frame indices.

        Returns:
            ``B x 1`` Q-values; ``-inf`` where the chosen frame is padding.

        Raises:
            ValueError: If the shapes do not fit or a frame index is out of range.
        """
        if features.dim() != 3 or features.shape[-1] != self.in_features:
            raise ValueError(
                f"expected features of shape B x N x {self.in_features}, got {tuple(features.shape)}"
            )
        batch, num_frames, _ = features.shape
        frames = frames.reshape(-1).long()
        if frames.shape[0] != batch:
            raise ValueError(f"values_at needs one frame per row: {frames.shape[0]} frames for {batch} rows")
        if batch and (int(frames.min()) < 0 or int(frames.max()) >= num_frames):
            raise ValueError(f"frame indices must be in [0, {num_frames}), got {frames.tolist()}")
        if mask is None:
            mask = th.ones(batch, num_frames, dtype=th.bool, device=features.device)
        mask = mask.bool()
        chosen_valid = mask.gather(1, frames.unsqueeze(1))
        if self.lstm is None:
            chosen = features.gather(1, frames.view(-1, 1, 1).expand(-1, 1, features.shape[-1]))
            return self.head(self.encoder(chosen)).squeeze(-1).masked_fill(~chosen_valid, float("-inf"))
        compact, _, lengths = compact_valid(features, mask)
        embedded = self.encoder(compact)
        # Position of the chosen frame among the row's valid frames; padding rows get a harmless 0.
        position = (mask.long().cumsum(dim=1).gather(1, frames.unsqueeze(1)) - 1).clamp(min=0)
        lengths = th.maximum(lengths, position + 1)
        reversed_rows = embedded.gather(
            1, reverse_index(lengths, num_frames).unsqueeze(-1).expand_as(embedded)
        )
        hidden = final_hidden(
            self.lstm,
            th.cat([embedded, reversed_rows], dim=0),
            th.cat([position + 1, lengths - position], dim=0).reshape(-1),
        )
        q_values = self.head(th.cat([hidden[:batch], hidden[batch:]], dim=-1))
        return q_values.masked_fill(~chosen_valid, float("-inf"))


class FrameQPolicy(BasePolicy):
    """SB3 policy holding the online and target :class:`FrameQNetwork` and their optimiser.

    Observations are ``(F+1) x N`` boxes (per-frame features, then the validity row; see
    :func:`~vos_recommender.envs.observation.split_observation`); actions are ``Discrete(N)``. Action selection is the masked arg-max
    of the online network; exploration is the algorithm's business (as in SB3's ``DQNPolicy``).

    Args:
        observation_space: ``Box`` of shape ``(F+1, N)``.
        action_space: ``Discrete(N)``.
        lr_schedule: Learning-rate schedule (the algorithm passes it).
        embed_dim: Per-frame MLP width (released: 128).
        lstm_dim: LSTM hidden size (released: 128).
        head_dim: Head hidden width (released: 128).
        recurrent: Use the bidirectional LSTM (default, released); False: per-frame ablation without
            cross-frame context (see :class:`FrameQNetwork`).
        optimizer_class: Optimiser (released: Adam).
        optimizer_kwargs: Optimiser arguments besides the learning rate (default: the released weight
            decay, ``{"weight_decay": 5e-4}``). Adam runs its fused kernel unless ``fused`` or ``foreach``
            is given.
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        embed_dim: int = 128,
        lstm_dim: int = 128,
        head_dim: int = 128,
        recurrent: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if optimizer_kwargs is None:
            optimizer_kwargs = {"weight_decay": 5e-4}
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 2:
            raise ValueError(
                f"FrameQPolicy needs a Box observation space of shape (F+1, N), got {observation_space}"
            )
        if not isinstance(action_space, spaces.Discrete) or action_space.n != observation_space.shape[1]:
            raise ValueError(
                f"FrameQPolicy needs Discrete(N) actions with N = {observation_space.shape[1]} frames, got {action_space}"
            )
        super().__init__(
            observation_space,
            action_space,
            features_extractor=None,
            normalize_images=False,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
        )
        self.net_kwargs = {
            "in_features": int(observation_space.shape[0]) - 1,
            "embed_dim": int(embed_dim),
            "lstm_dim": int(lstm_dim),
            "head_dim": int(head_dim),
            "recurrent": bool(recurrent),
        }
        self.q_net = FrameQNetwork(**self.net_kwargs)
        self.q_net_target = FrameQNetwork(**self.net_kwargs)
        self.q_net_target.load_state_dict(self.q_net.state_dict())
        self.q_net_target.train(False)
        kwargs = dict(self.optimizer_kwargs)
        if self.optimizer_class is th.optim.Adam and not {"fused", "foreach"} & set(kwargs):
            # The fused kernel applies the same update (to rounding) in one call instead of a Python loop
            # over the parameters: a third of the time of an update of this small network.
            kwargs["fused"] = True
        self.optimizer = self.optimizer_class(self.q_net.parameters(), lr=lr_schedule(1), **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            embed_dim=self.net_kwargs["embed_dim"],
            lstm_dim=self.net_kwargs["lstm_dim"],
            head_dim=self.net_kwargs["head_dim"],
            recurrent=self.net_kwargs["recurrent"],
            lr_schedule=self._dummy_schedule,
            optimizer_class=self.optimizer_class,
            optimizer_kwargs=self.optimizer_kwargs,
        )
        return data

    def q_values(self, obs: th.Tensor, action_masks: th.Tensor | np.ndarray | None = None) -> th.Tensor:
        """Online-network Q-values for a batch of observations of any frame count.

        The network reads every valid frame (the validity row is the context); ``action_masks`` only
        sets the values of excluded frames to ``-inf`` afterwards, so it restricts the choice without
        changing the other frames' values.

        Args:
            obs: ``B x (F+1) x N`` observations (``N`` may differ from the training length).
            action_masks: Optional ``N`` or ``B x N`` boolean masks of frames that may be chosen.

        Returns:
            ``B x N`` Q-values, ``-inf`` at padded and excluded frames.
        """
        features, valid = split_observation(obs)
        q_values = self.q_net(features, valid)
        if action_masks is None:
            return q_values
        return q_values.masked_fill(~choice_masks(obs, action_masks), float("-inf"))

    def forward(self, obs: PyTorchObs, deterministic: bool = True) -> th.Tensor:
        """Greedy actions (see :meth:`_predict`)."""
        return self._predict(obs, deterministic=deterministic)

    def _predict(
        self, observation: PyTorchObs, deterministic: bool = True, action_masks: Any = None
    ) -> th.Tensor:
        """Masked arg-max of the online Q-values (``deterministic`` is ignored, as in SB3's DQN policy)."""
        assert isinstance(observation, th.Tensor)
        require_choice(choice_masks(observation, action_masks))
        return self.q_values(observation, action_masks).argmax(dim=1)

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Greedy frame for one observation or a batch, of any frame count.

        SB3's ``BasePolicy.predict`` checks the observation against the training shape; the network is
        length-agnostic, so observations of other frame counts are converted here instead.

        Args:
            observation: ``(F+1) x N`` or ``B x (F+1) x N`` observation(s).
            state: Unused (the LSTM runs over frames inside one observation, not over time); returned
                as given, for the SB3 recurrent interface.
            episode_start: Unused, for the SB3 recurrent interface.
            deterministic: Unused: the policy is greedy; the algorithm adds exploration.
            action_masks: Optional ``N`` or ``B x N`` boolean masks of frames that may be chosen.

        Returns:
            ``(actions, state)``: an integer array (0-d for a single observation).

        Raises:
            ValueError: If an observation has no allowed frame.
        """
        self.set_training_mode(False)
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 2
        obs_tensor = th.as_tensor(obs[None] if single else obs, device=self.device)
        with th.no_grad():
            actions = self._predict(obs_tensor, action_masks=action_masks).cpu().numpy()
        return (actions.squeeze(axis=0) if single else actions), state

    def set_training_mode(self, mode: bool) -> None:
        """Train/eval mode of the online network (the target network always stays in eval mode)."""
        # Called before every action and every update; walking the modules is skipped when nothing changes.
        if self.training != mode or self.q_net.training != mode:
            self.q_net.train(mode)
            self.training = mode
