"""Regions by average linkage of the decision margins: a region rule that one wrong link cannot undo.

The paper's regions are the connected components of G = [m > 0], m_ij = (F^g_ij + F^g_ji) / 2: single
linkage, so one linked pair across the border of two objects merges them. Trained on generated object
scenes, the object-region preset still links 8-12% of the 8-neighbour pairs across object borders
(``docs/ranet.md``, object regions), about 14-21 pairs per image, and its regions merge objects although most
border pairs are cut. Average linkage asks the same question of whole groups: two regions merge while the
mean margin over all pairs between them is positive (agglomerative clustering, merging the pair of regions
with the largest mean margin first). A few wrong links across a border of many pairs leave the mean
negative; the rule equals connected components when every margin inside a component is positive and every
margin between components negative.

The clustering is scipy's (:func:`scipy.cluster.hierarchy.linkage`, ``method='average'``, O(N^2) time and
memory per image, on the CPU, without gradient: G carries none), on distances ``c - m`` (the shift
``c = max m`` makes them non-negative; average linkage commutes with it), cut at distance ``c``: ``fcluster``
keeps a merge at distance at most its threshold, so the threshold is the largest float below ``c`` and a
mean margin of exactly 0 stays unlinked, as a tie in G does.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .region_labels import compact_region_labels


@torch.no_grad()
def average_linkage_roots(margin: Tensor) -> Tensor:
    """Root (smallest pixel index) of each pixel's region under average linkage of one image's margins.

    Args:
        margin (Tensor): Symmetric decision margins (N, N) of one image; the diagonal is not used.

    Returns:
        Tensor: int64 (N,) root pixel index per pixel, on ``margin``'s device.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    if margin.dim() != 2 or margin.shape[0] != margin.shape[1]:
        raise ValueError(f"margin must be an (N, N) table, got {tuple(margin.shape)}")
    num_pixels = margin.shape[0]
    if num_pixels == 1:
        return torch.zeros(1, dtype=torch.long, device=margin.device)
    values = margin.detach().to("cpu", torch.float64).numpy().copy()
    np.fill_diagonal(values, 0.0)
    shift = float(values.max())
    distances = squareform(shift - values, checks=False)
    tree = linkage(distances, method="average")
    clusters = fcluster(tree, t=np.nextafter(shift, -np.inf), criterion="distance")
    # First pixel of each cluster = its root, as the other rules number regions.
    first = {}
    roots = np.array([first.setdefault(c, i) for i, c in enumerate(clusters)], dtype=np.int64)
    return torch.from_numpy(roots).to(margin.device)


@torch.no_grad()
def average_linkage_labels(margins: Tensor) -> tuple[Tensor, Tensor]:
    """Region ids (B, N) and counts (B,) by average linkage of symmetric margins (B, N, N)."""
    if margins.dim() != 3:
        raise ValueError(f"margins must be (B, N, N), got {tuple(margins.shape)}")
    roots = torch.stack([average_linkage_roots(m) for m in margins])
    return compact_region_labels(roots)
