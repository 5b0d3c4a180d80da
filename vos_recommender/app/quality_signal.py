"""The quality estimate as a person reads it: each frame relative to the rest of its video, and "unknown"
where the estimate is out of date.

An estimator's values sit in a narrow band on one video (0.86-0.87 on every frame of one, 0.90-0.93 on
another), so an absolute colour scale paints every frame the same. What tells a person where to look is
the order within the video: the filmstrip colours and sizes each bar by the frame's rank among the
frames with an estimate (the worst red, the best green), and prints the value itself.

A frame's estimate is unknown (``None``) when it no longer describes the masks: after an object was added
or deleted, after a frame's mask was edited by hand, or for starting masks that carry no probabilities
when the quality is the model's own confidence (a one-hot mask is "certain" everywhere: 1.00, which says
nothing). Unknown is never shown as a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata

__all__ = ["describe_rank", "known_mask", "quality_ranks", "quality_view", "relative_quality"]


def known_mask(quality: Sequence[float | None]) -> np.ndarray:
    """``T`` booleans: True where the frame has an estimate."""
    return np.array([q is not None for q in quality], dtype=bool)


def _values(quality: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if q is None else float(q) for q in quality], dtype=np.float64)


def relative_quality(quality: Sequence[float | None] | None) -> list[float | None] | None:
    """Each frame's place in its video, in ``[0, 1]``: 0 the lowest estimate, 1 the highest.

    The place is the frame's rank among the frames with an estimate, scaled to ``[0, 1]``; tied frames
    share their mean rank, so equal estimates get equal places (all equal, or a single known frame: 0.5).

    Args:
        quality: ``T`` per-frame estimates, None where unknown; or None (no result yet).

    Returns:
        ``T`` places, None where the estimate is unknown; None for None.
    """
    if quality is None:
        return None
    values = _values(quality)
    known = ~np.isnan(values)
    places: list[float | None] = [None] * len(values)
    count = int(known.sum())
    if count == 0:
        return places
    ranks = rankdata(values[known], method="average")
    scaled = np.full(count, 0.5) if count == 1 else (ranks - 1.0) / (count - 1.0)
    for index, place in zip(np.flatnonzero(known), scaled):
        places[int(index)] = float(place)
    return places


def quality_ranks(quality: Sequence[float | None] | None) -> list[int | None] | None:
    """Each frame's rank from the lowest estimate (1 = lowest; ties share the lowest rank), None if unknown."""
    if quality is None:
        return None
    values = _values(quality)
    known = ~np.isnan(values)
    ranks: list[int | None] = [None] * len(values)
    for index, rank in zip(np.flatnonzero(known), rankdata(values[known], method="min")):
        ranks[int(index)] = int(rank)
    return ranks


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def describe_rank(rank: int, known: int) -> str:
    """A frame's rank in words: ``"the lowest of 25 frames"``, ``"the 3rd lowest of 25 frames"``."""
    if known <= 1:
        return "the only frame with an estimate"
    if rank == 1:
        return f"the lowest of {known} frames"
    if rank == known:
        return f"the highest of {known} frames"
    return f"the {_ordinal(rank)} lowest of {known} frames"


def quality_view(quality: Sequence[float | None] | None, note: str | None) -> dict[str, Any]:
    """What the page shows of the estimate.

    Args:
        quality: ``T`` per-frame estimates (None where unknown), or None before any result.
        note: Why estimates are unknown (e.g. ``"object 2 was deleted"``), or None.

    Returns:
        ``{"relative", "rank", "known", "note"}``: :func:`relative_quality`, :func:`quality_ranks`, the
        number of frames with an estimate, and ``note``.
    """
    known = 0 if quality is None else int(known_mask(quality).sum())
    return {
        "relative": relative_quality(quality),
        "rank": quality_ranks(quality),
        "known": known,
        "note": note,
    }
