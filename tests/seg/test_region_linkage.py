"""The average-linkage region rule: a loop reference, its relation to components, and the head's paths."""

from __future__ import annotations

import itertools

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
