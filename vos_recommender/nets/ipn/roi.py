"""IPN's region of interest: a box around the object and its scribbles, sampled at a fixed size.

Both networks work on a square crop (256 x 256 as released) of the frame. The box is the bounding box
of every pixel of the given maps at or above 0.49, grown to at least ``min_size`` pixels per side,
scaled by 1.5 about its centre and clipped to 5 pixels beyond the image. The crop and its inverse are
bilinear affine warps with ``align_corners=True``; the inverse warp maps the crop's probabilities
back onto the full frame (zero outside the box).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

__all__ = ["RoiWarp", "roi_box"]


def roi_box(maps: list[torch.Tensor], min_size: int = 128, scale: float = 1.5) -> np.ndarray:
    """``(y, x, h, w)`` float32 box of the pixels >= 0.49 of ``H x W`` maps (the whole frame if none).

    The arithmetic (integer growth to ``min_size``, the ``+ 1`` of the extents, the 5-pixel margin)
    follows the released code, since the box decides which pixels the networks see.
    """
    height, width = maps[0].shape[-2:]
    ys: list[np.ndarray] = []
    xs: list[np.ndarray] = []
    for m in maps:
        rows, cols = np.nonzero(m.detach().cpu().numpy().reshape(height, width) >= 0.49)
        ys.append(rows)
        xs.append(cols)
    all_ys, all_xs = np.concatenate(ys), np.concatenate(xs)
    if all_ys.size == 0:
        ymin, ymax, xmin, xmax = 0, height, 0, width
    else:
        ymin, ymax, xmin, xmax = all_ys.min(), all_ys.max(), all_xs.min(), all_xs.max()
    if ymax - ymin < min_size:
        grow = int((min_size - (ymax - ymin)) / 2)
        ymin, ymax = ymin - grow, ymax + grow
    if xmax - xmin < min_size:
        grow = int((min_size - (xmax - xmin)) / 2)
        xmin, xmax = xmin - grow, xmax + grow
    extent_h, extent_w = ymax - ymin + 1, xmax - xmin + 1
    ymin = np.maximum(-5, ymin - (scale - 1) / 2.0 * extent_h)
    ymax = np.minimum(height + 5, ymax + (scale - 1) / 2.0 * extent_h)
    xmin = np.maximum(-5, xmin - (scale - 1) / 2.0 * extent_w)
    xmax = np.minimum(width + 5, xmax + (scale - 1) / 2.0 * extent_w)
    return np.array(
        [(ymax + ymin) / 2.0, (xmax + xmin) / 2.0, ymax - ymin + 1, xmax - xmin + 1], dtype=np.float32
    )


class RoiWarp:
    """Forward (frame -> crop) and backward (crop -> frame) sampling grids of one box.

    Args:
        box: ``(y, x, h, w)`` from :func:`roi_box`.
        frame_size: ``(H, W)`` of the frame.
        crop_size: Side of the square crop.
        dtype: Floating type of the grids.
        device: Device of the grids.
    """

    def __init__(
        self,
        box: np.ndarray,
        frame_size: tuple[int, int],
        crop_size: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        y, x, h, w = (torch.tensor(float(v), dtype=torch.float32) for v in box)
        ymin, ymax, xmin, xmax = y - h / 2.0, y + h / 2.0, x - w / 2.0, x + w / 2.0
        height, width = frame_size
        theta = torch.zeros(1, 2, 3)
        theta[:, 0, 0] = (xmax - xmin) / (width - 1)
        theta[:, 0, 2] = (xmin + xmax - (width - 1)) / (width - 1)
        theta[:, 1, 1] = (ymax - ymin) / (height - 1)
        theta[:, 1, 2] = (ymin + ymax - (height - 1)) / (height - 1)
        # The inverse's scale is W / (xmax - xmin), not (W - 1) / ..., as released: the crop maps back
        # slightly shrunk, which is kept for equal outputs.
        det = theta[:, 0, 0] * theta[:, 1, 1]
        inverse = torch.zeros(1, 2, 3)
        inverse[:, 0, 0] = width / (xmax - xmin)
        inverse[:, 1, 1] = height / (ymax - ymin)
        inverse[:, 0, 2] = -theta[:, 0, 2] * theta[:, 1, 1] / det
        inverse[:, 1, 2] = -theta[:, 0, 0] * theta[:, 1, 2] / det
        theta, inverse = theta.to(device=device, dtype=dtype), inverse.to(device=device, dtype=dtype)
        self.forward_grid = F.affine_grid(theta, [1, 1, crop_size, crop_size], align_corners=True)
        self.backward_grid = F.affine_grid(inverse, [1, 1, height, width], align_corners=True)

    def crop(self, image: torch.Tensor) -> torch.Tensor:
        """Sample ``B x C x H x W`` (or ``B x H x W``) into the crop."""
        if image.dim() == 3:
            image = image.unsqueeze(1).to(self.forward_grid.dtype)
            return F.grid_sample(image, self.forward_grid, align_corners=True)[:, 0]
        return F.grid_sample(image, self.forward_grid, align_corners=True)

    def paste(self, crop: torch.Tensor) -> torch.Tensor:
        """Sample ``B x C x s x s`` back onto the frame (zeros outside the box)."""
        return F.grid_sample(crop, self.backward_grid, align_corners=True)
