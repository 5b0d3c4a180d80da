"""The average-linkage region rule: a loop reference, its relation to components, and the head's paths."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from mmseg_ranet.models.ops import average_linkage_labels, average_linkage_roots, region_labels

from .test_streamed_regions import HEIGHT, WIDTH, _head, _run, dense_copy


def _reference_partition(margin: torch.Tensor) -> set[frozenset[int]]:
    """Obviously correct average linkage: merge the two clusters with the largest mean margin while > 0."""
    clusters = [{i} for i in range(margin.shape[0])]

    def mean(a, b):
        return sum(float(margin[i, j]) for i in a for j in b) / (len(a) * len(b))

    while len(clusters) > 1:
        best, pair = max(
            (mean(a, b), (p, q)) for (p, a), (q, b) in itertools.combinations(enumerate(clusters), 2)
        )
        if best <= 0:
            break
        p, q = pair
        clusters[p] = clusters[p] | clusters[q]
        del clusters[q]
    return {frozenset(c) for c in clusters}


def _scipy_roots(margin: torch.Tensor) -> torch.Tensor:
    """scipy's average linkage (the former implementation): distances c - m cut below c, c = max(m, 0)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    values = margin.to(torch.float64).numpy().copy()
    if values.shape[0] == 1:
        return torch.zeros(1, dtype=torch.long)
    np.fill_diagonal(values, 0.0)
    shift = float(values.max())
    tree = linkage(squareform(shift - values, checks=False), method="average")
    clusters = fcluster(tree, t=np.nextafter(shift, -np.inf), criterion="distance")
    first: dict = {}
    return torch.tensor([first.setdefault(c, i) for i, c in enumerate(clusters)])


