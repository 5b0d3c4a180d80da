"""Regions by average linkage of the decision margins: a region rule that one wrong link cannot undo.

The paper's regions are the connected components of G = [m > 0], m_ij = (F^g_ij + F^g_ji) / 2: single
linkage, so one linked pair across the border of two objects merges them. Trained on generated object
scenes, the object-region preset still links 8-12% of the 8-neighbour pairs across object borders
(``docs/ranet.md``, object regions), about 14-21 pairs per image, and its regions merge objects although most
border pairs are cut. Average linkage asks the same question of whole groups: two regions merge while the
mean margin over all pairs between them is positive (agglomerative clustering of the pixels, every pixel
starting as its own region, merging the pair of regions with the largest mean margin first). A few wrong
links across a border of many pairs leave the mean negative; the rule equals connected components when every
margin inside a component is positive and every margin between components negative.

The clustering runs on the margin table's device, in float64, without gradient (G carries none). It keeps
the (N, N) table of mean margins between the current regions and each region's best partner (largest mean
margin, the smallest region index among equal ones), and in every round merges all *mutual* best pairs whose
mean margin is positive: for average linkage a mutually nearest pair is merged by any merge order (the
reducibility that scipy's nearest-neighbour chain rests on), so merging all of them at once gives the same
regions as one merge at a time, in far fewer rounds. A merge of regions a and b updates the table by the
Lance-Williams formula of average linkage, m(k, a u b) = (n_a m(k, a) + n_b m(k, b)) / (n_a + n_b), the
rule scipy's ``linkage(method='average')`` applies; only the rows and columns of the merged regions are
rewritten, and only the regions whose best partner took part in a merge search their row again (a mean of
two rows is never larger than the larger of them, so every other region keeps its partner unless a merged
region now beats it). A mean margin of exactly 0 stays unlinked, as a tie in G does. Where two different
merges tie exactly (equal mean margins that share a region), average linkage itself depends on the merge
order; this one resolves them towards the smaller region index, as does a scan for the largest mean.

Each round reads two counts back to the host (how many pairs merge and how many regions search again), to
size the next round's tensors; the loop stops at the first round without a merge, and every round merges at
least one pair (the globally best pair is mutual), so there are at most N - 1 rounds. Cost: one (N, N)
float64 table (8 N^2 bytes) and O(N) work per merged or re-searching region per round.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .region_labels import compact_region_labels


def _first_max(values: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Largest value along ``dim`` and the first index holding it (``argmax`` documents the first)."""
    index = values.argmax(dim=dim, keepdim=True)
    return values.gather(dim, index).squeeze(dim), index.squeeze(dim)


