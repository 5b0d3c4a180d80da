"""Region Construction Block with streamed pairwise tables: F, G, the regions and the region mean of F.

The straightforward head keeps every pairwise table of an image with its autograd graph at once: D, E,
F = (1 - D)(1 - E), F^g and their products, each N x N (354 MB at a 97x97 map). But nothing downstream
needs them whole with gradient:

* the region decision G = [(F^g + F^g^T) / 2 > 0] carries no gradient;
* the only differentiable consumer of F is J, a masked row mean: J_i = mean_{j in R(i)} F^g_ij, and with
  the default 1x1 decision convolution F^g = w F + b, so J = w S + b with S_i = mean_{j in R(i)} F_ij.

:func:`streamed_region_scores` therefore computes, per image and without autograd, one N x N score table
(D is written into it and turned into F in place, E arriving in row blocks), then the regions and S in one
tiled pass over F (compiled; the PyTorch path builds the bool decision table, a quarter of a float
table, in row blocks, and labels it in a fixed number of rounds, without host sync). Only the small inputs (the boundary map and the log class probabilities) are kept
for the backward pass, which recomputes D (one table) and E in row blocks: dS_i/dF_ij = 1[j in R(i)] /
|R(i)|, so the gradient of the D table is -(dL/dS_i) 1[j in R(i)] (1 - E_ij) / |R(i)|, built in place of D
block by block, and the gradient of every E block is formed and consumed immediately. Peak memory: one
float N x N table plus row blocks, for one image at a time, instead of several tables per image for the
whole batch. The values are those of the straightforward computation (same formulas; only float summation
order differs).

With ``boundary_endpoints`` the table holds D' = max(D, b_i, b_j) (taken on D's rows in place) and the
backward splits each block's gradient between D and the end points (``boundary_endpoints``); with
``force_regions`` the regions are one per image or one per cell instead of those of the decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ._compiled import IMPLS, load_extension, use_compiled
from .boundary_endpoints import add_endpoints_, endpoint_backward, endpoint_rows
from .boundary_max_table import boundary_max_table
from .forced_regions import FORCED_REGIONS, forced_regions_and_sums
from .jensen_shannon import jensen_shannon_rows
from .precision import autocast_off
from .region_labels import compact_region_labels, jump_to_roots, region_labels
from .region_linkage import average_linkage_labels

# Elements (rows x N, times the number of classes for the PyTorch full JSD) of one row block.
DEFAULT_BLOCK_ELEMENTS = 1 << 22
# On an accelerator: blocks 16x larger, so that a 97x97 map takes a few dozen blocks of kernels.
DEVICE_BLOCK_ELEMENTS = 1 << 26


@dataclass(frozen=True)
class RegionScoreSpec:
    """Settings of the streamed Region Construction Block (``RegionConstructionSpec.score_spec`` builds them).

    Attributes:
        use_boundary_term: Include D (else D = 0).
        use_semantic_term: Include E (else E = 0).
        divergence: ``'full'`` or ``'binary'`` JSD.
        jsd_normalize: Divide E by ln 2.
        region_rule: ``'components'`` or ``'greedy'``.
        boundary_impl: Implementation of D (``'auto'``, ``'compiled'``, ``'torch'``).
        semantic_impl: Implementation of E (``'auto'``, ``'compiled'``, ``'torch'``).
        region_impl: Implementation of the decision, the regions and the region sums (``'auto'``,
            ``'compiled'``: one tiled pass over F without a decision table; ``'torch'``: a bool decision
            table in row blocks and fixed-round tree hooking, ``region_labels``, on the tensor's device).
        boundary_endpoints: D counts the end pixels: D'_ij = max(D_ij, b_i, b_j) (``boundary_endpoints``).
        force_regions: None (regions from G), ``'image'`` (one region per image), ``'pixel'`` (one
            region per cell) or ``'ground_truth'`` (the regions given with the call, from the label): the
            partition is replaced, the scores and J are computed as usual.
        block_elements: Size of a row block (memory knob); None: 2**22 for CPU tensors, 2**26 elsewhere.
    """

    use_boundary_term: bool = True
    use_semantic_term: bool = True
    divergence: str = "full"
    jsd_normalize: bool = False
    region_rule: str = "components"
    boundary_impl: str = "auto"
    semantic_impl: str = "auto"
    region_impl: str = "auto"
    boundary_endpoints: bool = False
    force_regions: str | None = None
    block_elements: int | None = None

    def __post_init__(self) -> None:
        if self.force_regions not in FORCED_REGIONS:
            raise ValueError(f"force_regions must be one of {FORCED_REGIONS}, got {self.force_regions!r}")


def _row_blocks(num_pixels: int, log_probs: Tensor, spec: RegionScoreSpec):
    per_row = num_pixels
    if (
        spec.use_semantic_term
        and spec.divergence == "full"
        and not use_compiled(log_probs, spec.semantic_impl, "semantic_impl")
    ):
        per_row *= log_probs.shape[1]  # the PyTorch full form holds (rows, N, C) intermediates
    elements = spec.block_elements
    if elements is None:
        elements = DEFAULT_BLOCK_ELEMENTS if log_probs.device.type == "cpu" else DEVICE_BLOCK_ELEMENTS
    rows = max(1, elements // max(1, per_row))
    for start in range(0, num_pixels, rows):
        yield start, min(num_pixels, start + rows)


def _semantic_rows(log_probs: Tensor, start: int, stop: int, spec: RegionScoreSpec) -> Tensor:
    return jensen_shannon_rows(
        log_probs, start, stop, spec.divergence, spec.jsd_normalize, spec.semantic_impl
    )


@torch.no_grad()
def _score_table(boundary: Tensor, log_probs: Tensor, spec: RegionScoreSpec) -> Tensor:
    """F = (1 - D)(1 - E) of one image (boundary (1, H, W), log_probs (1, C, N)) as one (N, N) table."""
    num_pixels = log_probs.shape[2]
    if spec.use_boundary_term:
        table = boundary_max_table(boundary, impl=spec.boundary_impl)[0]
        if spec.boundary_endpoints:
            add_endpoints_(table, boundary.reshape(-1), _row_blocks(num_pixels, log_probs, spec))
        table.neg_().add_(1)  # 1 - D, in place
    else:
        table = log_probs.new_ones(num_pixels, num_pixels)
    if spec.use_semantic_term:
        for start, stop in _row_blocks(num_pixels, log_probs, spec):
            table[start:stop].mul_(1 - _semantic_rows(log_probs, start, stop, spec)[0])
    return table


def _margin(values: Tensor, weight: Tensor | float | None, bias: Tensor | float) -> Tensor:
    """F^g = w F + b, or F - threshold (``bias``) without a learnable decision."""
    return values * weight + bias if weight is not None else values + bias


@torch.no_grad()
def _decide(
    score: Tensor,
    weight: Tensor | float | None,
    bias: Tensor | float,
    log_probs: Tensor,
    spec: RegionScoreSpec,
) -> Tensor:
    """G_ij = [(F^g_ij + F^g_ji) / 2 > 0] for F^g = w F + b (or F - threshold), in row blocks."""
    num_pixels = score.shape[0]
    linked = torch.empty(num_pixels, num_pixels, dtype=torch.bool, device=score.device)
    for start, stop in _row_blocks(num_pixels, log_probs, spec):
        rows = _margin(score[start:stop], weight, bias)
        columns = _margin(score[:, start:stop].t(), weight, bias)
        torch.gt(rows + columns, 0, out=linked[start:stop])
    return linked


def _region_sizes(region: Tensor) -> Tensor:
    # A scatter rather than bincount, which sizes its output by reading the largest id on the host.
    sizes = torch.zeros_like(region).scatter_add_(0, region, torch.ones_like(region))
    return sizes.gather(0, region)


REGION_IMPLS = IMPLS


@torch.no_grad()
def _regions_and_sums(
    score: Tensor,
    weight: Tensor | float | None,
    bias: Tensor | float,
    log_probs: Tensor,
    spec: RegionScoreSpec,
) -> tuple[Tensor, Tensor, Tensor]:
    """Region ids (N,), region count and sum_j F_ij [j in R(i)] (N,) of one image's score table."""
    if spec.force_regions == "ground_truth":
        raise ValueError("force_regions='ground_truth' needs the regions of the label (given_regions)")
    if spec.force_regions is not None:
        return forced_regions_and_sums(score, spec.force_regions)
    if spec.region_rule == "average_linkage":
        margin = _margin(score, weight, bias)
        margin = (margin + margin.t()) / 2
        region, count = average_linkage_labels(
            margin.unsqueeze(0), overwrite=True
        )  # margin is this function's own temporary
        del margin
        region = region[0]
        return region, count[0], _region_row_sums(score, region, log_probs, spec)
    if use_compiled(score, spec.region_impl, "region_impl"):
        module = load_extension()
        # The compiled pass runs on CPU tensors, where reading w and b as floats waits for nothing.
        roots = module.region_roots_from_scores(
            score, 1.0 if weight is None else float(weight), float(bias), spec.region_rule == "components"
        )
        if spec.region_rule == "greedy":
            roots = jump_to_roots(roots.unsqueeze(0))[0]
        region, count = compact_region_labels(roots.unsqueeze(0))
        region = region[0]
        return region, count[0], module.region_row_sums(score, region)
    linked = _decide(score, weight, bias, log_probs, spec)
    region, count = region_labels(linked.unsqueeze(0), spec.region_rule)
    del linked
    region = region[0]
    return region, count[0], _region_row_sums(score, region, log_probs, spec)


@torch.no_grad()
def region_sums(score: Tensor, region: Tensor, log_probs: Tensor, spec: RegionScoreSpec) -> Tensor:
    """sum_j F_ij [j in R(i)] (N,) for a given partition: the compiled pass when ``spec.region_impl`` picks
    it, else PyTorch row blocks."""
    if use_compiled(score, spec.region_impl, "region_impl"):
        return load_extension().region_row_sums(score, region)
    return _region_row_sums(score, region, log_probs, spec)


def _region_row_sums(score: Tensor, region: Tensor, log_probs: Tensor, spec: RegionScoreSpec) -> Tensor:
    """sum_j F_ij [j in R(i)] (N,), in row blocks."""
    total = score.new_empty(score.shape[0])
    for start, stop in _row_blocks(score.shape[0], log_probs, spec):
        same = region[start:stop].unsqueeze(1) == region.unsqueeze(0)
        total[start:stop] = torch.where(same, score[start:stop], score.new_zeros(())).sum(dim=1)
    return total


class _StreamedRegionScores(torch.autograd.Function):
    """(boundary, log_probs) -> (S, region, counts); see the module docstring."""

    @staticmethod
    def forward(ctx, boundary, log_probs, spec, weight, bias, given_regions):  # type: ignore[override]
        batch, _, num_pixels = log_probs.shape
        mean_score = log_probs.new_empty(batch, num_pixels)
        regions = torch.empty(batch, num_pixels, dtype=torch.long, device=log_probs.device)
        counts = torch.empty(batch, dtype=torch.long, device=log_probs.device)
        for b in range(batch):
            score = _score_table(boundary[b : b + 1], log_probs[b : b + 1], spec)
            if given_regions is None:
                region, count, total = _regions_and_sums(score, weight, bias, log_probs, spec)
            else:
                region = given_regions[b]
                count = region.max() + 1
                total = region_sums(score, region, log_probs, spec)
            del score
            regions[b], counts[b] = region, count
            mean_score[b] = total / _region_sizes(region).to(total.dtype)
        ctx.mark_non_differentiable(regions, counts)
        ctx.save_for_backward(boundary, log_probs, regions)
        ctx.spec = spec
        return mean_score, regions, counts

    @staticmethod
    def backward(ctx, grad_mean, _grad_regions, _grad_counts):  # type: ignore[override]
        boundary, log_probs, regions = ctx.saved_tensors
        # The recomputed tables stay in the inputs' precision even if backward runs under autocast.
        with autocast_off(log_probs.device):
            return _StreamedRegionScores._backward(ctx, grad_mean, boundary, log_probs, regions)

    @staticmethod
    def _backward(ctx, grad_mean, boundary, log_probs, regions):
        spec: RegionScoreSpec = ctx.spec
        need_boundary = ctx.needs_input_grad[0] and spec.use_boundary_term
        need_log_probs = ctx.needs_input_grad[1] and spec.use_semantic_term
        grad_boundary = torch.zeros_like(boundary) if ctx.needs_input_grad[0] else None
        grad_log_probs = torch.zeros_like(log_probs) if ctx.needs_input_grad[1] else None
        if grad_mean is None or not (need_boundary or need_log_probs):
            return grad_boundary, grad_log_probs, None, None, None, None
        num_pixels = log_probs.shape[2]
        for b in range(log_probs.shape[0]):
            region = regions[b]
            # dL/dF_ij = c_i 1[j in R(i)] with c_i = dL/dS_i / |R(i)|.
            coefficient = grad_mean[b] / _region_sizes(region).to(grad_mean.dtype)
            with torch.enable_grad():
                boundary_b = boundary[b : b + 1].detach().requires_grad_(need_boundary)
                log_probs_b = log_probs[b : b + 1].detach().requires_grad_(need_log_probs)
                if spec.use_boundary_term:
                    table = boundary_max_table(boundary_b, impl=spec.boundary_impl)
                    # D's backward keeps only the boundary map (or arg-max steps), not D itself, so D's
                    # storage can be overwritten with D's gradient block by block.
                    work = table.detach()[0]
                    flat_boundary = boundary_b.detach().reshape(-1)
                    grad_endpoints = torch.zeros_like(flat_boundary)
                for start, stop in _row_blocks(num_pixels, log_probs, spec):
                    same = region[start:stop].unsqueeze(1) == region.unsqueeze(0)
                    grad_score = torch.where(
                        same, coefficient[start:stop].unsqueeze(1), coefficient.new_zeros(())
                    )
                    if spec.use_boundary_term:
                        boundary_rows = work[start:stop]
                        if spec.boundary_endpoints:
                            boundary_rows = torch.maximum(
                                boundary_rows, endpoint_rows(flat_boundary[start:stop], flat_boundary)
                            )
                    if spec.use_semantic_term:
                        semantic = _semantic_rows(log_probs_b, start, stop, spec)
                        if need_log_probs:
                            # dF/dE = -(1 - D)
                            grad_semantic = (
                                -grad_score * (1 - boundary_rows) if spec.use_boundary_term else -grad_score
                            )
                            (grad,) = torch.autograd.grad(semantic, log_probs_b, grad_semantic.unsqueeze(0))
                            grad_log_probs[b : b + 1] += grad
                        # dF/dD = -(1 - E)
                        grad_rows = -grad_score * (1 - semantic.detach()[0])
                    else:
                        grad_rows = -grad_score
                    if spec.use_boundary_term and spec.boundary_endpoints:
                        grad_rows, grad_own, grad_all = endpoint_backward(
                            grad_rows, boundary_rows, flat_boundary[start:stop], flat_boundary
                        )
                        grad_endpoints[start:stop] += grad_own
                        grad_endpoints += grad_all
                    if spec.use_boundary_term:
                        work[start:stop] = grad_rows
                if need_boundary:
                    (grad,) = torch.autograd.grad(table, boundary_b, work.unsqueeze(0))
                    grad_boundary[b : b + 1] = grad
                    if spec.boundary_endpoints:
                        grad_boundary[b] += grad_endpoints.view_as(grad_boundary[b])
        return grad_boundary, grad_log_probs, None, None, None, None


def streamed_region_scores(
    boundary: Tensor,
    log_probs: Tensor,
    spec: RegionScoreSpec,
    decision_weight: Tensor | float | None = None,
    decision_bias: Tensor | float = -0.8,
    given_regions: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Regions and the region mean of the score F, without N x N tables held for autograd.

    Args:
        boundary (Tensor): Boundary probabilities b (B, H, W).
        log_probs (Tensor): Log class probabilities (B, C, H*W).
        spec (RegionScoreSpec): Switches of the block.
        decision_weight (Tensor | float, optional): w of a learnable 1x1 decision F^g = w F + b (a float
            or a 0-dim tensor, e.g. the detached parameter: no host sync to read it); None for the released
            fixed threshold (F^g = F + decision_bias).
        decision_bias (Tensor | float): b of the decision, or minus the threshold. Defaults to -0.8.
        given_regions (Tensor, optional): int64 region ids (B, N), contiguous from 0 per image, that
            replace the decision's regions; required when ``spec.force_regions == 'ground_truth'``.

    Returns:
        tuple: S (B, N) with S_i = mean of F_ij over the pixels j of i's region (differentiable with
        respect to ``boundary`` and ``log_probs``), region ids (B, N) and region counts (B,).
    """
    if boundary.dim() != 3 or log_probs.dim() != 3:
        raise ValueError(
            f"boundary must be (B, H, W) and log_probs (B, C, H*W), got {tuple(boundary.shape)} and "
            f"{tuple(log_probs.shape)}"
        )
    if boundary.shape[0] != log_probs.shape[0] or boundary.shape[1] * boundary.shape[2] != log_probs.shape[2]:
        raise ValueError(
            f"boundary {tuple(boundary.shape)} and log_probs {tuple(log_probs.shape)} disagree on batch or pixels"
        )
    if (spec.force_regions == "ground_truth") != (given_regions is not None):
        raise ValueError(
            "given_regions must be passed exactly when force_regions='ground_truth', got force_regions="
            f"{spec.force_regions!r} and given_regions {'set' if given_regions is not None else 'None'}"
        )
    if given_regions is not None and given_regions.shape != log_probs.shape[::2]:
        raise ValueError(
            f"given_regions must have shape (B, N) = {tuple(log_probs.shape[::2])}, got {tuple(given_regions.shape)}"
        )
    return _StreamedRegionScores.apply(
        boundary, log_probs, spec, _affine_term(decision_weight), _affine_term(decision_bias), given_regions
    )


def _affine_term(value: Tensor | float | None) -> Tensor | float | None:
    """A term of the decision F^g = w F + b: None and 0-dim tensors as given, numbers as floats."""
    if value is None or isinstance(value, Tensor):
        if value is not None and value.numel() != 1:
            raise ValueError(
                f"the decision weight and bias must be numbers or 0-dim tensors, got {tuple(value.shape)}"
            )
        return None if value is None else value.detach().reshape(())
    return float(value)
