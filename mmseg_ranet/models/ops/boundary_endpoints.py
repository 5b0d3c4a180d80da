"""Boundary term with its end points: D'_ij = max(D_ij, b_i, b_j).

The released sampling of D (``boundary_max_table``) leaves out the two end pixels of the segment, so D is
0 between 8-neighbours and a cell lying on an outline is linked to the cells on both sides of it. Counting
the end points closes that gap: a pair with a boundary cell at either end gets that cell's boundary
probability. The maximum with the end points is elementwise, so it is applied to D as computed by any
implementation (PyTorch, displacement-grouped or compiled) and to streamed row blocks of it.

Gradient routing, as in max pooling: an entry reached by an end point sends its gradient to that end point
(to b_i before b_j when both are equal, e.g. on the diagonal), otherwise to D and through D's own backward
to its arg-max sample. Only the boundary map and the output are kept for the backward pass.
"""

from __future__ import annotations

import torch
from torch import Tensor


def endpoint_rows(boundary_rows: Tensor, boundary: Tensor) -> Tensor:
    """max(b_i, b_j) for the pixels i of ``boundary_rows`` (..., n) and all pixels j of ``boundary`` (..., N)."""
    return torch.maximum(boundary_rows.unsqueeze(-1), boundary.unsqueeze(-2))


def endpoint_routes(value: Tensor, boundary_rows: Tensor, boundary: Tensor) -> tuple[Tensor, Tensor]:
    """Masks of the entries of D' = ``value`` (..., n, N) whose gradient goes to b_i and to b_j.

    The remaining entries send their gradient to D.
    """
    to_row = value == boundary_rows.unsqueeze(-1)
    to_column = (value == boundary.unsqueeze(-2)) & ~to_row
    return to_row, to_column


def endpoint_backward(
    grad: Tensor, value: Tensor, boundary_rows: Tensor, boundary: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Split the gradient of D' rows (..., n, N) into the parts for D, for b of the rows and for all b.

    Returns:
        tuple: gradient of D (..., n, N), of ``boundary_rows`` (..., n) and of ``boundary`` (..., N).
    """
    to_row, to_column = endpoint_routes(value, boundary_rows, boundary)
    zero = grad.new_zeros(())
    grad_rows = torch.where(to_row, grad, zero).sum(-1)
    grad_columns = torch.where(to_column, grad, zero).sum(-2)
    return torch.where(to_row | to_column, zero, grad), grad_rows, grad_columns


class BoundaryEndpointMax(torch.autograd.Function):
    """(D (B, N, N), b (B, N)) -> max(D_ij, b_i, b_j), with the gradient routing of the module docstring."""

    @staticmethod
    def forward(ctx, table: Tensor, boundary: Tensor) -> Tensor:  # type: ignore[override]
        value = torch.maximum(table, endpoint_rows(boundary, boundary))
        ctx.save_for_backward(value, boundary)
        return value

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        value, boundary = ctx.saved_tensors
        grad_table, grad_rows, grad_columns = endpoint_backward(grad, value, boundary, boundary)
        return grad_table, grad_rows + grad_columns


def with_endpoints(table: Tensor, boundary: Tensor) -> Tensor:
    """D'_ij = max(D_ij, b_i, b_j) for a D table (B, N, N) and its boundary map (B, H, W) or (B, N).

    Args:
        table (Tensor): D from ``boundary_max_table``, shape (B, N, N).
        boundary (Tensor): The boundary probabilities D was computed from.

    Returns:
        Tensor: D' with shape (B, N, N).
    """
    flat = boundary.reshape(boundary.shape[0], -1)
    if table.dim() != 3 or table.shape[0] != flat.shape[0] or table.shape[1:] != (flat.shape[1],) * 2:
        raise ValueError(
            f"boundary table {tuple(table.shape)} does not match the boundary map {tuple(boundary.shape)}"
        )
    return BoundaryEndpointMax.apply(table, flat)


@torch.no_grad()
def add_endpoints_(table: Tensor, boundary: Tensor, row_blocks) -> Tensor:
    """In place, without autograd: D (N, N) of one image becomes D' row block by row block.

    Args:
        table (Tensor): D of one image (N, N), overwritten.
        boundary (Tensor): Boundary probabilities of the image, (N,).
        row_blocks: Iterable of (start, stop) row ranges covering the table.
    """
    for start, stop in row_blocks:
        torch.maximum(table[start:stop], endpoint_rows(boundary[start:stop], boundary), out=table[start:stop])
    return table