@torch.no_grad()
def average_linkage_roots(margin: Tensor, overwrite: bool = False) -> Tensor:
    """Root (smallest pixel index) of each pixel's region under average linkage of one image's margins.

    Args:
        margin (Tensor): Symmetric, finite decision margins (N, N) of one image, float32 or float64 (the
            precision of the clustering); the diagonal is not used.
        overwrite (bool): Use ``margin`` as the working table (its values are destroyed) instead of a
            copy: for a caller whose table is a temporary. Defaults to False.

    Returns:
        Tensor: int64 (N,) root pixel index per pixel, on ``margin``'s device.
    """
    if margin.dim() != 2 or margin.shape[0] != margin.shape[1]:
        raise ValueError(f"margin must be an (N, N) table, got {tuple(margin.shape)}")
    if margin.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"margin must be a float32 or float64 table, got {margin.dtype}")
    num_pixels = margin.shape[0]
    device = margin.device
    if num_pixels == 1:
        return torch.zeros(1, dtype=torch.long, device=device)
    # table[p, q]: mean margin between the regions at positions p and q; -inf on the diagonal and in the
    # columns of merged-away regions, so that no region picks itself or a region that is gone. Positions
    # keep the order of the regions' names (smallest pixels) when the table is compacted.
    table = margin.detach()
    table = table if overwrite else table.clone()
    table.fill_diagonal_(0.0)
    if not bool(torch.isfinite(torch.stack(torch.aminmax(table))).all()):  # aminmax propagates NaN
        raise ValueError("margin must hold finite values off its diagonal (a NaN or infinite margin has no mean)")
    table.fill_diagonal_(float("-inf"))
    names = torch.arange(num_pixels, device=device)
    owner = names.clone()  # each pixel's region, as a position in the table
    size = torch.ones(num_pixels, dtype=torch.float64, device=device)
    alive = torch.ones(num_pixels, dtype=torch.bool, device=device)
    best, partner = _first_max(table, 1)
    for _round in range(num_pixels - 1):
        position = torch.arange(table.shape[0], device=device)
        mutual = (partner.gather(0, partner) == position) & (best > 0)
        keeps = mutual & (position < partner)  # the smaller position (and name) names the merged region
        # Regions whose best partner takes part in a merge search their row again (the others only compare
        # with the merged rows).
        searches = mutual.gather(0, partner) & ~mutual & alive
        num_pairs, num_searches, num_alive = torch.stack([keeps.sum(), searches.sum(), alive.sum()]).tolist()
        if num_pairs == 0:
            break
        kept = torch.nonzero_static(keeps, size=num_pairs).squeeze(1)  # ascending
        gone = partner.gather(0, kept)
        size_kept, size_gone = size.gather(0, kept), size.gather(0, gone)
        total = size_kept + size_gone
        # Rows of the merged regions against every old region, then the columns of the merged ones.
        rows = size_kept[:, None] * table.index_select(0, kept) + size_gone[:, None] * table.index_select(0, gone)
        rows /= total[:, None]
        between = (rows.index_select(1, kept) * size_kept + rows.index_select(1, gone) * size_gone) / total
        # One value per pair of merged regions in both orders, so the table stays exactly symmetric.
        upper = torch.ones(num_pairs, num_pairs, dtype=torch.bool, device=device).triu_()
        between = torch.where(upper, between, between.t())
        between.fill_diagonal_(float("-inf"))
        rows.index_copy_(1, kept, between)
        rows.index_fill_(1, gone, float("-inf"))
        rows = rows.to(table.dtype)
        table.index_copy_(0, kept, rows)
        table.index_copy_(1, kept, rows.t())
        table.index_fill_(1, gone, float("-inf"))
        size.index_copy_(0, kept, total)
        alive.index_fill_(0, gone, False)
        owner = torch.where(mutual.gather(0, owner) & ~keeps.gather(0, owner), partner.gather(0, owner), owner)
        # Best partners: every region against the merged ones (first index wins ties, as in a row scan)...
        column_best, column_arg = _first_max(rows, 0)
        column_partner = kept.gather(0, column_arg)
        better = (column_best > best) | ((column_best == best) & (column_partner < partner))
        best = torch.where(better, column_best, best)
        partner = torch.where(better, column_partner, partner)
        # ... the regions that lost their partner search their row again, the merged ones take their row's best.
        searching = torch.nonzero_static(searches, size=num_searches).squeeze(1)
        search_best, search_partner = _first_max(table.index_select(0, searching), 1)
        best.index_copy_(0, searching, search_best)
        partner.index_copy_(0, searching, search_partner)
        kept_best, kept_partner = _first_max(rows, 1)
        best.index_copy_(0, kept, kept_best)
        partner.index_copy_(0, kept, kept_partner)
        best.index_fill_(0, gone, float("-inf"))
        num_alive -= num_pairs
        if 2 * num_alive <= table.shape[0]:
            # Drop the merged-away regions' rows and columns: later rounds touch half the table or less.
            live = torch.nonzero_static(alive, size=num_alive).squeeze(1)
            moved = torch.zeros_like(position).index_copy_(0, live, torch.arange(num_alive, device=device))
            table = table.index_select(0, live).index_select(1, live)
            names, size, best = names.gather(0, live), size.gather(0, live), best.gather(0, live)
            partner = moved.gather(0, partner.gather(0, live))
            owner = moved.gather(0, owner)
            alive = alive.gather(0, live)
    return names.gather(0, owner)


@torch.no_grad()
def average_linkage_labels(margins: Tensor, overwrite: bool = False) -> tuple[Tensor, Tensor]:
    """Region ids (B, N) and counts (B,) by average linkage of symmetric margins (B, N, N).

    ``overwrite=True`` clusters in ``margins`` itself, destroying its values (see
    :func:`average_linkage_roots`).
    """
    if margins.dim() != 3:
        raise ValueError(f"margins must be (B, N, N), got {tuple(margins.shape)}")
    roots = torch.stack([average_linkage_roots(m, overwrite) for m in margins])
    return compact_region_labels(roots)
