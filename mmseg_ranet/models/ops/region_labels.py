"""Region decision G and region labelling of RANet's Region Construction Block, with tensor ops only."""

from __future__ import annotations

import torch
from torch import Tensor

#: ``average_linkage`` works on the margins, not on G (``region_linkage``); ``region_labels`` refuses it.
REGION_RULES = ("components", "greedy", "average_linkage")
DEFAULT_CHUNK_ELEMENTS = 1 << 24


def _check_adjacency(adjacency: Tensor) -> None:
    if adjacency.dim() != 3 or adjacency.shape[1] != adjacency.shape[2] or adjacency.dtype != torch.bool:
        raise ValueError(
            f"adjacency must be a bool tensor of shape (B, N, N), got {adjacency.dtype} {tuple(adjacency.shape)}"
        )


def _other_tree_min(adjacency: Tensor, root: Tensor, chunk_elements: int) -> Tensor:
    """For every pixel i, the smallest root label of a neighbour j in another tree (N where none)."""
    batch, num_pixels, _ = adjacency.shape
    rows = max(1, chunk_elements // max(1, batch * num_pixels))
    columns = root.unsqueeze(1)
    blocks = []
    for start in range(0, num_pixels, rows):
        block = adjacency[:, start : start + rows] & (columns != root[:, start : start + rows].unsqueeze(2))
        blocks.append(torch.where(block, columns, num_pixels).amin(dim=2))
    return torch.cat(blocks, dim=1)


def _jump(parent: Tensor, jumps: int) -> Tensor:
    for _ in range(jumps):
        parent = parent.gather(1, parent)
    return parent


@torch.no_grad()
def connected_component_roots(adjacency: Tensor, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS) -> Tensor:
    """Smallest pixel index of each pixel's connected component in the undirected graph ``adjacency``.

    Boruvka-style tree hooking, a fixed number of rounds that depends on N only (no convergence test,
    so no host sync): pixels start as one tree each; in every round each tree hooks onto the adjacent tree
    with the smallest root label (for a tree that is the lightest incident edge under the edge weight
    (min root, max root), so the hooks form a forest in which only mutual pairs close a cycle: the
    smaller root of a mutual pair stays a root). Every tree with a neighbour thus merges with at least one
    other, the trees of a component at least halve per round, and ceil(log2 N) rounds join every
    component; pointer jumping (log2 N + 1 gathers) flattens the hooks after each round. Each round is one
    pass over the adjacency in row blocks. The root of each tree is finally replaced by its smallest pixel.

    Args:
        adjacency (Tensor): Symmetric bool tensor (B, N, N).
        chunk_elements (int): Memory knob (rows processed at once). Defaults to 2**24.

    Returns:
        Tensor: int64 (B, N) root pixel index per pixel.
    """
    _check_adjacency(adjacency)
    batch, num_pixels, _ = adjacency.shape
    index = torch.arange(num_pixels, device=adjacency.device).expand(batch, num_pixels)
    root = index.clone()
    jumps = max(1, num_pixels.bit_length())  # 2**jumps > N: flattens any hook chain
    for _ in range(max(1, (num_pixels - 1).bit_length())):  # ceil(log2 N) rounds
        candidate = _other_tree_min(adjacency, root, chunk_elements)
        partner = torch.full_like(root, num_pixels).scatter_reduce(
            1, root, candidate, reduce="amin", include_self=True
        )
        hooked = partner < num_pixels
        mutual = partner.gather(1, partner.clamp_max(num_pixels - 1)) == index
        hooked = hooked & ~(mutual & (index < partner))
        parent = torch.where((root == index) & hooked, partner, root)
        root = _jump(parent, jumps)
    smallest = torch.full_like(root, num_pixels).scatter_reduce(
        1, root, index, reduce="amin", include_self=True
    )
    return smallest.gather(1, root)


@torch.no_grad()
def greedy_pointer_roots(adjacency: Tensor) -> Tensor:
    """Released-code regions: parent(i) = smallest j <= i with G_ij, then pointer jumping to the root.

    The partition is greedy (a region may be spatially split and two linked pixels may end in different
    regions). A pixel is always linked to itself, so every pixel has a parent.

    Args:
        adjacency (Tensor): Bool tensor (B, N, N).

    Returns:
        Tensor: int64 (B, N) root pixel index per pixel.
    """
    _check_adjacency(adjacency)
    batch, num_pixels, _ = adjacency.shape
    index = torch.arange(num_pixels, device=adjacency.device)
    linked_before = adjacency & (index.view(1, -1) <= index.view(-1, 1)).unsqueeze(0)
    linked_before = linked_before | torch.eye(num_pixels, dtype=torch.bool, device=adjacency.device)
    # argmax returns the first maximal entry: the smallest linked raster index.
    parent = linked_before.to(torch.uint8).argmax(dim=2)
    return jump_to_roots(parent)


@torch.no_grad()
def jump_to_roots(parent: Tensor) -> Tensor:
    """Follow parent pointers with parent(i) <= i to their roots by pointer jumping, (B, N) -> (B, N).

    The chains strictly decrease, so log2(N) + 1 jumps reach the roots; all of them are made (a fixed
    number, no convergence test: no host sync).
    """
    return _jump(parent, max(1, parent.shape[1].bit_length() + 1))


def compact_region_labels(roots: Tensor) -> tuple[Tensor, Tensor]:
    """Turn root pixel indices into region ids 0 .. Q_b - 1 (ordered by root index).

    Args:
        roots (Tensor): int64 (B, N) with ``roots[b, roots[b, i]] == roots[b, i]``.

    Returns:
        tuple[Tensor, Tensor]: region ids (B, N) int64 and the number of regions per image (B,).
    """
    batch, num_pixels = roots.shape
    is_root = roots == torch.arange(num_pixels, device=roots.device).view(1, -1)
    region_of_root = is_root.long().cumsum(dim=1) - 1
    return region_of_root.gather(1, roots), is_root.sum(dim=1)


def region_labels(adjacency: Tensor, rule: str = "components") -> tuple[Tensor, Tensor]:
    """Regions R_q from the region decision G.

    Args:
        adjacency (Tensor): Bool region decision G, shape (B, N, N).
        rule (str): ``'components'`` (connected components of G) or ``'greedy'`` (released code's
            smallest-linked-index pointer jumping). Defaults to ``'components'``.

    Returns:
        tuple[Tensor, Tensor]: region ids (B, N) and region counts (B,).
    """
    if rule == "components":
        roots = connected_component_roots(adjacency)
    elif rule == "greedy":
        roots = greedy_pointer_roots(adjacency)
    elif rule == "average_linkage":
        raise ValueError(
            "region_rule='average_linkage' clusters the decision margins, not the bool G: use "
            "ops.region_linkage.average_linkage_labels"
        )
    else:
        raise ValueError(f"region_rule must be one of {REGION_RULES}, got {rule!r}")
    return compact_region_labels(roots)
