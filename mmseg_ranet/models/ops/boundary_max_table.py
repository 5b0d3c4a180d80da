"""Boundary term D of RANet's Region Construction Block.

D_ij is the largest boundary probability met on the straight segment from pixel i to pixel j, with the
sampling of the authors' released code (see ``docs``/design notes): for d = p_j - p_i and
L = max(|dx|, |dy|), the samples are p_i + t * d / L for t = 1 .. L - 1 (endpoints excluded). The
major-axis coordinate of a sample is an integer; along the minor axis the boundary map is linearly
interpolated between the two neighbouring pixels. D_ij = max(0, max_t sample), so D_ii = 0 and D is 0
between 8-neighbours. The gradient of D_ij reaches the two interpolation neighbours of its arg-max sample,
weighted by their interpolation weights, as in max pooling.

Pairs with the same displacement share all their sample offsets, so D is evaluated for blocks of
displacements of similar length at once, over all source pixels for which the target lies in the map
(exact, no per-pair Python loop). D is symmetric, so only half of the displacements are evaluated. Only the
arg-max step of every pair is kept for the backward pass instead of the autograd graph of all samples.
On exact ties the two directions of a pair may route their gradient to different (equally valid) samples.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Elements of the (batch, displacement, step, pixel) sample block evaluated at once; bounds peak memory.
DEFAULT_CHUNK_ELEMENTS = 1 << 22


def segment_sample_geometry(
    dy: Tensor, dx: Tensor, step: Tensor, dtype: torch.dtype | None = None
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Offsets of the two interpolation neighbours of sample ``step`` on the segment of displacement (dy, dx).

    ``dy``, ``dx`` and ``step`` are integer tensors that broadcast together; ``dtype`` is the dtype of the
    returned weight (default: torch's default dtype). The sample sits at ``step * d / L`` from
    the source pixel with ``L = max(|dy|, |dx|)``. When ``|dx| >= |dy|`` x is the major axis (so diagonal
    segments, where both coordinates are integers, also count as x-major with a zero weight).

    Returns:
        tuple: ``(lower_dy, lower_dx, upper_dy, upper_dx, upper_weight)``; the sample value is
        ``(1 - w) * b[lower] + w * b[upper]``. Offsets are relative to the source pixel.
    """
    length = torch.maximum(dy.abs(), dx.abs()).clamp_min(1)
    x_major = dx.abs() >= dy.abs()
    # Integer floor division keeps the split into floor and remainder exact (no float rounding).
    num_y, num_x = step * dy, step * dx
    floor_y = torch.div(num_y, length, rounding_mode="floor")
    floor_x = torch.div(num_x, length, rounding_mode="floor")
    remainder = torch.where(x_major, num_y - floor_y * length, num_x - floor_x * length)
    upper_weight = remainder.to(dtype or torch.get_default_dtype()) / length
    upper_dy = floor_y + x_major.long()
    upper_dx = floor_x + (~x_major).long()
    return floor_y, floor_x, upper_dy, upper_dx, upper_weight


def _half_displacements_by_length(
    height: int, width: int, device: torch.device
) -> tuple[Tensor, Tensor, Tensor]:
    """One displacement of every +/- pair with at least one interior sample (L >= 2), sorted by L.

    D is symmetric: the segment from j to i visits the same sample points (step L - t instead of t, the
    same rational position, hence bitwise the same interpolation), so half of the displacements suffice.
    """
    dy, dx = torch.meshgrid(
        torch.arange(0, height, device=device),
        torch.arange(-(width - 1), width, device=device),
        indexing="ij",
    )
    dy, dx = dy.reshape(-1), dx.reshape(-1)
    length = torch.maximum(dy.abs(), dx.abs())
    keep = (length >= 2) & ((dy > 0) | (dx > 0))
    dy, dx, length = dy[keep], dx[keep], length[keep]
    order = torch.argsort(length, stable=True)
    return dy[order], dx[order], length[order]


