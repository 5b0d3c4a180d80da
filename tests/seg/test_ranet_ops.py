"""RANet's region operators against the loop references of test_ranet_references.py (values and gradients)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mmseg_ranet.models.ops import (
    boundary_max_table,
    connected_component_roots,
    distribution,
    global_interaction,
    greedy_pointer_roots,
    jensen_shannon_table,
    local_collection,
    masked_softmax,
    region_labels,
    region_representativeness,
    segment_softmax,
    select_representatives,
)

from .test_ranet_references import (
    binary_jsd_reference,
    boundary_max_reference,
    canonical_partition,
    components_reference,
    full_jsd_reference,
    greedy_reference,
    representativeness_reference,
    representatives_reference,
    rib_reference,
)

HEIGHT, WIDTH = 7, 9


def _region_maps() -> torch.Tensor:
    """Two 7x9 region maps with different structures (3 and 6 regions, sizes from 1 to 30)."""
    first = torch.zeros(HEIGHT, WIDTH, dtype=torch.long)
    first[:, 5:] = 1
    first[3, 2] = 2  # a one-pixel region (smaller than K)
    second = torch.zeros(HEIGHT, WIDTH, dtype=torch.long)
    second[:2] = 1
    second[2:, :3] = 2
    second[4:, 6:] = 3
    second[6, 0] = 4
    second[0, 8] = 5  # splits nothing: region 5 is a single corner pixel
    return torch.stack([first, second]).view(2, -1)


@pytest.fixture(scope="module")
def boundary_case():
    """Two random 7x9 boundary maps, an upstream gradient and the loop reference's values and gradients."""
    torch.manual_seed(0)
    boundary = torch.rand(2, HEIGHT, WIDTH, dtype=torch.float64, requires_grad=True)
    upstream = torch.rand(2, HEIGHT * WIDTH, HEIGHT * WIDTH, dtype=torch.float64)
    tables, grads = [], []
    for b in range(2):
        reference = boundary_max_reference(boundary[b])
        (reference_grad,) = torch.autograd.grad((reference * upstream[b]).sum(), boundary)
        tables.append(reference.detach())
        grads.append(reference_grad[b])
    return boundary, upstream, torch.stack(tables), torch.stack(grads)


@pytest.mark.parametrize("chunk_elements", [2_000, 1 << 22])
def test_boundary_max_table_values_and_gradients_match_reference(boundary_case, chunk_elements, device):
    boundary, upstream, reference, reference_grad = boundary_case
    boundary = boundary.detach().to(device).requires_grad_()
    table = boundary_max_table(boundary, chunk_elements=chunk_elements, impl="torch")
    (grad,) = torch.autograd.grad((table * upstream.to(device)).sum(), boundary)
    table, grad = table.cpu(), grad.cpu()
    torch.testing.assert_close(table, reference, rtol=0, atol=1e-12)
    torch.testing.assert_close(grad, reference_grad, rtol=0, atol=1e-10)
    assert torch.all(torch.diagonal(table, dim1=1, dim2=2) == 0)
    torch.testing.assert_close(table, table.transpose(1, 2), rtol=0, atol=0)


def test_boundary_max_table_gradcheck_and_degenerate_maps():
    torch.manual_seed(1)
    boundary = torch.rand(1, 3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: boundary_max_table(x, impl="torch"), (boundary,))
    # A 1x2 map has only neighbours; a single pixel has only itself.
    assert torch.count_nonzero(boundary_max_table(torch.rand(1, 1, 2))) == 0
    assert boundary_max_table(torch.rand(3, 1, 1)).shape == (3, 1, 1)
    with pytest.raises(ValueError, match="boundary"):
        boundary_max_table(torch.rand(4, 4))


