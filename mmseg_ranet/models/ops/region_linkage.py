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

The clustering runs on the margin table's device, without gradient (G carries none), in the table's own
precision: float64 tables (the tests') as scipy's ``linkage(method='average')`` clusters them (the former
implementation, now the tests' reference), the head's float32 tables in float32. Each region keeps its best
partner (largest mean margin, the smallest region index among equal ones), and every round merges all
*mutual* best pairs whose mean margin is positive: for average linkage a mutually nearest pair is merged by
any merge order (the reducibility that scipy's nearest-neighbour chain rests on), so merging all of them at
once gives the same regions as one merge at a time, in far fewer rounds. A mean margin of exactly 0 stays
unlinked, as a tie in G does. Where two different merges tie exactly (equal mean margins that share a
region), average linkage itself depends on the merge order (scipy's chain follows its own); this one
resolves them towards the smaller region index, as does a scan for the largest mean.

The table holds *sums* of margins, between each region (rows) and each group of pixels (columns: the
regions as of the last compaction, each inside one current region). Merging a and b adds b's row to a's
and writes nothing else: the mean margin of a u b against a region c is the row summed over c's groups
divided by n_{a u b} n_c, the mean over all pixel pairs, which is what the Lance-Williams recursion of
average linkage computes step by step. (That recursion writes the merged region's column as well, and a
column of a row-major table touches every row of it; reading sums by region keeps every access a row.)
Only the regions whose best candidates fell in a merge search their row again (a merged mean is never
larger than the larger of the two merged means). A region whose best mean margin is at most 0 is final
(every later mean against it is a mean of such margins), so compaction drops it; compaction also sums the
columns into the current regions.

Host reads: each round reads a few counts back (how many pairs merge, how many regions can still merge,
how many search again, how many columns tie a region's best, plus a rare count of best partners tied
beyond the candidates), to size the round's tensors; nothing else leaves the device. The loop stops at the
first round without a merge and every round merges at least one pair (the globally best pair is mutual),
so there are at most N - 1 rounds (64 at 65x65 and 77 at 97x97 on the benchmark's margins). Memory: the
working table (the caller's own with ``overwrite=True``), the means of the merged and re-searching regions,
and O(N) per region; the table is compacted whenever at most half of its rows can still merge.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .region_labels import compact_region_labels

#: Candidates kept per region (its best partners at its last full search, see ``_Clustering``).
NUM_CANDIDATES = 8


def _topk(rows: Tensor, count: int) -> tuple[Tensor, Tensor]:
    """The ``count`` largest values of each row and their columns, largest first (as ``Tensor.topk``).

    ``topk`` over long rows costs ten times a row maximum on a CPU, so the rows are cut into chunks of
    about sqrt(width) columns: every one of a row's ``count`` largest values lies in one of the ``count``
    chunks with the largest maxima (a chunk holding one of them has a maximum at least as large as the
    ``count``-th value, and at most ``count`` chunks do), and ``topk`` runs on those chunks only.
    """
    num_rows, width = rows.shape
    chunk = max(count, int(width**0.5))
    num_full = width // chunk
    if num_full < count + 1:
        return rows.topk(count, dim=1)
    maxima = rows[:, : num_full * chunk].unflatten(1, (num_full, chunk)).amax(dim=2)
    if num_full * chunk < width:
        maxima = torch.cat([maxima, rows[:, num_full * chunk :].amax(dim=1, keepdim=True)], dim=1)
    chosen = maxima.topk(count, dim=1).indices  # (rows, count) chunk numbers
    columns = (chosen[:, :, None] * chunk + torch.arange(chunk, device=rows.device)).view(num_rows, -1)
    pool = rows.gather(1, columns.clamp(max=width - 1)).masked_fill_(columns >= width, float("-inf"))
    values, where = pool.topk(count, dim=1)
    return values, columns.gather(1, where).clamp_(max=width - 1)


class _Clustering:
    """State of one image's clustering: sums of margins between regions and groups, regions' partners.

    ``table[p, j]`` is the sum of the margins between the pixels of the region at position p and those of
    group j, the regions as of the last compaction (every group lies inside one current region,
    ``group_region``). A merge adds the gone region's row to the kept one's and nothing else; a region's
    mean margins against the current regions are its row summed by region and divided by the sizes
    (``means``), so no column is ever written.

    Each region keeps its ``NUM_CANDIDATES`` best partners from its last full search and ``floor``, the
    largest mean margin it found outside them. A merge only lowers a mean below the larger of the two
    merged means, so while a region's best candidate stays above its floor it is its best partner, and only
    regions whose candidates fell to the floor search their row again.
    """

    def __init__(self, table: Tensor) -> None:
        device = table.device
        num = table.shape[0]
        self.table = table
        self.names = torch.arange(num, device=device)
        self.owner = self.names.clone()  # each pixel's region, as a position
        self.finished = torch.full_like(self.names, -1)  # root of each pixel whose region is final
        self.group_region = self.names.clone()
        self.size = torch.ones(num, dtype=table.dtype, device=device)
        self.alive = torch.ones(num, dtype=torch.bool, device=device)
        self.best = torch.empty(num, dtype=torch.float64, device=device)
        self.partner = torch.empty(num, dtype=torch.long, device=device)
        self.candidates = torch.empty(num, NUM_CANDIDATES, dtype=torch.float64, device=device)
        self.candidate_positions = torch.empty(num, NUM_CANDIDATES, dtype=torch.long, device=device)
        self.floor = torch.empty(num, dtype=torch.float64, device=device)
        self.set_candidates(self.names, table)

    def means(self, positions: Tensor) -> Tensor:
        """Mean margins (s, regions) of the regions at ``positions``; -inf at themselves and dead ones."""
        rows = self.table.index_select(0, positions)
        index = self.group_region.expand(rows.shape[0], -1)
        # Dead regions receive no group: they keep the starting -inf.
        start = torch.where(self.alive, 0.0, float("-inf")).to(rows.dtype)
        sums = start.expand_as(rows).clone().scatter_add_(1, index, rows)
        sums.div_(self.size.gather(0, positions)[:, None]).div_(self.size[None, :])
        return sums.scatter_(1, positions[:, None], float("-inf"))

    def set_candidates(self, positions: Tensor, rows: Tensor) -> None:
        """Candidates, floor, best and partner of the regions at ``positions`` from their full ``rows``."""
        count = min(NUM_CANDIDATES + 1, rows.shape[1])
        values, columns = _topk(rows, count)
        if count < NUM_CANDIDATES + 1:
            pad = NUM_CANDIDATES + 1 - count
            values = torch.nn.functional.pad(values, (0, pad), value=float("-inf"))
            columns = torch.nn.functional.pad(columns, (0, pad), value=0)
        values = values.double()
        best = values[:, 0]
        # The first of equal best columns: among the candidates, unless the ties run past them.
        ties = torch.where(
            values[:, :NUM_CANDIDATES] == best[:, None], columns[:, :NUM_CANDIDATES], rows.shape[1]
        )
        partner = ties.amin(dim=1)
        crowded = values[:, NUM_CANDIDATES] == best
        num_crowded = int(crowded.sum())
        if num_crowded:
            rows_crowded = torch.nonzero_static(crowded, size=num_crowded).squeeze(1)
            partner.index_copy_(0, rows_crowded, rows.index_select(0, rows_crowded).argmax(dim=1))
        self.candidates.index_copy_(0, positions, values[:, :NUM_CANDIDATES])
        self.candidate_positions.index_copy_(0, positions, columns[:, :NUM_CANDIDATES])
        self.floor.index_copy_(0, positions, values[:, NUM_CANDIDATES])
        self.best.index_copy_(0, positions, best)
        self.partner.index_copy_(0, positions, partner)

    def merge(self, kept: Tensor, gone: Tensor) -> Tensor:
        """Merge the regions at ``gone`` into those at ``kept``; the regions that must search again."""
        device = kept.device
        num_pairs, num = kept.numel(), self.table.shape[0]
        self.table.index_add_(0, kept, self.table.index_select(0, gone))
        self.size.index_add_(0, kept, self.size.gather(0, gone))
        self.alive.index_fill_(0, gone, False)
        pair = torch.full((num,), -1, dtype=torch.long, device=device)
        pair.index_copy_(0, kept, torch.arange(num_pairs, device=device))
        pair.index_copy_(0, gone, torch.arange(num_pairs, device=device))
        owner_pair = pair.gather(0, self.owner)
        self.owner = torch.where(owner_pair >= 0, kept.gather(0, owner_pair.clamp(min=0)), self.owner)
        group_pair = pair.gather(0, self.group_region)
        self.group_region = torch.where(
            group_pair >= 0, kept.gather(0, group_pair.clamp(min=0)), self.group_region
        )
        merged = self.means(kept)
        # One value per pair of merged regions in both orders (the two sums may round differently).
        between = merged.index_select(1, kept)
        upper = torch.ones(num_pairs, num_pairs, dtype=torch.bool, device=device).triu_()
        merged.index_copy_(1, kept, torch.where(upper, between, between.t()))
        # Candidates that merged take the merged region's mean margin and position.
        candidate_pair = pair[self.candidate_positions]
        hit = candidate_pair >= 0
        flat = candidate_pair.clamp(min=0) * num + torch.arange(num, device=device)[:, None]
        self.candidates = torch.where(hit, merged.view(-1)[flat].double(), self.candidates)
        self.candidate_positions = torch.where(
            hit, kept[candidate_pair.clamp(min=0)], self.candidate_positions
        )
        best = self.candidates.amax(dim=1)
        ties = torch.where(self.candidates == best[:, None], self.candidate_positions, num)
        partner = ties.amin(dim=1)
        # A merged region that beats a region's best outside its candidates (only by a tie or rounding:
        # a merge does not raise a mean above both merged means) sends that region to search again.
        column_best = merged.amax(dim=0)
        beaten = column_best > best
        tied = column_best == best
        num_tied = int(tied.sum())
        if num_tied:
            # Equal means: the smaller position wins (an arg-max down the columns only where needed; over
            # all columns it costs ten times the maximum on a CPU).
            columns = torch.nonzero_static(tied, size=num_tied).squeeze(1)
            first = merged.index_select(1, columns).argmax(dim=0)  # argmax documents the first
            beaten.index_copy_(0, columns, kept.gather(0, first) < partner.gather(0, columns))
        self.best, self.partner = best, partner
        self.set_candidates(kept, merged)
        self.best.index_fill_(0, gone, float("-inf"))
        return (beaten | (hit.any(dim=1) & ~(best > self.floor))) & self.alive & (pair < 0)

    def compact(self, keep: Tensor, num_keep: int) -> None:
        """Keep only the regions in ``keep``, each its own group again.

        A live region left out is final: its pixels' root is recorded (``finished``).
        """
        device = self.table.device
        live = torch.nonzero_static(keep, size=num_keep).squeeze(1)
        moved = torch.full_like(self.names, num_keep).index_copy_(
            0, live, torch.arange(num_keep, device=device)
        )
        done = (self.finished < 0) & ~keep.gather(0, self.owner)
        self.finished = torch.where(done, self.names.gather(0, self.owner), self.finished)
        rows = self.table.index_select(0, live)
        index = moved.gather(0, self.group_region).expand(num_keep, -1)
        table = rows.new_zeros(num_keep, num_keep + 1).scatter_add_(1, index, rows)
        self.table = table[:, :num_keep].contiguous()
        self.group_region = torch.arange(num_keep, device=device)
        self.names, self.size = self.names.gather(0, live), self.size.gather(0, live)
        self.best, self.floor = self.best.gather(0, live), self.floor.gather(0, live)
        self.partner = moved.gather(0, self.partner.gather(0, live))
        # Candidates that were left out are forgotten (their means are at most 0, below a kept region's
        # best); the floor stays an upper bound of every mean outside the candidates.
        dropped = ~keep[self.candidate_positions.index_select(0, live)]
        self.candidates = self.candidates.index_select(0, live).masked_fill_(dropped, float("-inf"))
        self.candidate_positions = moved[self.candidate_positions.index_select(0, live)].clamp_(
            max=num_keep - 1
        )
        self.owner = moved.gather(0, self.owner).clamp_(max=num_keep - 1)
        self.alive = self.alive.gather(0, live)

    def mergers(self) -> Tensor:
        """Which regions merge this round: the smaller position of each mutual best pair with a positive
        mean margin (it names the merged region)."""
        position = torch.arange(self.table.shape[0], device=self.table.device)
        mutual = (self.partner.gather(0, self.partner) == position) & (self.best > 0)
        return mutual & (position < self.partner)

    def roots(self) -> Tensor:
        """Root (smallest pixel index) of each pixel's region."""
        current = self.names.gather(0, self.owner)
        return torch.where(self.finished >= 0, self.finished, current)


@torch.no_grad()
def average_linkage_roots(margin: Tensor, overwrite: bool = False) -> Tensor:
    """Root (smallest pixel index) of each pixel's region under average linkage of one image's margins.

    Args:
        margin (Tensor): Symmetric, finite decision margins (N, N) of one image, float32 or float64 (the
            precision of the stored means); the diagonal is not used.
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
    table = margin.detach()
    table = table if overwrite else table.clone()
    table.fill_diagonal_(0.0)
    if not bool(torch.isfinite(torch.stack(torch.aminmax(table))).all()):  # aminmax propagates NaN
        raise ValueError(
            "margin must hold finite values off its diagonal (a NaN or infinite margin has no mean)"
        )
    table.fill_diagonal_(float("-inf"))
    state = _Clustering(table)
    for _ in range(1, num_pixels):
        keeps = state.mergers()
        active = state.alive & (state.best > 0)
        num_pairs, num_active = torch.stack([keeps.sum(), active.sum()]).tolist()
        if num_pairs == 0:
            break
        if 2 * num_active <= state.table.shape[0]:
            # Keep only the regions that can still merge: later rounds read half the table or less.
            state.compact(active, num_active)
            keeps = state.mergers()
        kept = torch.nonzero_static(keeps, size=num_pairs).squeeze(1)  # ascending
        gone = state.partner.gather(0, kept)
        searches = state.merge(kept, gone)
        num_searches = int(searches.sum())
        if num_searches:
            searching = torch.nonzero_static(searches, size=num_searches).squeeze(1)
            state.set_candidates(searching, state.means(searching))
    return state.roots()


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