def _pair_chunks(height: int, width: int, batch: int, chunk_elements: int, device: torch.device):
    """Yield (source, target, dy, dx, length) of all pairs i < j (raster) with L >= 2, in blocks.

    Blocks hold displacements of similar length, sized so that pairs x padded steps x batch stays within
    ``chunk_elements`` (at least one displacement per block).
    """
    all_dy, all_dx, all_length = _half_displacements_by_length(height, width, device)
    pairs = (height - all_dy.abs()) * (width - all_dx.abs())
    src_y, src_x = torch.meshgrid(
        torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij"
    )
    src_y, src_x = src_y.reshape(1, -1), src_x.reshape(1, -1)
    start = 0
    while start < all_length.numel():
        block = (pairs[start:].cumsum(0) * (all_length[start:] - 1)) * batch
        stop = start + max(1, int((block <= chunk_elements).sum()))
        dy, dx = all_dy[start:stop].view(-1, 1), all_dx[start:stop].view(-1, 1)
        tgt_y, tgt_x = src_y + dy, src_x + dx
        valid = (tgt_y >= 0) & (tgt_y < height) & (tgt_x >= 0) & (tgt_x < width)
        disp_index, source = valid.nonzero(as_tuple=True)
        pair_dy, pair_dx = all_dy[start:stop][disp_index], all_dx[start:stop][disp_index]
        target = source + pair_dy * width + pair_dx
        yield source, target, pair_dy, pair_dx, all_length[start:stop][disp_index]
        start = stop


