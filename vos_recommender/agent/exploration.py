"""Exploration of the frame recommender: the epsilon schedule, epsilon-greedy choice, random-play warm-up.

All of it draws from generators the algorithm owns (pickled with it), so exploration is reproducible and
survives a resume; and all of it chooses only among allowed frames (see :mod:`vos_recommender.agent.masks`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vos_recommender.agent.masks import choice_masks, random_choice

if TYPE_CHECKING:
    from vos_recommender.agent.dqn import RecurrentDQN

__all__ = ["epsilon_greedy", "exponential_epsilon", "fill_with_random_play"]


def exponential_epsilon(actions_taken: int, final: float, amplitude: float, decay: float) -> float:
    """The released schedule ``final + amplitude * exp(-n / decay)`` after ``n = actions_taken`` actions."""
    return float(final + amplitude * np.exp(-float(actions_taken) / decay))


def epsilon_greedy(
    greedy: np.ndarray, masks: np.ndarray, rate: float, rng: np.random.Generator
) -> np.ndarray:
    """Replace each greedy action, with probability ``rate``, by a uniformly random allowed frame.

    Args:
        greedy: ``B`` greedy actions.
        masks: ``B x N`` choice masks.
        rate: Exploration probability per row.
        rng: Generator (one draw per row, then one per explored row).

    Returns:
        ``B`` int64 actions (a new array).
    """
    actions = np.array(greedy, dtype=np.int64).reshape(-1)
    explore = rng.random(len(actions)) < rate
    if explore.any():
        actions[explore] = random_choice(np.asarray(masks)[explore], rng)
    return actions


def fill_with_random_play(model: RecurrentDQN, episodes: int, progress_bar: bool = False) -> int:
    """Store ``episodes`` whole episodes of uniformly random valid actions in the replay buffer.

    They are not agent steps: ``num_timesteps`` does not move (the released replay warm-up).

    Args:
        model: The algorithm, with its environment reset.
        episodes: Episodes to finish (over all environments).
        progress_bar: Show a tqdm bar.

    Returns:
        The number of transitions stored.
    """
    env = model.env
    assert env is not None and model._last_obs is not None and model._explore_rng is not None
    finished = transitions = 0
    bar = None
    if progress_bar and episodes > 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=episodes, desc="replay warm-up (random play)", unit="episode")
    while finished < episodes:
        actions = random_choice(choice_masks(np.asarray(model._last_obs)), model._explore_rng)
        new_obs, rewards, dones, infos = env.step(actions)
        model._store_transition(model.replay_buffer, actions, new_obs, rewards, dones, infos)
        finished += int(np.sum(dones))
        transitions += env.num_envs
        if bar is not None and np.any(dones):
            bar.update(min(int(np.sum(dones)), episodes - bar.n))
    if bar is not None:
        bar.close()
    if model.verbose >= 1 and episodes > 0:
        print(f"Replay buffer seeded with {finished} random episodes ({transitions} transitions)")
    model.logger.record("rollout/warmup_transitions", transitions)
    return transitions
