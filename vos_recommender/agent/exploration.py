"""Exploration of the frame recommender: the epsilon schedule and the epsilon-greedy choice.

All of it draws from generators the algorithm owns (pickled with it), so exploration is reproducible and
survives a resume; and all of it chooses only among allowed frames (see :mod:`vos_recommender.agent.masks`).
"""

from __future__ import annotations

import numpy as np

from vos_recommender.agent.masks import random_choice

__all__ = ["epsilon_greedy", "exponential_epsilon"]


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