def _sample_indices(source: Tensor, dy: Tensor, dx: Tensor, step: Tensor, height: int, width: int, dtype):
    """Flat indices of the two interpolation neighbours and the upper weight for each (pair, step)."""
    src_y, src_x = (source // width).unsqueeze(-1), (source % width).unsqueeze(-1)
    lo_dy, lo_dx, up_dy, up_dx, upper_weight = segment_sample_geometry(
        dy.unsqueeze(-1), dx.unsqueeze(-1), step, dtype
    )
    # Padded steps (t >= L) may leave the map; they are masked, clamping only keeps the reads legal.
    lo_index = (src_y + lo_dy).clamp(0, height - 1) * width + (src_x + lo_dx).clamp(0, width - 1)
    up_index = (src_y + up_dy).clamp(0, height - 1) * width + (src_x + up_dx).clamp(0, width - 1)
    return lo_index, up_index, upper_weight


def _boundary_max_forward(
    boundary: Tensor, chunk_elements: int, keep_argmax: bool
) -> tuple[Tensor, Tensor | None]:
    batch, height, width = boundary.shape
    num_pixels = height * width
    device = boundary.device
    flat_boundary = boundary.reshape(batch, num_pixels)
    table = boundary.new_zeros(batch, num_pixels * num_pixels)
    argmax_step = (
        torch.zeros(batch, num_pixels * num_pixels, dtype=torch.int16, device=device) if keep_argmax else None
    )
    for source, target, dy, dx, length in _pair_chunks(height, width, batch, chunk_elements, device):
        step = torch.arange(1, int(length.max()), device=device).view(1, -1)
        lo_index, up_index, upper_weight = _sample_indices(
            source, dy, dx, step, height, width, boundary.dtype
        )
        samples = torch.lerp(flat_boundary[:, lo_index], flat_boundary[:, up_index], upper_weight)
        # Pairs shorter than the block's longest have padded steps that must never win the max.
        samples = samples.masked_fill((step >= length.unsqueeze(-1)).unsqueeze(0), float("-inf"))
        best, best_step = samples.max(dim=2)  # (batch, pairs)
        forward_index, backward_index = source * num_pixels + target, target * num_pixels + source
        value = best.clamp_min(0)
        table[:, forward_index] = value
        table[:, backward_index] = value
        if argmax_step is not None:
            # Step 0 marks "no gradient" (a negative maximum was clipped to 0); from j the step is L - t.
            has_grad = best >= 0
            argmax_step[:, forward_index] = torch.where(has_grad, best_step + 1, 0).to(torch.int16)
            argmax_step[:, backward_index] = torch.where(has_grad, length - 1 - best_step, 0).to(torch.int16)
    table = table.view(batch, num_pixels, num_pixels)
    if argmax_step is not None:
        argmax_step = argmax_step.view(batch, num_pixels, num_pixels)
    return table, argmax_step


def _boundary_max_backward(
    grad_table: Tensor, argmax_step: Tensor, height: int, width: int, chunk_elements: int
) -> Tensor:
    batch, num_pixels, _ = grad_table.shape
    device = grad_table.device
    grad_boundary = grad_table.new_zeros(batch, num_pixels)
    flat_grad = grad_table.reshape(batch, -1)
    flat_step = argmax_step.reshape(batch, -1)
    # The pair (j, i) reads the same sample as (i, j), so both upstream gradients travel together.
    for source, target, dy, dx, _ in _pair_chunks(height, width, batch, chunk_elements * 4, device):
        forward_index, backward_index = source * num_pixels + target, target * num_pixels + source
        grad = flat_grad[:, forward_index] + flat_grad[:, backward_index]
        step = flat_step[:, forward_index].long()
        lo_index, up_index, upper_weight = _sample_indices(
            source.unsqueeze(0),
            dy.unsqueeze(0),
            dx.unsqueeze(0),
            step.unsqueeze(-1),
            height,
            width,
            grad.dtype,
        )
        lo_index, up_index, upper_weight = (
            lo_index.squeeze(-1),
            up_index.squeeze(-1),
            upper_weight.squeeze(-1),
        )
        grad = grad * (step > 0)
        grad_boundary.scatter_add_(1, lo_index.expand_as(grad), grad * (1 - upper_weight))
        grad_boundary.scatter_add_(1, up_index.expand_as(grad), grad * upper_weight)
    return grad_boundary.view(batch, height, width)


class BoundaryMaxTable(torch.autograd.Function):
    """Autograd function behind :func:`boundary_max_table` (stores only the arg-max step per pair)."""

    @staticmethod
    def forward(ctx, boundary: Tensor, chunk_elements: int) -> Tensor:  # type: ignore[override]
        keep_argmax = ctx.needs_input_grad[0]
        table, argmax_step = _boundary_max_forward(boundary, chunk_elements, keep_argmax)
        if keep_argmax:
            ctx.save_for_backward(argmax_step)
        ctx.map_size = tuple(boundary.shape[1:])
        ctx.chunk_elements = chunk_elements
        return table

    @staticmethod
    def backward(ctx, grad_table: Tensor) -> tuple[Tensor | None, None]:  # type: ignore[override]
        if not ctx.needs_input_grad[0]:
            return None, None
        (argmax_step,) = ctx.saved_tensors
        height, width = ctx.map_size
        grad = _boundary_max_backward(grad_table.contiguous(), argmax_step, height, width, ctx.chunk_elements)
        return grad, None


def boundary_max_table(boundary: Tensor, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS) -> Tensor:
    """Pairwise boundary term D of RANet with the released code's segment sampling.

    Args:
        boundary (Tensor): Boundary probabilities, shape (B, H, W).
        chunk_elements (int): Upper bound on the number of samples evaluated at once (memory knob).
            Defaults to 2**22.

    Returns:
        Tensor: D with shape (B, H*W, H*W), pixels in raster order; ``D[b, i, j]`` is the largest
        interpolated boundary probability strictly between pixel i and pixel j.
    """
    if boundary.dim() != 3:
        raise ValueError(f"boundary must have shape (B, H, W), got {tuple(boundary.shape)}")
    if chunk_elements < 1:
        raise ValueError(f"chunk_elements must be >= 1, got {chunk_elements}")
    if max(boundary.shape[1:]) > torch.iinfo(torch.int16).max:
        raise ValueError(f"boundary map too large for int16 arg-max steps: {tuple(boundary.shape)}")
    return BoundaryMaxTable.apply(boundary, chunk_elements)
