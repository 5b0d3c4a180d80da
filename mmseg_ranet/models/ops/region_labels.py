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


def _neighbour_min(adjacency: Tensor, labels: Tensor, chunk_elements: int) -> Tensor:
    batch, num_pixels, _ = adjacency.shape
    rows = max(1, chunk_elements // max(1, batch * num_pixels))
    blocks = []
    for start in range(0, num_pixels, rows):
        block = adjacency[:, start : start + rows]
        candidate = torch.where(block, labels.unsqueeze(1), num_pixels)
        blocks.append(candidate.amin(dim=2))
    return torch.cat(blocks, dim=1)


@torch.no_grad()
def connected_component_roots(adjacency: Tensor, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS) -> Tensor:
    """Smallest pixel index of each pixel's connected component in the undirected graph ``adjacency``.

    Min-label propagation over the neighbours interleaved with pointer jumping (a label is always the
    index of a pixel of the same component and never larger than its holder, so ``label[label]`` is a
    valid shortcut). Each round either changes a label or proves the fixed point; the graph diameter
    (< N) bounds the number of rounds.

    Args:
        adjacency (Tensor): Symmetric bool tensor (B, N, N).
        chunk_elements (int): Memory knob (rows processed at once). Defaults to 2**24.

    Returns:
        Tensor: int64 (B, N) root pixel index per pixel.
    """
    _check_adjacency(adjacency)
    batch, num_pixels, _ = adjacency.shape
    labels = torch.arange(num_pixels, device=adjacency.device).expand(batch, num_pixels).clone()
    labels_dtype = torch.int32 if num_pixels < 2**31 - 1 else torch.int64
    labels = labels.to(labels_dtype)
    for _ in range(num_pixels + 1):
        updated = torch.minimum(labels, _neighbour_min(adjacency, labels, chunk_elements).to(labels_dtype))
        updated = updated.gather(1, updated.long())
        if torch.equal(updated, labels):
            return labels.long()
        labels = updated
    raise RuntimeError("connected_component_roots did not converge; adjacency is probably not symmetric")


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

    The chains strictly decrease, so log2(N) + 1 jumps reach the roots.
    """
    for _ in range(max(1, parent.shape[1].bit_length() + 1)):
        jumped = parent.gather(1, parent)
        if torch.equal(jumped, parent):
            break
        parent = jumped
    return parent


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
