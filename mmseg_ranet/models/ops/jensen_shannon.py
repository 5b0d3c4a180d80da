"""Semantic term E of RANet's Region Construction Block: pairwise Jensen-Shannon divergences."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from ._compiled import IMPLS, use_compiled

DIVERGENCE_FORMS = ("full", "binary")
# Clipping of the binary form, as in the released code.
BINARY_PROB_RANGE = (0.001, 0.99)
DEFAULT_CHUNK_ELEMENTS = 1 << 23


def _full_jsd_rows(log_probs_rows: Tensor, log_probs: Tensor) -> Tensor:
    """Full-class JSD between the pixels of ``log_probs_rows`` (B, C, n) and all pixels (B, C, N)."""
    lp_i = log_probs_rows.transpose(1, 2).unsqueeze(2)  # (B, n, 1, C)
    lp_j = log_probs.transpose(1, 2).unsqueeze(1)  # (B, 1, N, C)
    # log M from log-probabilities stays finite even where a probability underflows to 0.
    log_m = torch.logaddexp(lp_i, lp_j) - math.log(2.0)
    kl_i = (lp_i.exp() * (lp_i - log_m)).sum(-1)
    kl_j = (lp_j.exp() * (lp_j - log_m)).sum(-1)
    return 0.5 * (kl_i + kl_j)


def full_jsd_table(log_probs: Tensor, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS) -> Tensor:
    """E_ij = JSD(P_i, P_j) over all classes, natural log (so 0 <= E <= ln 2); symmetric.

    Rows are evaluated in blocks; with gradients each block is recomputed in backward, so the
    (B, N, N, C) intermediate is never held whole.
    """
    batch, num_classes, num_pixels = log_probs.shape
    rows = max(1, chunk_elements // max(1, batch * num_pixels * num_classes))
    if rows >= num_pixels:
        return _full_jsd_rows(log_probs, log_probs)
    blocks = []
    for start in range(0, num_pixels, rows):
        block = log_probs[:, :, start : start + rows]
        if torch.is_grad_enabled() and log_probs.requires_grad:
            blocks.append(checkpoint(_full_jsd_rows, block, log_probs, use_reentrant=False))
        else:
            blocks.append(_full_jsd_rows(block, log_probs))
    return torch.cat(blocks, dim=1)


def _bernoulli_jsd(p: Tensor, q: Tensor) -> Tensor:
    m = 0.5 * (p + q)
    return 0.5 * (
        p * torch.log(p / m)
        + (1 - p) * torch.log((1 - p) / (1 - m))
        + q * torch.log(q / m)
        + (1 - q) * torch.log((1 - q) / (1 - m))
    )


def _binary_jsd_rows(log_probs: Tensor, start: int, stop: int) -> Tensor:
    probs = log_probs.exp()
    top_class = probs[:, :, start:stop].argmax(dim=1)  # (B, n)
    one_hot = torch.nn.functional.one_hot(top_class, probs.shape[1]).to(probs.dtype)  # (B, n, C)
    # q[b, i, j] = P_j[c_i]: a product with a one-hot matrix copies the entries exactly.
    q = torch.bmm(one_hot, probs)
    p = q.gather(2, torch.arange(start, stop, device=q.device).view(1, -1, 1).expand(q.shape[0], -1, 1))
    low, high = BINARY_PROB_RANGE
    return _bernoulli_jsd(p.clamp(low, high), q.clamp(low, high))


def binary_jsd_table(log_probs: Tensor) -> Tensor:
    """Released-code form: E_ij = JSD(Bern(p), Bern(q)) with p = P_i[c_i], q = P_j[c_i], c_i = argmax P_i.

    Both probabilities are clipped to [0.001, 0.99]; natural log; not symmetric. Gradients come from
    autograd (the released hand-written backward has an operator-precedence bug).
    """
    return _binary_jsd_rows(log_probs, 0, log_probs.shape[2])


JSD_IMPLS = IMPLS


def jensen_shannon_rows(
    log_probs: Tensor,
    start: int,
    stop: int,
    form: str = "full",
    normalize: bool = False,
    impl: str = "auto",
) -> Tensor:
    """Rows [start, stop) of the semantic term E (see :func:`jensen_shannon_table`), with gradients.

    Args:
        log_probs (Tensor): Log class probabilities (B, num_classes, N).
        start (int): First row.
        stop (int): One past the last row.
        form (str): ``'full'`` or ``'binary'``.
        normalize (bool): Divide by ln 2.
        impl (str): ``'auto'`` (the compiled operator when available), ``'compiled'`` or ``'torch'``.

    Returns:
        Tensor: (B, stop - start, N).
    """
    if form not in DIVERGENCE_FORMS:
        raise ValueError(f"form (divergence) must be one of {DIVERGENCE_FORMS}, got {form!r}")
    if use_compiled(log_probs, impl):
        from ._compiled import jensen_shannon_rows_compiled

        rows = jensen_shannon_rows_compiled(
            log_probs, start, stop, None if form == "full" else BINARY_PROB_RANGE
        )
    elif form == "full":
        rows = _full_jsd_rows(log_probs[:, :, start:stop], log_probs)
    else:
        rows = _binary_jsd_rows(log_probs, start, stop)
    return rows / math.log(2.0) if normalize else rows


def jensen_shannon_table(
    log_probs: Tensor,
    form: str = "full",
    normalize: bool = False,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
    impl: str = "auto",
) -> Tensor:
    """Pairwise semantic term E of RANet.

    Args:
        log_probs (Tensor): Log class probabilities ``log_softmax(C)``, shape (B, num_classes, N).
        form (str): ``'full'`` (paper: JSD of the full class distributions) or ``'binary'`` (released
            code: JSD of Bernoulli distributions on i's arg-max class). Defaults to ``'full'``.
        normalize (bool): Divide by ln 2 so that E lies in [0, 1] (the base-2 JSD). Defaults to False.
        chunk_elements (int): Memory knob of the PyTorch full form. Defaults to 2**23.
        impl (str): ``'auto'`` (default: the compiled operator when it is available, 10-30x faster),
            ``'compiled'`` or ``'torch'``.

    Returns:
        Tensor: E with shape (B, N, N).
    """
    if log_probs.dim() != 3:
        raise ValueError(f"log_probs must have shape (B, num_classes, N), got {tuple(log_probs.shape)}")
    if form not in DIVERGENCE_FORMS:
        raise ValueError(f"form (divergence) must be one of {DIVERGENCE_FORMS}, got {form!r}")
    if use_compiled(log_probs, impl):
        from ._compiled import jensen_shannon_rows_compiled

        table = jensen_shannon_rows_compiled(
            log_probs, 0, log_probs.shape[2], None if form == "full" else BINARY_PROB_RANGE
        )
    elif form == "full":
        table = full_jsd_table(log_probs, chunk_elements)
    elif form == "binary":
        table = binary_jsd_table(log_probs)
    else:
        raise ValueError(f"form (divergence) must be one of {DIVERGENCE_FORMS}, got {form!r}")
    if normalize:
        table = table / math.log(2.0)
    return table