def _random_table(seed: int) -> torch.Tensor:
    """Seeded symmetric margins of 2-160 pixels: noise, noisy groups, or groups with tied values."""
    generator = torch.Generator().manual_seed(seed)
    n = int(torch.randint(2, 161, (1,), generator=generator))
    offset = float(torch.rand(1, generator=generator)) * 2 - 1
    kind = seed % 3
    if kind == 0:  # noise around an offset: from no merge (offset -1) to everything merged (offset +1)
        values = torch.randn(n, n, generator=generator, dtype=torch.float64) + 2 * offset
    else:
        groups = torch.randint(0, max(1, n // 6), (n,), generator=generator)
        same = groups[:, None] == groups[None]
        if kind == 1:  # noisy objects
            noise = torch.randn(n, n, generator=generator, dtype=torch.float64)
            values = torch.where(same, 0.5, -0.5).double() + noise + offset / 2
        else:  # tied margins: 3/4 on every pair inside a group, one distinct level per pair of groups
            # (ties between merges that compete for a region make any average linkage depend on the merge
            # order, scipy's included: the levels between groups differ, so only ties that do not compete)
            num_groups = n // 6 + 1
            level = torch.randperm(num_groups**2, generator=generator).double().view(num_groups, num_groups)
            level = (level / num_groups**2 - 0.5 + offset / 2).clamp(max=0.5)
            values = torch.where(same, 0.75, level[groups[:, None], groups[None]])
    return (values + values.t()) / 2


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_average_linkage_equals_scipy_on_random_tables(dtype):
    # 300 seeded tables of 2-160 pixels: noise (no merge to all merged), noisy groups and tied groups.
    regions = []
    for seed in range(300):
        margin = _random_table(seed).to(dtype)
        roots = average_linkage_roots(margin)
        assert torch.equal(roots, _scipy_roots(margin)), f"seed {seed}"
        assert torch.equal(average_linkage_roots(margin.clone(), overwrite=True), roots)
        regions.append(int(roots.unique().numel()) / margin.shape[0])
    assert min(regions) < 0.05 and max(regions) == 1.0  # all-merge and no-merge tables are among them


def test_average_linkage_ties_at_zero_stay_unlinked():
    # Two groups whose cross margins average exactly 0 (+1/4 and -1/4 in equal numbers), inside +1/2.
    labels = torch.tensor([0, 0, 1, 1])
    margin = torch.where(labels[:, None] == labels[None], 0.5, 0.25).double()
    margin[0, 2] = margin[2, 0] = margin[1, 3] = margin[3, 1] = -0.25
    assert _partition(average_linkage_roots(margin)) == {frozenset({0, 1}), frozenset({2, 3})}
    assert torch.equal(average_linkage_roots(margin), _scipy_roots(margin))
    margin[0, 2] = margin[2, 0] = -0.125  # mean +1/16 now: one region
    assert _partition(average_linkage_roots(margin)) == {frozenset(range(4))}
    with pytest.raises(ValueError, match="finite"):
        average_linkage_roots(torch.tensor([[0.0, float("nan")], [float("nan"), 0.0]]))
    with pytest.raises(ValueError, match="float32 or float64"):
        average_linkage_roots(torch.zeros(3, 3, dtype=torch.int64))


def _partition(region: torch.Tensor) -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for i, r in enumerate(region.tolist()):
        groups.setdefault(r, set()).add(i)
    return {frozenset(g) for g in groups.values()}


def _symmetric(seed: int, n: int, offset: float) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(n, n, generator=generator, dtype=torch.float64) + offset
    return (values + values.t()) / 2


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("offset", [-0.3, 0.0, 0.4])
def test_average_linkage_equals_the_loop_reference(seed, offset):
    margin = _symmetric(seed, 11, offset)
    region, counts = average_linkage_labels(margin.unsqueeze(0))
    assert _partition(region[0]) == _reference_partition(margin)
    assert int(counts[0]) == len(_reference_partition(margin))
    # Roots are each region's smallest pixel index, as the other rules give them.
    roots = average_linkage_roots(margin)
    assert all(int(roots[i]) == min(g) for g in _partition(region[0]) for i in g)


def test_average_linkage_keeps_objects_apart_where_components_merge_them():
    # Two objects of 6 cells: margins +1 inside, -1 across, except one wrong link across the border.
    n = 12
    margin = -torch.ones(n, n, dtype=torch.float64)
    margin[:6, :6] = margin[6:, 6:] = 1.0
    margin[5, 6] = margin[6, 5] = 0.5
    components, _ = region_labels((margin > 0).unsqueeze(0), "components")
    linkage, counts = average_linkage_labels(margin.unsqueeze(0))
    assert len(_partition(components[0])) == 1  # one link merges everything
    assert _partition(linkage[0]) == {frozenset(range(6)), frozenset(range(6, 12))} and int(counts[0]) == 2


def test_average_linkage_equals_components_on_clean_margins_and_counts_ties_as_unlinked():
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3])
    margin = torch.where(labels[:, None] == labels[None], 0.5, -0.5).double()
    components, _ = region_labels((margin > 0).unsqueeze(0), "components")
    linkage, _ = average_linkage_labels(margin.unsqueeze(0))
    assert _partition(linkage[0]) == _partition(components[0]) == _partition(labels)
    assert int(average_linkage_labels(torch.zeros(1, 4, 4, dtype=torch.float64))[1][0]) == 4
    assert int(average_linkage_labels(torch.zeros(1, 1, 1))[1][0]) == 1
    with pytest.raises(ValueError, match="average_linkage"):
        region_labels((margin > 0).unsqueeze(0), "average_linkage")
    with pytest.raises(ValueError, match=r"\(N, N\)"):
        average_linkage_roots(torch.zeros(2, 3))


@pytest.mark.parametrize("variant", ["object_regions", "paper"])
def test_head_streamed_equals_dense_with_average_linkage(variant):
    threshold = dict(region_threshold=0.3) if variant == "object_regions" else {}
    head = _head(variant=variant, construction=dict(region_rule="average_linkage", **threshold))
    dense = dense_copy(head)
    out_s, grads_s = _run(head, True)
    out_d, grads_d = _run(dense, True)
    assert torch.equal(out_s.region, out_d.region)
    assert out_s.num_regions.tolist() == out_d.num_regions.tolist()
    torch.testing.assert_close(out_s.representativeness, out_d.representativeness, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out_s.seg_logits, out_d.seg_logits, rtol=1e-10, atol=1e-12)
    for name in grads_d:
        torch.testing.assert_close(grads_s[name], grads_d[name], rtol=1e-9, atol=1e-11, msg=name)
    assert 1 <= int(out_s.num_regions.min()) and int(out_s.num_regions.max()) <= HEIGHT * WIDTH