@pytest.mark.parametrize("impl", ["torch", "auto"])
@pytest.mark.parametrize("chunk_elements", [500, 1 << 23])
def test_full_jsd_values_and_gradients_match_reference(chunk_elements, impl):
    torch.manual_seed(2)
    logits = (3 * torch.randn(2, 4, 15, dtype=torch.float64)).requires_grad_()
    table = jensen_shannon_table(
        torch.log_softmax(logits, 1), "full", chunk_elements=chunk_elements, impl=impl
    )
    upstream = torch.rand_like(table)
    (grad,) = torch.autograd.grad((table * upstream).sum(), logits)
    for b in range(2):
        reference = full_jsd_reference(torch.softmax(logits[b], 0))
        (reference_grad,) = torch.autograd.grad((reference * upstream[b]).sum(), logits)
        torch.testing.assert_close(table[b], reference, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(grad[b], reference_grad[b], rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(table, table.transpose(1, 2))
    assert float(table.detach().max()) <= math.log(2) + 1e-12 and float(table.detach().min()) >= -1e-12


@pytest.mark.parametrize("impl", ["torch", "auto"])
def test_binary_jsd_values_and_gradients_match_reference(impl):
    torch.manual_seed(3)
    logits = (3 * torch.randn(2, 5, 12, dtype=torch.float64)).requires_grad_()
    table = jensen_shannon_table(torch.log_softmax(logits, 1), "binary", impl=impl)
    upstream = torch.rand_like(table)
    (grad,) = torch.autograd.grad((table * upstream).sum(), logits)
    for b in range(2):
        reference = binary_jsd_reference(torch.softmax(logits[b], 0))
        (reference_grad,) = torch.autograd.grad((reference * upstream[b]).sum(), logits)
        torch.testing.assert_close(table[b], reference, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(grad[b], reference_grad[b], rtol=1e-8, atol=1e-12)
    assert not torch.allclose(table, table.transpose(1, 2)), "the released form is not symmetric"


def test_jsd_normalisation_and_bad_form():
    log_probs = torch.log_softmax(10 * torch.randn(1, 3, 20, dtype=torch.float64), 1)
    raw = jensen_shannon_table(log_probs, "full")
    normalised = jensen_shannon_table(log_probs, "full", normalize=True)
    torch.testing.assert_close(normalised, raw / math.log(2))
    assert float(normalised.max()) <= 1 + 1e-9
    with pytest.raises(ValueError, match="divergence"):
        jensen_shannon_table(log_probs, "kl")


def _random_symmetric_graph(num_pixels: int, density: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    upper = torch.rand(num_pixels, num_pixels, generator=generator) < density
    graph = torch.triu(upper, 1)
    return graph | graph.T | torch.eye(num_pixels, dtype=torch.bool)


def test_connected_components_match_breadth_first_search(device):
    num_pixels = HEIGHT * WIDTH
    graphs = torch.stack(
        [_random_symmetric_graph(num_pixels, 0.01, 4), _random_symmetric_graph(num_pixels, 0.04, 5)]
    )
    region, counts = (t.cpu() for t in region_labels(graphs.to(device), "components"))
    for b in range(2):
        reference = components_reference(graphs[b])
        assert canonical_partition(region[b].tolist()) == canonical_partition(reference)
        assert int(counts[b]) == len(set(reference))
    assert counts[0] != counts[1], "the two graphs should have different region counts"
    roots = connected_component_roots(graphs.to(device)).cpu()
    # A component's root is its smallest pixel index.
    for b in range(2):
        for i in range(num_pixels):
            same = (region[b] == region[b, i]).nonzero().min()
            assert int(roots[b, i]) == int(same)


def test_connected_components_match_scipy_label_on_grid_graphs():
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(6)
    masks = rng.random((2, HEIGHT, WIDTH)) < np.array([0.45, 0.6]).reshape(2, 1, 1)
    index = np.arange(HEIGHT * WIDTH).reshape(HEIGHT, WIDTH)
    graphs = torch.zeros(2, HEIGHT * WIDTH, HEIGHT * WIDTH, dtype=torch.bool)
    for b in range(2):
        # 4-connected foreground pixels; every background pixel is its own node.
        right = masks[b, :, :-1] & masks[b, :, 1:]
        down = masks[b, :-1, :] & masks[b, 1:, :]
        graphs[b, index[:, :-1][right], index[:, 1:][right]] = True
        graphs[b, index[:-1, :][down], index[1:, :][down]] = True
    graphs = graphs | graphs.transpose(1, 2) | torch.eye(HEIGHT * WIDTH, dtype=torch.bool)
    region, _ = region_labels(graphs, "components")
    for b in range(2):
        labelled, _ = ndimage.label(masks[b])
        fg = masks[b].reshape(-1)
        ours = region[b].numpy()
        assert canonical_partition(ours[fg]) == canonical_partition(labelled.reshape(-1)[fg])
        # Background pixels are singletons that share a region with nobody.
        assert len(set(ours[~fg])) == int((~fg).sum())
        assert not set(ours[~fg]) & set(ours[fg])


def test_greedy_partition_matches_released_rule(device):
    num_pixels = HEIGHT * WIDTH
    graphs = torch.stack(
        [_random_symmetric_graph(num_pixels, 0.05, 7), _random_symmetric_graph(num_pixels, 0.15, 8)]
    )
    roots = greedy_pointer_roots(graphs.to(device)).cpu()
    region, counts = (t.cpu() for t in region_labels(graphs.to(device), "greedy"))
    for b in range(2):
        reference = greedy_reference(graphs[b])
        assert roots[b].tolist() == reference
        assert canonical_partition(region[b].tolist()) == canonical_partition(reference)
        assert int(counts[b]) == len(set(reference))
    # Greedy and connected components differ in general.
    assert not torch.equal(region, region_labels(graphs, "components")[0])


@pytest.mark.parametrize("rule", ["components", "greedy"])
def test_region_edge_cases_single_region_and_singletons(rule):
    num_pixels = HEIGHT * WIDTH
    everything = torch.ones(1, num_pixels, num_pixels, dtype=torch.bool)
    nothing = torch.zeros(1, num_pixels, num_pixels, dtype=torch.bool)
    region, counts = region_labels(torch.cat([everything, nothing]), rule)
    assert counts.tolist() == [1, num_pixels]
    assert torch.all(region[0] == 0)
    assert region[1].tolist() == list(range(num_pixels))
    with pytest.raises(ValueError, match="region_rule"):
        region_labels(everything, "watershed")


def test_representativeness_values_and_gradients_match_reference():
    torch.manual_seed(9)
    region = _region_maps()
    score = torch.rand(2, HEIGHT * WIDTH, HEIGHT * WIDTH, dtype=torch.float64, requires_grad=True)
    j_values = region_representativeness(score, region)
    upstream = torch.rand_like(j_values)
    (grad,) = torch.autograd.grad((j_values * upstream).sum(), score)
    for b in range(2):
        reference = representativeness_reference(score[b], region[b].tolist())
        (reference_grad,) = torch.autograd.grad((reference * upstream[b]).sum(), score)
        torch.testing.assert_close(j_values[b], reference)
        torch.testing.assert_close(grad[b], reference_grad[b])


@pytest.mark.parametrize("bounded", [False, True], ids=["counted", "bounded"])
@pytest.mark.parametrize("k", [1, 3, 8, 100])
def test_representatives_match_reference_and_stay_inside_their_region(k, bounded, device):
    torch.manual_seed(10)
    region = _region_maps()
    j_values = torch.rand(2, HEIGHT * WIDTH)
    j_values[0, :4] = 0.5  # ties are broken by raster order
    # Bounded: the list is as long as the map (any partition fits), whatever the batch holds.
    width = HEIGHT * WIDTH if bounded else None
    reps = select_representatives(j_values.to(device), region.to(device), k, width=width)
    reps = type(reps)(*(t.cpu() for t in reps))
    assert not bounded or reps.pixel.shape[1] == HEIGHT * WIDTH
    for b in range(2):
        expected = representatives_reference(j_values[b], region[b].tolist(), k)
        got: dict[int, list[int]] = {}
        for pixel, reg, ok in zip(reps.pixel[b].tolist(), reps.region[b].tolist(), reps.valid[b].tolist()):
            if ok:
                got.setdefault(reg, []).append(pixel)
                assert int(region[b, pixel]) == reg
        assert got == expected
        assert int(reps.valid[b].sum()) == sum(len(v) for v in expected.values())
        assert torch.all(reps.region[b][~reps.valid[b]] == -1)
    if k < 8:
        # The two images have different numbers of regions, so one of them is padded.
        assert reps.valid.sum(1)[0] != reps.valid.sum(1)[1]
    with pytest.raises(ValueError, match="num_representatives"):
        select_representatives(j_values, region, 0)


def test_masked_and_segment_softmax_handle_empty_rows():
    scores = torch.randn(1, 3, 4, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[[True, False, True, True], [False] * 4, [True, True, False, False]]])
    weights = masked_softmax(scores, mask)
    assert torch.all(weights[0, 1] == 0) and torch.allclose(
        weights.sum(-1)[0, [0, 2]], torch.ones(2).double()
    )
    segments = torch.tensor([[0, 1, 1, 0]])
    seg = segment_softmax(scores, mask, segments, 2)
    # Row 0: keys {0, 3} in segment 0 and key {2} in segment 1, each normalised separately.
    assert torch.isclose(seg[0, 0, 2], torch.tensor(1.0).double())
    torch.testing.assert_close(seg[0, 0, [0, 3]], torch.softmax(scores[0, 0, [0, 3]], 0))
    (weights.sum() + seg.sum()).backward()
    assert torch.isfinite(scores.grad).all()


def _rib(features, j_values, region, reps, paper, scale, bounded=False):
    local = local_collection(
        features,
        features,
        j_values,
        region,
        reps.pixel,
        reps.region,
        reps.valid,
        restrict_to_region=paper,
        scale=scale,
    )
    rep_j = j_values.gather(1, reps.pixel)
    glob = global_interaction(
        local,
        rep_j,
        reps.region,
        reps.valid,
        region.shape[1] if bounded else int(region.max()) + 1,
        exclude_own_region=paper,
        softmax_mode="per_region" if paper else "joint",
        scale=scale,
        bounded=bounded,
    )
    out = distribution(
        features,
        features,
        j_values,
        region,
        glob,
        rep_j,
        reps.region,
        reps.valid,
        restrict_to_region=paper,
        scale=scale,
    )
    return local, glob, out


@pytest.mark.parametrize("bounded", [False, True], ids=["counted", "bounded"])
@pytest.mark.parametrize("paper", [True, False], ids=["paper", "official"])
def test_region_attentions_values_and_gradients_match_reference(paper, bounded, device):
    torch.manual_seed(11)
    region = _region_maps()
    num_pixels, channels = HEIGHT * WIDTH, 4
    features = torch.randn(2, num_pixels, channels, dtype=torch.float64, requires_grad=True)
    j_values = torch.rand(2, num_pixels, dtype=torch.float64, requires_grad=True)
    on_device = [t.detach().to(device).requires_grad_() for t in (features, j_values)]
    width = num_pixels if bounded else None
    reps = select_representatives(on_device[1].detach(), region.to(device), 3, width=width)
    local, glob, out = _rib(*on_device, region.to(device), reps, paper, scale=not paper, bounded=bounded)
    upstream = torch.randn(out.shape, dtype=out.dtype)
    grads = [g.cpu() for g in torch.autograd.grad((out * upstream.to(device)).sum(), on_device)]
    reps = type(reps)(*(t.cpu() for t in reps))
    local, glob, out = local.cpu(), glob.cpu(), out.cpu()
    for b in range(2):
        groups = representatives_reference(j_values[b].detach(), region[b].tolist(), 3)
        ref_local, ref_glob, ref_out = rib_reference(
            features[b], j_values[b], region[b].tolist(), groups, paper, scale=not paper
        )
        ref_grads = torch.autograd.grad((ref_out * upstream[b]).sum(), (features, j_values))
        position = {}
        for slot, (reg, ok) in enumerate(zip(reps.region[b].tolist(), reps.valid[b].tolist())):
            if ok:
                position[(reg, len([key for key in position if key[0] == reg]))] = slot
        assert set(position) == set(ref_local)
        for key, slot in position.items():
            torch.testing.assert_close(local[b, slot], ref_local[key])
            torch.testing.assert_close(glob[b, slot], ref_glob[key])
        torch.testing.assert_close(out[b], ref_out)
        torch.testing.assert_close(grads[0][b], ref_grads[0][b])
        torch.testing.assert_close(grads[1][b], ref_grads[1][b])
        assert torch.all(local[b][~reps.valid[b]] == 0)


@pytest.mark.parametrize("paper", [True, False], ids=["paper", "official"])
def test_region_attentions_edge_cases_single_region_and_singletons(paper):
    torch.manual_seed(12)
    num_pixels = HEIGHT * WIDTH
    region = torch.stack([torch.zeros(num_pixels, dtype=torch.long), torch.arange(num_pixels)])
    features = torch.randn(2, num_pixels, 3, dtype=torch.float64, requires_grad=True)
    j_values = torch.rand(2, num_pixels, dtype=torch.float64, requires_grad=True)
    reps = select_representatives(j_values.detach(), region, 8)
    assert reps.valid.sum(1).tolist() == [8, num_pixels]
    _, _, out = _rib(features, j_values, region, reps, paper, scale=True)
    out.square().sum().backward()
    assert (
        torch.isfinite(out).all()
        and torch.isfinite(features.grad).all()
        and torch.isfinite(j_values.grad).all()
    )
    if paper:
        # A singleton region has no non-representative pixel and only itself to distribute from.
        singles = j_values[1].unsqueeze(-1) * features[1]
        glob_term = out[1] - singles
        assert torch.isfinite(glob_term).all()
