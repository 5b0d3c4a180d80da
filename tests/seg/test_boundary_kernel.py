"""The compiled boundary operator D against a slow loop written from the formula, and against the
pure-PyTorch operator.

Formula (released sampling): for d = p_j - p_i and L = max(|dx|, |dy|), samples at p_i + t * d / L for
t = 1 .. L - 1, the major-axis coordinate an integer and the minor one linearly interpolated;
D_ij = max(0, max_t sample), 0 for L <= 1. The gradient of D_ij and of D_ji goes to the first maximal sample
counted from the raster-earlier pixel (the convention of ``boundary_max_table``).
"""

from __future__ import annotations

import math
import shutil
from fractions import Fraction

import pytest
import torch
from torch import Tensor

from mmseg_ranet.models.ops import boundary_max_table
from mmseg_ranet.models.ops._compiled import (
    boundary_max_table_compiled,
    compiled_available,
    compiled_unavailable_reason,
    load_extension,
)

HAS_COMPILER = any(shutil.which(name) for name in ("c++", "g++"))

requires_compiled = pytest.mark.skipif(
    not compiled_available(),
    reason=f"compiled boundary operator unavailable: {compiled_unavailable_reason()}",
)


def loop_reference(boundary: Tensor) -> Tensor:
    """D for one (H, W) map, one pair and one sample at a time, autograd-friendly."""
    height, width = boundary.shape
    pixels = [(y, x) for y in range(height) for x in range(width)]
    zero = boundary.new_zeros(())
    rows = []
    for i in range(len(pixels)):
        row = []
        for j in range(len(pixels)):
            # Walk from the raster-earlier pixel: this fixes which sample wins a tie (gradient routing).
            (ys, xs), (ye, xe) = (pixels[i], pixels[j]) if i < j else (pixels[j], pixels[i])
            dy, dx = ye - ys, xe - xs
            length = max(abs(dy), abs(dx))
            samples = []
            for t in range(1, length):
                y = Fraction(ys) + Fraction(t * dy, length)
                x = Fraction(xs) + Fraction(t * dx, length)
                if abs(dx) >= abs(dy):  # x is the major axis (diagonals included): x is an integer
                    assert x.denominator == 1
                    lower_y = math.floor(y)
                    frac = float(y - lower_y)
                    a = boundary[lower_y, int(x)]
                    c = boundary[lower_y + 1, int(x)] if frac > 0 else a
                else:
                    assert y.denominator == 1
                    lower_x = math.floor(x)
                    frac = float(x - lower_x)
                    a = boundary[int(y), lower_x]
                    c = boundary[int(y), lower_x + 1] if frac > 0 else a
                # Linear interpolation written as a + f (c - a), which is exact when a == c, so samples of a
                # flat map tie exactly and the tie rule (first maximum) decides.
                samples.append(a + frac * (c - a))
            if samples:
                # max(dim=0) returns the first maximal index on ties, and autograd routes to it alone.
                row.append(torch.clamp(torch.stack(samples).max(dim=0).values, min=0))
            else:
                row.append(zero)
        rows.append(torch.stack(row))
    return torch.stack(rows)


def _maps(kind: str, shape: tuple[int, int, int], dtype: torch.dtype) -> Tensor:
    seed = (
        ["uniform", "signed", "ties", "constant", "negative_constant"].index(kind) * 1000
        + shape[1] * 31
        + shape[2]
    )
    generator = torch.Generator().manual_seed(seed)
    if kind == "uniform":
        return torch.rand(shape, generator=generator, dtype=dtype)
    if kind == "signed":
        return torch.randn(shape, generator=generator, dtype=dtype)
    if kind == "ties":
        # Three levels only: many samples of a segment are exactly equal.
        return torch.randint(0, 3, shape, generator=generator).to(dtype) / 2
    if kind == "constant":
        return torch.stack(
            [torch.full(shape[1:], 0.5, dtype=dtype), torch.full(shape[1:], 0.0, dtype=dtype)]
        )[: shape[0]]
    if kind == "negative_constant":
        return torch.full(shape, -0.25, dtype=dtype)
    raise ValueError(kind)


def _values_and_grads(fn, boundary: Tensor, upstream: Tensor) -> tuple[Tensor, Tensor]:
    boundary = boundary.detach().clone().requires_grad_(True)
    table = fn(boundary)
    (grad,) = torch.autograd.grad((table * upstream).sum(), boundary)
    return table.detach(), grad


def _reference_batch(boundary: Tensor) -> Tensor:
    return torch.stack([loop_reference(b) for b in boundary.unbind(0)])


