"""The local transfer module's correlation and shift: pure PyTorch, any device.

ATNet computes the local affinity with FlowNet2's CUDA correlation package (``kernel_size=1``,
``stride1=1``). With a 1 x 1 kernel that operation is a dot product between a pixel of the first map
and displaced pixels of the second, averaged over channels::

    out[b, (j + R) * (2R + 1) + (i + R), y, x] = 1/C * sum_c f1[b, c, y, x] * f2[b, c, y + j*s, x + i*s]

for ``i, j`` in ``-R..R`` with ``R = max_displacement // stride`` and ``s`` the displacement stride,
on maps zero-padded by ``pad_size`` (the output keeps the input size when ``pad_size ==
max_displacement``, as in ATNet). Channel order: vertical displacement major, horizontal minor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["displacements", "local_correlation", "shift_zero"]


def displacements(max_displacement: int, stride: int) -> list[tuple[int, int]]:
    """``(dy, dx)`` pixel offsets in the order of the correlation's output channels."""
    radius = max_displacement // stride
    steps = range(-radius, radius + 1)
    return [(j * stride, i * stride) for j in steps for i in steps]


def local_correlation(
    f1: torch.Tensor, f2: torch.Tensor, max_displacement: int, stride: int, pad_size: int | None = None
) -> torch.Tensor:
    """FlowNet2's correlation with a 1 x 1 kernel and ``stride1 = 1``.

    Args:
        f1: ``B x C x H x W`` reference features (the target frame in ATNet).
        f2: ``B x C x H x W`` features read at displaced positions (the previous frame).
        max_displacement: Largest displacement in pixels.
        stride: Step between displacements (FlowNet2's ``stride2``).
        pad_size: Zero padding of both maps; default ``max_displacement``.

    Returns:
        ``B x D x H' x W'`` with ``D = (2 * (max_displacement // stride) + 1) ** 2`` and
        ``H' = H + 2 * pad_size - 2 * max_displacement`` (likewise ``W'``).

    Raises:
        ValueError: If the maps differ in shape or the padding leaves no output.
    """
    if f1.shape != f2.shape or f1.dim() != 4:
        raise ValueError(
            f"correlation needs two B x C x H x W maps of one shape, got {f1.shape} and {f2.shape}"
        )
    pad = max_displacement if pad_size is None else int(pad_size)
    _, channels, height, width = f1.shape
    out_h, out_w = height + 2 * pad - 2 * max_displacement, width + 2 * pad - 2 * max_displacement
    if out_h < 1 or out_w < 1:
        raise ValueError(f"pad_size={pad} with max_displacement={max_displacement} leaves no output")
    p1 = F.pad(f1, (pad, pad, pad, pad))
    p2 = F.pad(f2, (pad, pad, pad, pad))
    top = left = max_displacement
    ref = p1[:, :, top : top + out_h, left : left + out_w]
    # One product per displacement, each vectorised over pixels and channels.
    planes = [
        (ref * p2[:, :, top + dy : top + dy + out_h, left + dx : left + dx + out_w]).sum(dim=1)
        for dy, dx in displacements(max_displacement, stride)
    ]
    return torch.stack(planes, dim=1) / channels


def shift_zero(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``out[..., y, x] = x[..., y + dy, x + dx]``, zero where that falls outside the map.

    This is what ATNet's ``LTM_transfer.warp`` computes for integer displacements: bilinear
    ``grid_sample`` at the displaced pixel centres (exact there with the corner-aligned grid of
    PyTorch <= 1.2, which the released code was written for), masked to zero outside the image.
    """
    height, width = x.shape[-2:]
    out = torch.zeros_like(x)
    ys, yd = (
        (slice(dy, height), slice(0, height - dy)) if dy >= 0 else (slice(0, height + dy), slice(-dy, height))
    )
    xs, xd = (
        (slice(dx, width), slice(0, width - dx)) if dx >= 0 else (slice(0, width + dx), slice(-dx, width))
    )
    if abs(dy) < height and abs(dx) < width:
        out[..., yd, xd] = x[..., ys, xs]
    return out
