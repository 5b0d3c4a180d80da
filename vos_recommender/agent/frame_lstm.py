"""Running one shared-weight LSTM forward and backward over the frames of a batch, in as few calls as possible.

The released Q-network steps one LSTM cell forward over the frames and again backward with the same
weights. Both directions share the weights, so they are one ``nn.LSTM`` call over twice the rows (the
backward rows are the frames reversed within each row's length): the parameter layout stays that of a
one-direction ``nn.LSTM`` (the released cell's four tensors), unlike ``nn.LSTM(bidirectional=True)``,
which would hold two independent weight sets.

Training needs each transition's value at one frame only. The forward direction then has to run up to
that frame and the backward direction down to it, about half of the frames each; :func:`final_hidden`
runs only those steps, in short chunks of time over the rows that still need them.
"""

from __future__ import annotations

import torch as th
from torch import nn

__all__ = ["CHUNK", "both_directions", "compact_valid", "final_hidden", "reverse_index"]

#: Time steps per LSTM call in :func:`final_hidden`: shorter chunks skip more padding but add calls (5
#: was fastest for 25-frame clips, batch 32, hidden 128).
CHUNK = 5


def compact_valid(features: th.Tensor, mask: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
    """Gather each row's valid frames to its front, in their original order.

    Args:
        features: ``B x N x F`` tensor.
        mask: ``B x N`` boolean validity.

    Returns:
        ``(compact, order, lengths)``: the gathered ``B x N x F`` tensor, the ``B x N`` source index of
        every compact position (for scattering back), and the ``B x 1`` number of valid frames per row.
    """
    # A stable sort on "is padding" keeps the valid frames' order.
    order = th.sort((~mask).to(th.int8), dim=1, stable=True).indices
    lengths = mask.sum(dim=1, keepdim=True)
    compact = features.gather(1, order.unsqueeze(-1).expand_as(features))
    return compact, order, lengths


def reverse_index(lengths: th.Tensor, frames: int) -> th.Tensor:
    """``B x N`` index reversing each row within its first ``lengths`` positions (its own inverse)."""
    positions = th.arange(frames, device=lengths.device).expand(lengths.shape[0], frames)
    return th.where(positions < lengths, lengths - 1 - positions, positions)


def both_directions(lstm: nn.LSTM, embedded: th.Tensor, lengths: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """Forward and backward hidden states of every compact frame, from one LSTM call over ``2B`` rows.

    Args:
        lstm: One-layer, one-direction, batch-first LSTM.
        embedded: ``B x N x E`` compact frame encodings (valid frames first).
        lengths: ``B x 1`` valid frames per row.

    Returns:
        ``(forward, backward)``, each ``B x N x H``; ``backward[b, i]`` has read frames ``L_b - 1 .. i``.
        Positions at or past a row's length hold values that depend on padding: callers drop them.
    """
    batch, frames, _ = embedded.shape
    index = reverse_index(lengths, frames).unsqueeze(-1)
    reversed_rows = embedded.gather(1, index.expand_as(embedded))
    hidden, _ = lstm(th.cat([embedded, reversed_rows], dim=0))
    forward, backward = hidden[:batch], hidden[batch:]
    return forward, backward.gather(1, index.expand_as(backward))


def final_hidden(lstm: nn.LSTM, sequences: th.Tensor, steps: th.Tensor, chunk: int = CHUNK) -> th.Tensor:
    """Hidden state of each row after its first ``steps`` inputs, running no step past that.

    Rows are sorted by ``steps`` (longest first) and the LSTM runs chunk by chunk of time, each call on
    the rows that still need steps, carrying ``(h, c)`` from the previous chunk. The result equals the
    matching position of one full-length call (the LSTM is causal); only the work differs.

    Args:
        lstm: One-layer, one-direction, batch-first LSTM.
        sequences: ``R x T x E`` inputs.
        steps: ``R`` steps per row, each in ``[1, T]``.
        chunk: Time steps per call.

    Returns:
        ``R x H`` hidden states (differentiable with respect to ``sequences`` and the LSTM).
    """
    rows = sequences.shape[0]
    order = th.argsort(steps, descending=True, stable=True)
    ordered = sequences.index_select(0, order)
    needed = steps.index_select(0, order)
    counts = needed.tolist()
    pieces: list[th.Tensor] = []
    state: tuple[th.Tensor, th.Tensor] | None = None
    start = 0
    longest = counts[0] if counts else 0
    while start < longest:
        active = sum(1 for n in counts if n > start)
        if state is not None:
            state = (state[0][:, :active].contiguous(), state[1][:, :active].contiguous())
        out, state = lstm(ordered[:active, start : start + chunk], state)
        # Sorted longest first: the rows that end inside this chunk are the last ones still active.
        continuing = sum(1 for n in counts if n > start + chunk)
        if continuing < active:
            at = (needed[continuing:active] - 1 - start).view(-1, 1, 1).expand(-1, 1, out.shape[-1])
            pieces.append(out[continuing:active].gather(1, at).squeeze(1))
        start += chunk
    # Pieces came out shortest rows first, i.e. from the end of the sorted order.
    hidden = th.cat(pieces[::-1], dim=0) if pieces else sequences.new_zeros(0, lstm.hidden_size)
    return hidden.index_select(0, th.argsort(order)) if rows else hidden
