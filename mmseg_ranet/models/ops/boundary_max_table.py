"""Boundary term D of RANet's Region Construction Block.

D_ij is the largest boundary probability met on the straight segment from pixel i to pixel j, with the
sampling of the authors' released code: for d = p_j - p_i and
L = max(|dx|, |dy|), the samples are p_i + t * d / L for t = 1 .. L - 1 (endpoints excluded). The
major-axis coordinate of a sample is an integer; along the minor axis the boundary map is linearly
interpolated between the two neighbouring pixels. D_ij = max(0, max_t sample), so D_ii = 0 and D is 0
between 8-neighbours. The gradient of D_ij reaches the two interpolation neighbours of its arg-max sample,
weighted by their interpolation weights, as in max pooling.

Pairs with the same displacement share all their sample offsets, so D is evaluated for blocks of
displacements of similar length at once, over all source pixels for which the target lies in the map
(exact, no per-pair Python loop). The blocks are planned on the host from the map size alone and built
on the tensor's device from index arithmetic, so the operator never waits for the device (no host sync):
it is the operator that runs on accelerators, as a few dozen batched blocks per image. D is symmetric, so only half of the displacements are evaluated. Only the
arg-max step of every pair is kept for the backward pass instead of the autograd graph of all samples,
and only when a backward can follow (grad mode on and the map requiring grad).
On exact ties both directions of a pair route their gradient to the first maximal sample counted from the
raster-earlier pixel.

``impl='auto'`` (default) uses the compiled operator (``mmseg_ranet/csrc``, the same semantics bit for bit,
about 100-200x faster at 97x97) when it is available for the input, and this pure-PyTorch operator
otherwise; ``impl='torch'`` and ``impl='compiled'`` force one of them.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
from torch import Tensor

from ._compiled import IMPLS
from .boundary_endpoints import with_endpoints

# Samples (batch x pairs x padded steps) evaluated at once; bounds the peak memory of a block.
DEFAULT_CHUNK_ELEMENTS = 1 << 22
DEVICE_CHUNK_ELEMENTS = 1 << 26


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


def _half_displacement_order(height: int, width: int) -> tuple[list[int], list[int], list[int]]:
    """One displacement of every +/- pair with at least one interior sample (L >= 2), sorted by L.

    D is symmetric: the segment from j to i visits the same sample points (step L - t instead of t, the
    same rational position, hence bitwise the same interpolation), so half of the displacements suffice.
    Computed on the host from the map size alone, as plain Python integers (dy, dx, L).
    """
    kept = [
        (max(abs(dy), abs(dx)), dy, dx)
        for dy in range(height)
        for dx in range(-(width - 1), width)
        if max(abs(dy), abs(dx)) >= 2 and (dy > 0 or dx > 0)
    ]
    # By length, then by decreasing number of valid sources (blocks pad their sources to the largest),
    # then in raster order of (dy, dx) (the sort is stable).
    kept.sort(key=lambda item: (item[0], -(height - item[1]) * (width - abs(item[2]))))
    return [dy for _, dy, _ in kept], [dx for _, _, dx in kept], [length for length, _, _ in kept]


class _BlockPlan(NamedTuple):
    """Host-side description of one block: displacements [start, stop), sources and padded steps."""

    start: int
    stop: int
    sources: int  # largest number of valid sources of a displacement of the block (padded to it)
    steps: int  # largest L - 1 of the block (samples are padded to it)


@functools.lru_cache(maxsize=16)
def _block_plans(
    height: int, width: int, batch: int, chunk_elements: int
) -> tuple[tuple, tuple[_BlockPlan, ...]]:
    """The displacements (dy, dx, L lists) and their split into blocks, from the map size alone.

    Blocks are sized so that batch x displacements x padded sources x padded steps stays within
    ``chunk_elements`` (at least one displacement per block). Nothing here reads a tensor, so planning
    never waits for a device.
    """
    all_dy, all_dx, all_length = _half_displacement_order(height, width)
    sources = [(height - dy) * (width - abs(dx)) for dy, dx in zip(all_dy, all_dx)]
    plans = []
    start = 0
    while start < len(all_length):
        stop, most = start, 0
        while stop < len(all_length):
            grown = (stop + 1 - start) * max(most, sources[stop]) * (all_length[stop] - 1) * batch
            if grown > chunk_elements and stop > start:
                break
            most = max(most, sources[stop])
            stop += 1
        plans.append(_BlockPlan(start, stop, most, all_length[stop - 1] - 1))
        start = stop
    return (tuple(all_dy), tuple(all_dx), tuple(all_length)), tuple(plans)


class _Block(NamedTuple):
    """The pairs of one block as a (displacement, source) grid, and the sample offsets of its steps.

    Sources past a displacement's count repeat its last valid pair (reads stay legal, writes of the
    same value to the same entry are harmless) and are marked invalid for the backward pass. Offsets are
    into the neighbour-pair buffer of :func:`_neighbour_pairs`; the steps past a displacement's L point
    at sentinels, whose samples never win the maximum.
    """

    source: Tensor  # (D, S) raster index of i
    target: Tensor  # (D, S) raster index of j
    valid: Tensor  # (D, S) bool, False for padded sources
    padded_source: Tensor  # (D, S) index of i in the padded map
    lower_offset: Tensor  # (D, T + 1) offset of step t's neighbour pair (column 0 unused)
    upper_weight: Tensor  # (D, T + 1) interpolation weight of the upper neighbour
    half: Tensor  # (D, 1) start of the displacement's half of the pair buffer (0: x-major, else y-major)
    upper_delta: Tensor  # (D, 1) upper neighbour minus lower neighbour in the padded map
    length: Tensor  # (D,) L of each displacement


def _padded_size(height: int, width: int) -> int:
    """Entries of the padded map: b with a zero row below and a zero column to the right (the upper
    neighbour of a zero-weight sample may lie there), followed by as many sentinel entries."""
    return 2 * (height + 1) * (width + 1)


def _neighbour_pairs(flat_boundary: Tensor, height: int, width: int) -> Tensor:
    """(B, 2 P, 2) buffer of the padded map's (lower, upper) interpolation pairs, P = ``_padded_size``.

    Entry e < P holds (b[e], b[e + W + 1]), the pair of an x-major sample (the upper neighbour is one
    row down); entry P + e holds (b[e], b[e + 1]), that of a y-major sample. Sentinel entries hold -max,
    so a padded step's sample is -max. One index per sample then reads both neighbours.
    """
    batch = flat_boundary.shape[0]
    size = _padded_size(height, width)
    lowest = -torch.finfo(flat_boundary.dtype).max
    padded = flat_boundary.new_full((batch, size + width + 1), lowest)
    padded[:, : size // 2].view(batch, height + 1, width + 1).zero_()[:, :height, :width] = (
        flat_boundary.view(batch, height, width)
    )
    base = padded[:, :size]
    x_major = torch.stack([base, padded[:, width + 1 : size + width + 1]], dim=2)
    y_major = torch.stack([base, padded[:, 1 : size + 1]], dim=2)
    return torch.cat([x_major, y_major], dim=1)


def _blocks(height: int, width: int, batch: int, chunk_elements: int, device: torch.device, dtype):
    """Yield all pairs i < j (raster order) with L >= 2 in blocks of displacements of similar length.

    The split into blocks is planned on the host from the map size (``_block_plans``); every tensor of a
    block is built on ``device`` from ``arange`` arithmetic, so no host sync and no host-to-device copy
    happens. The sources of one displacement are a rectangle of the map, enumerated in raster order; a
    sample's index in the pair buffer is the source's plus a per-(displacement, step) offset, so a block
    reads its samples through one broadcast sum of a (D, S) and a (D, T) table and one gather.
    """
    (_, _, lengths), plans = _block_plans(height, width, batch, chunk_elements)
    if not plans:
        return
    # The host plan's order, built on the device: by L, then by decreasing source count, then raster order.
    grid_dy, grid_dx = torch.meshgrid(
        torch.arange(0, height, device=device),
        torch.arange(-(width - 1), width, device=device),
        indexing="ij",
    )
    grid_dy, grid_dx = grid_dy.reshape(-1), grid_dx.reshape(-1)
    grid_length = torch.maximum(grid_dy.abs(), grid_dx.abs())
    # Displacements left out (L < 2 or the mirrored half) sort last: their key is past every length.
    kept = (grid_length >= 2) & ((grid_dy > 0) | (grid_dx > 0))
    num_pixels = height * width
    key = grid_length * (num_pixels + 1) + num_pixels - (height - grid_dy) * (width - grid_dx.abs())
    order = torch.argsort(torch.where(kept, key, (height + width) * (num_pixels + 1)), stable=True)
    order = order[: len(lengths)]
    all_dy, all_dx, all_length = grid_dy[order], grid_dx[order], grid_length[order]
    padded_width = width + 1
    size = _padded_size(height, width)
    sentinel = size // 2
    for plan in plans:
        dy = all_dy[plan.start : plan.stop].view(-1, 1)
        dx = all_dx[plan.start : plan.stop].view(-1, 1)
        length = all_length[plan.start : plan.stop]
        rect_width = width - dx.abs()
        count = (height - dy) * rect_width
        local = torch.arange(plan.sources, device=device).view(1, -1)
        valid = local < count
        local = torch.minimum(local, count - 1)
        src_y = torch.div(local, rect_width, rounding_mode="floor")
        src_x = local - src_y * rect_width + (-dx).clamp_min(0)
        source = src_y * width + src_x
        step = torch.arange(0, plan.steps + 1, device=device).view(1, -1)
        lo_dy, lo_dx, _, _, upper_weight = segment_sample_geometry(dy, dx, step, dtype)
        beyond = step >= length.view(-1, 1)
        x_major = dx.abs() >= dy.abs()
        half = torch.where(x_major, 0, size)
        yield _Block(
            source=source,
            target=source + dy * width + dx,
            valid=valid,
            padded_source=src_y * padded_width + src_x,
            lower_offset=torch.where(beyond, sentinel, lo_dy * padded_width + lo_dx) + half,
            upper_weight=torch.where(beyond, 0, upper_weight),
            half=half,
            upper_delta=torch.where(x_major, padded_width, 1),
            length=length,
        )


def _boundary_max_forward(
    boundary: Tensor, chunk_elements: int, keep_argmax: bool
) -> tuple[Tensor, Tensor | None]:
    batch, height, width = boundary.shape
    num_pixels = height * width
    device = boundary.device
    pairs = _neighbour_pairs(boundary.reshape(batch, num_pixels), height, width)
    # Allocated in their final shape and written through flat views, so the returned tables are not views
    # (callers may reuse the storage of D in place).
    table = boundary.new_zeros(batch, num_pixels, num_pixels)
    argmax_step = (
        torch.zeros(batch, num_pixels, num_pixels, dtype=torch.int16, device=device) if keep_argmax else None
    )
    flat_table = table.view(batch, -1)
    flat_step = argmax_step.view(batch, -1) if argmax_step is not None else None
    for block in _blocks(height, width, batch, chunk_elements, device, boundary.dtype):
        # Steps 1 .. T of the block for every (displacement, source): (D, S, T) samples.
        index = block.padded_source.unsqueeze(2) + block.lower_offset[:, None, 1:]
        read = pairs.index_select(1, index.view(-1)).view(batch, *index.shape, 2)
        samples = torch.lerp(read[..., 0], read[..., 1], block.upper_weight[:, None, 1:])
        best, best_step = samples.max(dim=3)  # (batch, D, S)
        forward_index = (block.source * num_pixels + block.target).view(-1)
        backward_index = (block.target * num_pixels + block.source).view(-1)
        value = best.clamp_min(0).view(batch, -1)
        flat_table[:, forward_index] = value
        flat_table[:, backward_index] = value
        if flat_step is not None:
            # Step 0 marks "no gradient" (a negative maximum was clipped to 0); from j the step is L - t.
            has_grad = best >= 0
            forward_step = torch.where(has_grad, best_step + 1, 0)
            backward_step = torch.where(has_grad, block.length.view(-1, 1) - 1 - best_step, 0)
            flat_step[:, forward_index] = forward_step.to(torch.int16).view(batch, -1)
            flat_step[:, backward_index] = backward_step.to(torch.int16).view(batch, -1)
    return table, argmax_step


def _boundary_max_backward(
    grad_table: Tensor, argmax_step: Tensor, height: int, width: int, chunk_elements: int
) -> Tensor:
    batch, num_pixels, _ = grad_table.shape
    device = grad_table.device
    grad_padded = grad_table.new_zeros(batch, _padded_size(height, width))
    flat_grad = grad_table.reshape(batch, -1)
    flat_step = argmax_step.reshape(batch, -1)
    # The pair (j, i) reads the same sample as (i, j), so both upstream gradients travel together.
    for block in _blocks(height, width, batch, chunk_elements * 4, device, grad_table.dtype):
        rows = block.lower_offset.shape[0]
        forward_index = (block.source * num_pixels + block.target).view(-1)
        backward_index = (block.target * num_pixels + block.source).view(-1)
        grad = (flat_grad[:, forward_index] + flat_grad[:, backward_index]).view(batch, rows, -1)
        step = flat_step[:, forward_index].long().view(batch, rows, -1)
        # (D, batch x S) steps, to look up the (D, T + 1) tables row by row.
        step_rows = step.transpose(0, 1).reshape(rows, -1)
        lower = block.lower_offset.gather(1, step_rows).view(rows, batch, -1).transpose(0, 1)
        lower = block.padded_source + lower - block.half
        upper = lower + block.upper_delta
        weight = block.upper_weight.gather(1, step_rows).view(rows, batch, -1).transpose(0, 1)
        # Padded sources repeat a valid pair and step 0 has no gradient: neither passes one.
        grad = torch.where((step > 0) & block.valid, grad, grad.new_zeros(()))
        grad_padded.scatter_add_(1, lower.reshape(batch, -1), (grad * (1 - weight)).reshape(batch, -1))
        grad_padded.scatter_add_(1, upper.reshape(batch, -1), (grad * weight).reshape(batch, -1))
    grad_map = grad_padded[:, : (height + 1) * (width + 1)].view(batch, height + 1, width + 1)
    return grad_map[:, :height, :width].contiguous()


class BoundaryMaxTable(torch.autograd.Function):
    """Autograd function behind :func:`boundary_max_table` (stores only the arg-max step per pair)."""

    @staticmethod
    def forward(ctx, boundary: Tensor, chunk_elements: int, keep_argmax: bool) -> Tensor:  # type: ignore[override]
        # ``keep_argmax`` is decided by the caller: inside forward grad mode is always off, so only the
        # caller knows whether a backward can follow (no N x N step table in a no-grad forward).
        table, argmax_step = _boundary_max_forward(boundary, chunk_elements, keep_argmax)
        if keep_argmax:
            ctx.save_for_backward(argmax_step)
        ctx.map_size = tuple(boundary.shape[1:])
        ctx.chunk_elements = chunk_elements
        return table

    @staticmethod
    def backward(ctx, grad_table: Tensor) -> tuple[Tensor | None, None, None]:  # type: ignore[override]
        if not ctx.needs_input_grad[0]:
            return None, None, None
        (argmax_step,) = ctx.saved_tensors
        height, width = ctx.map_size
        grad = _boundary_max_backward(grad_table.contiguous(), argmax_step, height, width, ctx.chunk_elements)
        return grad, None, None


BOUNDARY_IMPLS = IMPLS


def default_chunk_elements(device: torch.device) -> int:
    """Samples per block of the PyTorch operator on ``device``: 2**22 on the CPU, 2**26 on an accelerator
    (a few GB of temporaries per block, and a few dozen blocks for a 97x97 map instead of hundreds)."""
    return DEFAULT_CHUNK_ELEMENTS if torch.device(device).type == "cpu" else DEVICE_CHUNK_ELEMENTS


def boundary_max_table(
    boundary: Tensor,
    chunk_elements: int | None = None,
    impl: str = "auto",
    endpoints: bool = False,
) -> Tensor:
    """Pairwise boundary term D of RANet with the released code's segment sampling.

    Args:
        boundary (Tensor): Boundary probabilities, shape (B, H, W).
        chunk_elements (int, optional): Upper bound on the number of samples evaluated at once by the
            PyTorch operator (memory knob). Defaults to :func:`default_chunk_elements` of the device.
        impl (str): ``'auto'`` (the compiled operator when available for this input, else PyTorch),
            ``'compiled'`` or ``'torch'``.
        endpoints (bool): Count the two end pixels too: D'_ij = max(D_ij, b_i, b_j) (see
            ``boundary_endpoints``). Defaults to False (the released sampling).

    Returns:
        Tensor: D with shape (B, H*W, H*W), pixels in raster order; ``D[b, i, j]`` is the largest
        interpolated boundary probability strictly between pixel i and pixel j (or on the closed segment
        with ``endpoints=True``).
    """
    if boundary.dim() != 3:
        raise ValueError(f"boundary must have shape (B, H, W), got {tuple(boundary.shape)}")
    if chunk_elements is None:
        chunk_elements = default_chunk_elements(boundary.device)
    if chunk_elements < 1:
        raise ValueError(f"chunk_elements must be >= 1, got {chunk_elements}")
    from ._compiled import boundary_max_table_compiled, use_compiled

    if use_compiled(boundary, impl):
        table = boundary_max_table_compiled(boundary)
    else:
        if max(boundary.shape[1:]) > torch.iinfo(torch.int16).max:
            raise ValueError(f"boundary map too large for int16 arg-max steps: {tuple(boundary.shape)}")
        keep_argmax = torch.is_grad_enabled() and boundary.requires_grad
        table = BoundaryMaxTable.apply(boundary, chunk_elements, keep_argmax)
    return with_endpoints(table, boundary) if endpoints else table
