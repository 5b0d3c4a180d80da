"""MANet's memory aggregation over interaction rounds (Miao et al., CVPR 2020, Sec. 3.3).

Per frame of the video the memory keeps:

* a **global map**: the element-wise minimum of every global matching map computed for that frame in
  any round so far (initially 1, "no match"). The interaction head also folds the annotated frame's
  local self-matching map into it, as the authors' ``int_seghead`` does.
* a **local map**: the local matching map of the latest round, with the frame's distance to that
  round's annotated frame. A round uses its own local map only when the frame is strictly closer to
  the new annotated frame than to the previous round's; otherwise it reuses the previous round's map.
  Only the previous round is compared, as in the authors' code; a frame annotated in the previous
  round always takes the new map.

The authors keep these in tensors of 104 frames x 9 rounds (DAVIS's longest video and their round
budget), so longer videos or a tenth round fail with IndexError there. This memory is keyed by frame
and keeps one round back, so it has neither limit; the values are the same within those limits.
"""

from __future__ import annotations

import math

import torch

__all__ = ["RoundMemory"]


class RoundMemory:
    """Global and local matching maps of one video across rounds.

    Attributes:
        num_ids: Number of ids (objects + background) the maps hold.
        round: Number of the current round (1-based; 0 before the first).
    """

    def __init__(self, num_ids: int) -> None:
        self.num_ids = int(num_ids)
        self.round = 0
        self._global: dict[int, torch.Tensor] = {}
        self._local: dict[int, tuple[float, torch.Tensor | None]] = {}

    def next_round(self) -> int:
        """Start a new round and return its number."""
        self.round += 1
        return self.round

    def aggregate_global(self, frame: int, maps: torch.Tensor) -> torch.Tensor:
        """Fold ``maps`` (``num_ids x h x w``) into ``frame``'s global map and return the result."""
        previous = self._global.get(frame)
        merged = maps if previous is None else torch.where(maps <= previous, maps, previous)
        # Without an earlier map the authors compare against ones; values above 1 cannot occur.
        self._global[frame] = merged.detach()
        return self._global[frame]

    def mark_annotated(self, frame: int) -> None:
        """Record that ``frame`` was annotated this round (its next local map always wins)."""
        self._local[frame] = (math.inf, None)

    def choose_local(self, frame: int, annotated_frame: int, maps: torch.Tensor) -> torch.Tensor:
        """Store this round's local ``maps`` for ``frame`` and return the ones to use.

        Args:
            frame: The frame being segmented.
            annotated_frame: This round's annotated frame (propagation starts there).
            maps: This round's local matching maps, ``num_ids x h x w``.
        """
        distance = float(abs(frame - annotated_frame))
        previous = self._local.get(frame)
        self._local[frame] = (distance, maps.detach())
        if previous is None or previous[1] is None or distance < previous[0]:
            return maps
        return previous[1]
