"""Slow, loop-based references of RANet's equations, written straight from the formulas.

The fast operators are tested against these; the few tests in this file check the references themselves
against values worked out by hand.
"""

from __future__ import annotations

import math
from collections import deque
from fractions import Fraction

import torch
from torch import Tensor


def boundary_max_reference(boundary: Tensor, endpoints: bool = False) -> Tensor:
    """D for one (H, W) map: released sampling, exact rational sample positions, autograd-friendly.

    With ``endpoints`` the two end pixels count as samples too: D_ij = max(b_i, b_j, samples between).
    """
    height, width = boundary.shape
    pixels = [(y, x) for y in range(height) for x in range(width)]
    zero = boundary.new_zeros(())
    rows = []
    for yi, xi in pixels:
        row = []
        for yj, xj in pixels:
            dy, dx = yj - yi, xj - xi
            length = max(abs(dy), abs(dx))
            samples = []
            for t in range(1, length):
                if abs(dx) >= abs(dy):
                    x = xi + t * dx // length
                    y = Fraction(yi) + Fraction(t * dy, length)
                    lower, frac = math.floor(y), float(y - math.floor(y))
                    value = (1 - frac) * boundary[lower, x]
                    if frac > 0:
                        value = value + frac * boundary[lower + 1, x]
                else:
                    y = yi + t * dy // length
                    x = Fraction(xi) + Fraction(t * dx, length)
                    lower, frac = math.floor(x), float(x - math.floor(x))
                    value = (1 - frac) * boundary[y, lower]
                    if frac > 0:
                        value = value + frac * boundary[y, lower + 1]
                samples.append(value)
            if endpoints:
                samples += [boundary[yi, xi], boundary[yj, xj]]
            row.append(torch.clamp(torch.stack(samples).max(), min=0) if samples else zero)
        rows.append(torch.stack(row))
    return torch.stack(rows)


def full_jsd_reference(probs: Tensor) -> Tensor:
    """E for one image from probabilities (C, N): 1/2 sum_n [P_in log(P_in/M_n) + P_jn log(P_jn/M_n)]."""
    num_classes, num_pixels = probs.shape
    rows = []
    for i in range(num_pixels):
        row = []
        for j in range(num_pixels):
            total = probs.new_zeros(())
            for n in range(num_classes):
                m = (probs[n, i] + probs[n, j]) / 2
                total = (
                    total
                    + probs[n, i] * torch.log(probs[n, i] / m)
                    + probs[n, j] * torch.log(probs[n, j] / m)
                )
            row.append(total / 2)
        rows.append(torch.stack(row))
    return torch.stack(rows)


def binary_jsd_reference(probs: Tensor) -> Tensor:
    """Released binary form for one image (C, N): JSD of Bernoulli(P_i[c_i]) and Bernoulli(P_j[c_i])."""
    num_classes, num_pixels = probs.shape
    rows = []
    for i in range(num_pixels):
        c = int(torch.argmax(probs[:, i]))
        row = []
        for j in range(num_pixels):
            p = torch.clamp(probs[c, i], 0.001, 0.99)
            q = torch.clamp(probs[c, j], 0.001, 0.99)
            m = (p + q) / 2
            kl_p = p * torch.log(p / m) + (1 - p) * torch.log((1 - p) / (1 - m))
            kl_q = q * torch.log(q / m) + (1 - q) * torch.log((1 - q) / (1 - m))
            row.append((kl_p + kl_q) / 2)
        rows.append(torch.stack(row))
    return torch.stack(rows)


def components_reference(adjacency: Tensor) -> list[int]:
    """Connected components of an (N, N) bool graph by breadth-first search; labels by first pixel."""
    num_pixels = adjacency.shape[0]
    labels = [-1] * num_pixels
    next_label = 0
    for start in range(num_pixels):
        if labels[start] >= 0:
            continue
        labels[start] = next_label
        queue = deque([start])
        while queue:
            i = queue.popleft()
            for j in range(num_pixels):
                if bool(adjacency[i, j]) and labels[j] < 0:
                    labels[j] = next_label
                    queue.append(j)
        next_label += 1
    return labels


def greedy_reference(adjacency: Tensor) -> list[int]:
    """Released rule: parent(i) = smallest j <= i with G_ij (or i), followed to the root."""
    num_pixels = adjacency.shape[0]
    parent = []
    for i in range(num_pixels):
        linked = [j for j in range(i + 1) if bool(adjacency[i, j]) or j == i]
        parent.append(linked[0])
    roots = []
    for i in range(num_pixels):
        r = i
        while parent[r] != r:
            r = parent[r]
        roots.append(r)
    return roots


def canonical_partition(labels) -> list[int]:
    """Relabel a partition by order of first appearance so that equal partitions compare equal."""
    mapping: dict[int, int] = {}
    return [mapping.setdefault(int(v), len(mapping)) for v in labels]


def representativeness_reference(score: Tensor, region: list[int]) -> Tensor:
    """J_i = (1/|R_q|) sum_{j in R_q} score_ij for one image."""
    values = []
    for i, q in enumerate(region):
        members = [j for j, r in enumerate(region) if r == q]
        values.append(sum(score[i, j] for j in members) / len(members))
    return torch.stack(values)