def test_compiled_operator_is_available_where_a_compiler_is():
    if not HAS_COMPILER:
        pytest.skip("no C++ compiler (c++/g++) on PATH: the compiled operator cannot be built here")
    assert compiled_available(), compiled_unavailable_reason()
    assert load_extension().built_with_openmp()


def test_loop_reference_hand_values():
    # 3 x 5 map; the segment (0, 0) -> (1, 4) is x-major with L = 4: samples at x = 1, 2, 3 and
    # y = 1/4, 1/2, 3/4.
    boundary = torch.tensor(
        [[0.0, 0.2, 0.4, 0.1, 0.0], [0.0, 0.6, 0.0, 0.9, 0.0], [0.3, 0.3, 0.3, 0.3, 0.3]], dtype=torch.float64
    )
    table = loop_reference(boundary)
    samples = [0.75 * 0.2 + 0.25 * 0.6, 0.5 * 0.4 + 0.5 * 0.0, 0.25 * 0.1 + 0.75 * 0.9]
    assert table[0, 9].item() == pytest.approx(max(samples))
    assert table[9, 0].item() == pytest.approx(max(samples))
    # Along the first row: (0, 0) -> (0, 4) reads 0.2, 0.4, 0.1 exactly.
    assert table[0, 4].item() == pytest.approx(0.4)
    # Diagonal (0, 0) -> (2, 2) reads (1, 1) only; neighbours and the pixel itself give 0.
    assert table[0, 12].item() == pytest.approx(0.6)
    assert table[0, 6].item() == 0 and table[0, 1].item() == 0 and table[7, 7].item() == 0
    # y-major (0, 0) -> (2, 1): L = 2, one sample at (1, 1/2).
    assert table[0, 11].item() == pytest.approx(0.3)


@requires_compiled
@pytest.mark.parametrize("shape", [(2, 7, 9), (2, 5, 5)])
@pytest.mark.parametrize("kind", ["uniform", "signed", "ties", "constant", "negative_constant"])
def test_compiled_matches_loop_reference_float64(shape, kind):
    boundary = _maps(kind, shape, torch.float64)
    num_pixels = shape[1] * shape[2]
    upstream = torch.rand(
        shape[0], num_pixels, num_pixels, dtype=torch.float64, generator=torch.Generator().manual_seed(3)
    )
    table, grad = _values_and_grads(boundary_max_table_compiled, boundary, upstream)
    reference, reference_grad = _values_and_grads(_reference_batch, boundary, upstream)
    torch.testing.assert_close(table, reference, rtol=0, atol=1e-12)
    torch.testing.assert_close(grad, reference_grad, rtol=0, atol=1e-10)
    assert table.dtype == torch.float64 and table.shape == (shape[0], num_pixels, num_pixels)
    if kind in ("constant", "ties"):
        # Ties must route the whole gradient of a pair to one sample, not split it.
        assert grad.abs().sum() > 0


@requires_compiled
@pytest.mark.parametrize("kind", ["uniform", "signed", "ties"])
def test_compiled_matches_loop_reference_float32(kind):
    boundary = _maps(kind, (2, 7, 9), torch.float32)
    upstream = torch.rand(2, 63, 63, generator=torch.Generator().manual_seed(4))
    table, grad = _values_and_grads(boundary_max_table_compiled, boundary, upstream)
    reference, reference_grad = _values_and_grads(_reference_batch, boundary, upstream)
    assert table.dtype == torch.float32
    torch.testing.assert_close(table, reference, rtol=0, atol=1e-6)
    # Gradients sum tens of pairs per pixel in float32: compare relative to their size.
    torch.testing.assert_close(grad, reference_grad, rtol=1e-5, atol=1e-5)


