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
precision: float64 tables (the tests') exactly as scipy's ``linkage(method='average')`` clusters them (the
former implementation, now the tests' reference), the head's float32 tables in float32. It keeps the table
of mean margins between the current regions and each region's best partner (largest mean margin, the
smallest region index among equal ones), and in every round merges all *mutual* best pairs whose mean
margin is positive: for average linkage a mutually nearest pair is merged by any merge order (the
reducibility that scipy's nearest-neighbour chain rests on), so merging all of them at once gives the same
regions as one merge at a time, in far fewer rounds. A merge of regions a and b writes the merged row by the
Lance-Williams formula of average linkage, m(k, a u b) = (n_a m(k, a) + n_b m(k, b)) / (n_a + n_b),
computed and stored in the table's precision, and a transposed copy of it that stands for the merged
region's column (``_Clustering``); only the regions whose best candidates fell in a merge search their row
again (a mean of two rows is never larger than the larger of them). A region whose best mean margin is at
most 0 is final (every later mean against it is a mean of such margins), so compaction drops it. A mean margin of exactly 0
stays unlinked, as a tie in G does. Where two different merges tie exactly (equal mean margins that share a
region), average linkage itself depends on the merge order (scipy's chain follows its own); this one
resolves them towards the smaller region index, as does a scan for the largest mean.

Host reads: each round reads a few counts back (how many pairs merge, how many rows were written, how many
regions can still merge and how many search again, plus a rare count of best partners tied beyond the candidates), to
size the round's tensors; nothing else leaves the device. The loop stops at the first round without a
merge and every round merges at least one pair (the globally best pair is mutual), so there are at most
N - 1 rounds (64 at 65x65 and 77 at 97x97 on the benchmark's margins). Memory: the working table (the
caller's own with ``overwrite=True``), rows of the merged and re-searching regions, and O(N) per region;
the transposed copies of the rows written since the last compaction (at most half the table); the table
is compacted to the regions that can still merge whenever at most half of its rows can, or the copies are
full.

Speed (``benchmarks/bench_region_linkage.py``): the table is read by rows only. Writing a merged region's
column into a row-major table touches every row of it, and gathering the fresh entries across the written
rows (the former reader) is a scattered read; the transposed copies turn both into contiguous rows.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .region_labels import compact_region_labels

#: Candidates kept per region (its best partners at its last full search, see ``_Clustering``).
NUM_CANDIDATES = 8

#: Transposed copies of written rows kept between compactions, as a fraction of the table's width.
FRESH_FRACTION = 0.5


def _first_max(values: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Largest value along ``dim`` and the first index holding it (``argmax`` documents the first)."""
    index = values.argmax(dim=dim, keepdim=True)
    return values.gather(dim, index).squeeze(dim), index.squeeze(dim)


class _Clustering:
    """State of one image's clustering: the table of mean margins, the regions and their best partners.

    ``table[p, q]`` is the mean margin between the regions at positions p and q as of the later of the
    rounds in which rows p and q were last written (``stamp``): a merge writes only the merged region's
    row in the table, and its transpose as a column of ``fresh`` (``slot``); a reader takes the entries of
    regions written after its row from their copies (the table is symmetric), so no round rewrites columns
    across the table. Positions keep the order of the regions' names (smallest pixels) when the table is
    compacted, so a smaller position is a smaller name.

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
        self.size = torch.ones(num, dtype=torch.float64, device=device)
        self.alive = torch.ones(num, dtype=torch.bool, device=device)
        self.stamp = torch.zeros(num, dtype=torch.long, device=device)
        self.fresh = table.new_empty(num, max(1, int(num * FRESH_FRACTION)))
        self.slot = torch.zeros(num, dtype=torch.long, device=device)
        self.used = 0
        self.best = torch.empty(num, dtype=torch.float64, device=device)
        self.partner = torch.empty(num, dtype=torch.long, device=device)
        self.candidates = torch.empty(num, NUM_CANDIDATES, dtype=torch.float64, device=device)
        self.candidate_positions = torch.empty(num, NUM_CANDIDATES, dtype=torch.long, device=device)
        self.floor = torch.empty(num, dtype=torch.float64, device=device)
        self.set_candidates(self.names, table)

    def rows(self, positions: Tensor, written: Tensor, masked: bool = True) -> Tensor:
        """Current rows (in the table's dtype) of the regions at ``positions``.

        ``written`` lists the positions whose rows were written since the last compaction; ``masked``
        puts -inf at the regions themselves and at dead regions.
        """
        table = self.table
        rows = table.index_select(0, positions)
        if written.numel():
            # Their rows' entries, read as rows of the transposed copies (contiguous, not a gather
            # across the table's rows).
            fresh = self.fresh.narrow(1, 0, self.used).index_select(0, positions)
            theirs = fresh.index_select(1, self.slot.gather(0, written))  # (s, C)
            later = self.stamp.gather(0, written)[None, :] > self.stamp.gather(0, positions)[:, None]
            mine = rows.index_select(1, written)
            rows.index_copy_(1, written, torch.where(later, theirs, mine))
        if masked:
            rows.masked_fill_(~self.alive[None, :], float("-inf"))
            rows.scatter_(1, positions[:, None], float("-inf"))
        return rows

    def set_candidates(self, positions: Tensor, rows: Tensor) -> None:
        """Candidates, floor, best and partner of the regions at ``positions`` from their full ``rows``."""
        count = min(NUM_CANDIDATES + 1, rows.shape[1])
        values, columns = rows.topk(count, dim=1)
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

    def merge(self, kept: Tensor, gone: Tensor, written: Tensor, stamp: int) -> Tensor:
        """Merge the regions at ``gone`` into those at ``kept``; the regions that must search again."""
        device = kept.device
        num_pairs, num = kept.numel(), self.table.shape[0]
        size_kept, size_gone = self.size.gather(0, kept), self.size.gather(0, gone)
        total = size_kept + size_gone
        # Sizes are whole numbers, exact in either precision: the means are computed in the table's.
        dtype = self.table.dtype
        size_kept, size_gone, total = size_kept.to(dtype), size_gone.to(dtype), total.to(dtype)
        # Lance-Williams: the merged rows against every old region, then the columns of the merged ones.
        merged = self.rows(kept, written, masked=False).mul_(size_kept[:, None])
        merged.addcmul_(self.rows(gone, written, masked=False), size_gone[:, None]).div_(total[:, None])
        between = (
            merged.index_select(1, kept) * size_kept + merged.index_select(1, gone) * size_gone
        ) / total
        # One value per pair of merged regions in both orders, so the table stays exactly symmetric.
        upper = torch.ones(num_pairs, num_pairs, dtype=torch.bool, device=device).triu_()
        between = torch.where(upper, between, between.t())
        between.fill_diagonal_(float("-inf"))
        merged.index_copy_(1, kept, between)
        self.alive.index_fill_(0, gone, False)
        merged.masked_fill_(~self.alive[None, :], float("-inf"))
        # From here on the merged rows are read as stored, in the table's precision, so that candidates
        # and searches see the same values.
        merged = merged.to(self.table.dtype)
        self.table.index_copy_(0, kept, merged)
        # The columns of the merged regions, as rows of a contiguous transpose (a blocked copy; writing
        # them into the table's columns would touch every row of the table).
        merged_t = merged.t().contiguous()
        self.fresh.narrow(1, self.used, num_pairs).copy_(merged_t)
        self.slot.index_copy_(0, kept, torch.arange(self.used, self.used + num_pairs, device=device))
        self.used += num_pairs
        self.stamp.index_fill_(0, kept, stamp)
        self.size.index_copy_(0, kept, total.double())
        pair = torch.full((num,), -1, dtype=torch.long, device=device)
        pair.index_copy_(0, kept, torch.arange(num_pairs, device=device))
        pair.index_copy_(0, gone, torch.arange(num_pairs, device=device))
        owner_pair = pair.gather(0, self.owner)
        self.owner = torch.where(owner_pair >= 0, kept.gather(0, owner_pair.clamp(min=0)), self.owner)
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
        column_best, column_arg = _first_max(merged_t, 1)
        column_partner = kept.gather(0, column_arg)
        beaten = (column_best > best) | ((column_best == best) & (column_partner < partner))
        self.best, self.partner = best, partner
        self.set_candidates(kept, merged)
        self.best.index_fill_(0, gone, float("-inf"))
        return (beaten | (hit.any(dim=1) & ~(best > self.floor))) & self.alive & (pair < 0)

    def compact(self, keep: Tensor, num_keep: int, num_written: int) -> None:
        """Keep only the regions in ``keep``; the table becomes symmetric again (every stamp 0).

        A live region left out is final: its pixels' root is recorded (``finished``).
        """
        device = self.table.device
        live = torch.nonzero_static(keep, size=num_keep).squeeze(1)
        moved = torch.zeros_like(self.names).index_copy_(0, live, torch.arange(num_keep, device=device))
        done = (self.finished < 0) & ~keep.gather(0, self.owner)
        self.finished = torch.where(done, self.names.gather(0, self.owner), self.finished)
        table = self.table.index_select(0, live).index_select(1, live)
        stamp = self.stamp.gather(0, live)
        if num_written:
            # Entry (p, q) is current in row p unless row q was written later: take it from q's
            # transposed copy.
            written = torch.nonzero_static(stamp > 0, size=num_written).squeeze(1)
            theirs = self.fresh.narrow(1, 0, self.used).index_select(0, live)
            theirs = theirs.index_select(1, self.slot.gather(0, live.gather(0, written)))
            later = stamp.gather(0, written)[None, :] > stamp[:, None]
            table.index_copy_(1, written, torch.where(later, theirs, table.index_select(1, written)))
        self.table = table
        self.stamp = torch.zeros_like(stamp)
        self.fresh = table.new_empty(num_keep, max(1, int(num_keep * FRESH_FRACTION)))
        self.slot = torch.zeros(num_keep, dtype=torch.long, device=device)
        self.used = 0
        self.names, self.size = self.names.gather(0, live), self.size.gather(0, live)
        self.best, self.floor = self.best.gather(0, live), self.floor.gather(0, live)
        self.partner = moved.gather(0, self.partner.gather(0, live))
        # Candidates that were left out are forgotten (their means are at most 0, below a kept region's
        # best); the floor stays an upper bound of every mean outside the candidates.
        dropped = ~keep[self.candidate_positions.index_select(0, live)]
        self.candidates = self.candidates.index_select(0, live).masked_fill_(dropped, float("-inf"))
        self.candidate_positions = moved[self.candidate_positions.index_select(0, live)]
        self.owner = moved.gather(0, self.owner)
        self.alive = self.alive.gather(0, live)

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
    for stamp in range(1, num_pixels):
        position = torch.arange(state.table.shape[0], device=device)
        mutual = (state.partner.gather(0, state.partner) == position) & (state.best > 0)
        keeps = mutual & (position < state.partner)  # the smaller position (and name) names the merged region
        written = state.stamp > 0
        active = state.alive & (state.best > 0)
        counts = torch.stack([keeps.sum(), written.sum(), active.sum(), (written & active).sum()])
        num_pairs, num_written, num_active, num_written_active = counts.tolist()
        if num_pairs == 0:
            break
        if 2 * num_active <= state.table.shape[0] or state.used + num_pairs > state.fresh.shape[1]:
            # Keep only the regions that can still merge: later rounds read half the table or less.
            state.compact(active, num_active, num_written_active)
            position = torch.arange(num_active, device=device)
            keeps = (
                (state.partner.gather(0, state.partner) == position)
                & (state.best > 0)
                & (position < state.partner)
            )
            num_written = 0
        kept = torch.nonzero_static(keeps, size=num_pairs).squeeze(1)  # ascending
        gone = state.partner.gather(0, kept)
        written = torch.nonzero_static(state.stamp > 0, size=num_written).squeeze(1)
        searches = state.merge(kept, gone, written, stamp)
        num_searches = int(searches.sum())
        if num_searches:
            searching = torch.nonzero_static(searches, size=num_searches).squeeze(1)
            written = torch.cat([written, kept])
            state.set_candidates(searching, state.rows(searching, written))
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