def representatives_reference(j_values: Tensor, region: list[int], k: int) -> dict[int, list[int]]:
    """phi(R_q): the k members with the highest J (ties by raster order), all members if fewer."""
    result: dict[int, list[int]] = {}
    for q in sorted(set(region)):
        members = [i for i, r in enumerate(region) if r == q]
        members.sort(key=lambda i: (-float(j_values[i]), i))
        result[q] = members[:k]
    return result


def _softmax_sum(query: Tensor, keys: list[Tensor], scale: float) -> Tensor:
    """sum_k softmax_k(query . key_k) key_k, zero when there are no keys."""
    if not keys:
        return torch.zeros_like(query)
    stacked = torch.stack(keys)
    weights = torch.softmax(stacked @ query / scale, dim=0)
    return (weights.unsqueeze(1) * stacked).sum(0)


def rib_reference(
    features: Tensor,
    j_values: Tensor,
    region: list[int],
    reps: dict[int, list[int]],
    paper: bool,
    scale: bool = False,
) -> tuple[dict[tuple[int, int], Tensor], dict[tuple[int, int], Tensor], Tensor]:
    """The three RIB attentions for one image; features (N, C). Returns A^l, A^g (keyed by (q, k)) and O.

    paper=True: region-restricted collection over R_q minus phi(R_q), interaction with every other
    region normalised per region, distribution from the own region. paper=False: the released code's
    unrestricted versions (all pixels; one softmax over all representatives; all representatives).
    """
    num_pixels, channels = features.shape
    s = math.sqrt(channels) if scale else 1.0
    local = {}
    for q, members in reps.items():
        for k, p in enumerate(members):
            if paper:
                pool = [i for i in range(num_pixels) if region[i] == q and i not in members]
            else:
                pool = list(range(num_pixels))
            keys = [j_values[i] * features[i] for i in pool]
            local[(q, k)] = j_values[p] * features[p] + _softmax_sum(features[p], keys, s)
    glob = {}
    for q, members in reps.items():
        for k, p in enumerate(members):
            total = j_values[p] * local[(q, k)]
            if paper:
                for other, other_members in reps.items():
                    if other == q:
                        continue
                    keys = [j_values[o] * local[(other, kk)] for kk, o in enumerate(other_members)]
                    total = total + _softmax_sum(local[(q, k)], keys, s)
            else:
                keys = [j_values[o] * local[(qq, kk)] for qq, mm in reps.items() for kk, o in enumerate(mm)]
                total = total + _softmax_sum(local[(q, k)], keys, s)
            glob[(q, k)] = total
    outputs = []
    for i in range(num_pixels):
        if paper:
            keys = [j_values[p] * glob[(region[i], k)] for k, p in enumerate(reps[region[i]])]
        else:
            keys = [j_values[p] * glob[(q, k)] for q, mm in reps.items() for k, p in enumerate(mm)]
        outputs.append(j_values[i] * features[i] + _softmax_sum(features[i], keys, s))
    return local, glob, torch.stack(outputs)


def test_boundary_reference_hand_values():
    boundary = torch.tensor([[0.1, 0.7, 0.3, 0.2], [0.9, 0.4, 0.6, 0.5]])
    table = boundary_max_reference(boundary)
    # Same row: samples at the integer pixels strictly between the endpoints.
    assert torch.isclose(table[0, 3], torch.tensor(0.7))
    assert torch.isclose(table[3, 0], torch.tensor(0.7))
    # 8-neighbours and the pixel itself have no interior sample.
    assert table[0, 1] == 0 and table[0, 5] == 0 and table[0, 0] == 0
    # (0,0) -> (1,3): x-major, L = 3; t=1 at (1/3, 1), t=2 at (2/3, 2).
    expected = max((2 / 3) * 0.7 + (1 / 3) * 0.4, (1 / 3) * 0.3 + (2 / 3) * 0.6)
    assert torch.isclose(table[0, 7], torch.tensor(expected))


def test_jsd_and_partition_references_hand_values():
    probs = torch.tensor([[0.5, 1.0], [0.5, 1e-12]]).double()
    # JSD((1/2, 1/2), (1, 0)) = 1/2 [1/2 ln(2/3) + 1/2 ln 2 + ln(4/3)] in nats.
    expected = 0.5 * (0.5 * math.log(2 / 3) + 0.5 * math.log(2.0) + math.log(4 / 3))
    assert abs(float(full_jsd_reference(probs)[0, 1]) - expected) < 1e-9
    graph = torch.tensor([[1, 0, 1, 0], [0, 1, 0, 0], [1, 0, 1, 1], [0, 0, 1, 1]], dtype=torch.bool)
    assert components_reference(graph) == [0, 1, 0, 0]
    # Greedy: parent(3) = 2 (smallest linked index <= 3), parent(2) = 0.
    assert greedy_reference(graph) == [0, 1, 0, 0]
    assert canonical_partition([5, 5, 2, 7]) == [0, 0, 1, 2]