@requires_compiled
def test_compiled_gradcheck_float64():
    boundary = torch.rand(2, 4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    boundary.requires_grad_(True)
    assert torch.autograd.gradcheck(boundary_max_table_compiled, (boundary,))


@requires_compiled
def test_compiled_sparse_upstream_gradient():
    # Most upstream gradients zero (as after masking): the skipped recomputations must not lose any pair.
    boundary = _maps("uniform", (2, 7, 9), torch.float64)
    generator = torch.Generator().manual_seed(6)
    upstream = torch.rand(2, 63, 63, dtype=torch.float64, generator=generator)
    upstream = upstream * (torch.rand(2, 63, 63, generator=generator, dtype=torch.float64) < 0.03)
    # Only one direction of some pairs carries gradient: it must still reach the shared sample.
    upstream = torch.triu(upstream)
    _, grad = _values_and_grads(boundary_max_table_compiled, boundary, upstream)
    _, reference_grad = _values_and_grads(_reference_batch, boundary, upstream)
    torch.testing.assert_close(grad, reference_grad, rtol=0, atol=1e-12)


@requires_compiled
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_matches_pytorch_operator_24x24(dtype):
    boundary = torch.rand(2, 24, 24, dtype=dtype, generator=torch.Generator().manual_seed(7))
    upstream = torch.rand(2, 576, 576, dtype=dtype, generator=torch.Generator().manual_seed(8))
    table, grad = _values_and_grads(boundary_max_table_compiled, boundary, upstream)
    expected, expected_grad = _values_and_grads(boundary_max_table, boundary, upstream)
    tolerance = 1e-5 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(table, expected, rtol=0, atol=1e-6 if dtype == torch.float32 else 1e-12)
    torch.testing.assert_close(grad, expected_grad, rtol=tolerance, atol=tolerance)


@requires_compiled
def test_compiled_result_does_not_depend_on_thread_count():
    boundary = torch.rand(2, 13, 17, generator=torch.Generator().manual_seed(9))
    upstream = torch.rand(2, 221, 221, generator=torch.Generator().manual_seed(10))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = _values_and_grads(boundary_max_table_compiled, boundary, upstream)
        torch.set_num_threads(max(2, threads))
        multi = _values_and_grads(boundary_max_table_compiled, boundary, upstream)
        again = _values_and_grads(boundary_max_table_compiled, boundary, upstream)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(single[0], multi[0])
    torch.testing.assert_close(single[1], multi[1], rtol=1e-5, atol=1e-5)
    # Fixed thread count: bitwise reproducible gradients.
    assert torch.equal(multi[1], again[1])


@requires_compiled
@pytest.mark.parametrize(
    "shape", [(1, 1, 1), (3, 1, 2), (1, 2, 2), (2, 1, 7), (2, 6, 1), (1, 3, 11), (0, 4, 4)]
)
def test_compiled_degenerate_shapes(shape):
    boundary = torch.rand(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(11))
    table = boundary_max_table_compiled(boundary)
    num_pixels = shape[1] * shape[2]
    assert table.shape == (shape[0], num_pixels, num_pixels)
    if shape[0]:
        torch.testing.assert_close(table, _reference_batch(boundary), rtol=0, atol=1e-12)
    if max(shape[1:]) <= 2:
        assert torch.count_nonzero(table) == 0


@requires_compiled
def test_compiled_non_contiguous_input_and_upstream():
    base = torch.rand(2, 9, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(12))
    boundary = base.transpose(1, 2)  # (2, 7, 9), not contiguous
    assert not boundary.is_contiguous()
    leaf = boundary.detach().clone().requires_grad_(True)
    table = boundary_max_table_compiled(leaf.transpose(1, 2).transpose(1, 2))
    torch.testing.assert_close(table, _reference_batch(boundary.contiguous()), rtol=0, atol=1e-12)
    # An expanded (stride 0) upstream gradient, as produced by .sum().
    table.sum().backward()
    _, reference_grad = _values_and_grads(
        _reference_batch, boundary, torch.ones(2, 63, 63, dtype=torch.float64)
    )
    torch.testing.assert_close(leaf.grad, reference_grad, rtol=0, atol=1e-10)


@requires_compiled
def test_compiled_rejects_bad_inputs_with_clear_errors():
    with pytest.raises(ValueError, match=r"shape \(B, H, W\)"):
        boundary_max_table_compiled(torch.rand(4, 4))
    with pytest.raises(ValueError, match=r"shape \(B, H, W\)"):
        boundary_max_table_compiled(torch.rand(1, 1, 4, 4))
    with pytest.raises(TypeError, match="float32 or float64"):
        boundary_max_table_compiled(torch.ones(1, 4, 4, dtype=torch.int64))
    with pytest.raises(TypeError, match="float32 or float64"):
        boundary_max_table_compiled(torch.ones(1, 4, 4, dtype=torch.float16))
    with pytest.raises(TypeError, match="Tensor"):
        boundary_max_table_compiled([[0.0, 1.0]])
    # The C++ entry points check for themselves too (for callers that bypass the Python wrapper).
    module = load_extension()
    with pytest.raises(RuntimeError, match=r"shape \(B, H, W\)"):
        module.boundary_max_table_forward(torch.rand(4, 4))
    with pytest.raises(RuntimeError, match="float32 or float64"):
        module.boundary_max_table_forward(torch.ones(1, 4, 4, dtype=torch.int32))
    with pytest.raises(RuntimeError, match="grad_table must have shape"):
        module.boundary_max_table_backward(torch.rand(1, 15, 16), torch.rand(1, 4, 4))
