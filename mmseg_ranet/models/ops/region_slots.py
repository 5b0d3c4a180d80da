"""A region x slot table layout of the padded representative list, for attentions restricted by region.

The representative list (B, M) of :func:`select_representatives` is flat and padded per image. The
region-restricted attentions need "the representatives of pixel i's region" instead: a table with one row
per (image, region) and ``width`` slots per row (width = the most representatives any region has, at most
K). Pixel i of image b reads row ``b * R + region[b, i]``. Conversions between the list and the table are
index selects, so gradients pass through them.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .region_representatives import Representatives


class RegionSlots(NamedTuple):
    """Where every representative sits in the (image x region, slot) table.

    Attributes:
        pixel_row (Tensor): int64 (B * N,) table row of every pixel.
        num_rows (int): B * R, R the largest region count in the batch.
        width (int): Slots per row.
        slot_valid (Tensor): bool (B * R, width), True where a slot holds a representative.
        list_to_slot (Tensor): int64 (B * M,) flat slot of every list entry; padding points past the end.
        slot_to_list (Tensor): int64 (B * R * width,) flat list entry of every slot; empty slots point past
            the end.
        pixel_order (Tensor, optional): int64 (B * N,) pixels sorted by table row (stable), so that every
            region is a contiguous run; None when they already are (e.g. one region per image).
        pixel_unorder (Tensor, optional): The inverse permutation of ``pixel_order``.
        bounded (bool): The table is sized by static bounds (R = N regions, K slots), not by the counts
            of the batch: nothing about it was read on the host, and the products over it must not read
            anything either (``segment_products``' ``large_rows=False``).
    """

    pixel_row: Tensor
    num_rows: int
    width: int
    slot_valid: Tensor
    list_to_slot: Tensor
    slot_to_list: Tensor
    pixel_order: Tensor | None = None
    pixel_unorder: Tensor | None = None
    bounded: bool = False

    def sorted_pixels(self, items: Tensor) -> Tensor:
        """Per-pixel (B * N, ...) items in ``pixel_order``."""
        return items if self.pixel_order is None else items.index_select(0, self.pixel_order)

    def unsorted_pixels(self, items: Tensor) -> Tensor:
        """Inverse of :meth:`sorted_pixels`."""
        return items if self.pixel_unorder is None else items.index_select(0, self.pixel_unorder)

    def to_table(self, items: Tensor) -> Tensor:
        """(B, M, C) list -> (B * R, width, C) table; empty slots are zero."""
        flat = items.reshape(-1, items.shape[-1])
        padded = torch.cat([flat, flat.new_zeros(1, flat.shape[1])])
        return padded.index_select(0, self.slot_to_list).view(self.num_rows, self.width, flat.shape[1])

    def to_list(self, table: Tensor, batch: int) -> Tensor:
        """(B * R, width, C) table -> (B, M, C) list; padded entries are zero."""
        flat = table.reshape(-1, table.shape[-1])
        padded = torch.cat([flat, flat.new_zeros(1, flat.shape[1])])
        return padded.index_select(0, self.list_to_slot).view(batch, -1, flat.shape[1])


@torch.no_grad()
def region_slots(region: Tensor, reps: Representatives, slots_per_region: int | None = None) -> RegionSlots:
    """The table layout of ``reps`` for the region map ``region``.

    Args:
        region (Tensor): Region ids (B, N), from 0.
        reps (Representatives): The padded representative list (B, M); its entries of one region keep
            their list order inside the row (the decreasing-J order of :func:`select_representatives`).
        slots_per_region (int, optional): None sizes the table by the batch (the largest region id and
            the most representatives of a region, read on the host: a sync on an accelerator). A number
            (K) sizes it by static bounds instead: R = N rows per image and that many slots per row, with
            pixels always sorted by row; the table is then ``bounded``.

    Returns:
        RegionSlots: the layout.
    """
    if region.dim() != 2 or reps.pixel.dim() != 2 or region.shape[0] != reps.pixel.shape[0]:
        raise ValueError(
            f"region must be (B, N) and the representatives (B, M) with the same B, got region "
            f"{tuple(region.shape)} and representatives {tuple(reps.pixel.shape)}"
        )
    batch, num_pixels = region.shape
    num_items = reps.pixel.shape[1]
    device = region.device
    bounded = slots_per_region is not None
    if bounded:
        num_regions = max(1, num_pixels)
    else:
        num_regions = int(region.max()) + 1 if region.numel() else 1
    rep_region = torch.where(reps.valid, reps.region, num_regions)
    # Rank of each entry among its region's entries, in list order (stable sort by region).
    order = torch.argsort(rep_region, dim=1, stable=True)
    sorted_region = rep_region.gather(1, order)
    counts = torch.zeros(batch, num_regions + 1, dtype=torch.long, device=device)
    counts.scatter_add_(1, rep_region, torch.ones_like(rep_region))
    start = counts.cumsum(dim=1) - counts
    sorted_rank = torch.arange(num_items, device=device).view(1, -1) - start.gather(1, sorted_region)
    rank = torch.empty_like(sorted_rank).scatter_(1, order, sorted_rank)
    if bounded:
        width = max(1, slots_per_region)
    else:
        width = max(1, int(counts[:, :num_regions].max())) if num_items else 1
    num_rows = batch * num_regions
    num_slots = num_rows * width
    image = torch.arange(batch, device=device).view(-1, 1)
    slot = ((image * num_regions + rep_region.clamp_max(num_regions - 1)) * width + rank).clamp_max(num_slots)
    slot = torch.where(reps.valid, slot, num_slots).reshape(-1)
    entry = (image * num_items + torch.arange(num_items, device=device).view(1, -1)).reshape(-1)
    # Padded entries all land in the spare last slot, which is cut off.
    slot_to_list = torch.full((num_slots + 1,), batch * num_items, dtype=torch.long, device=device)
    slot_to_list.scatter_(0, slot, torch.where(reps.valid.reshape(-1), entry, batch * num_items))
    slot_valid = torch.zeros(num_slots + 1, dtype=torch.bool, device=device).scatter_(
        0, slot, reps.valid.reshape(-1)
    )
    pixel_row = (image * num_regions + region).reshape(-1)
    pixel_order = pixel_unorder = None
    if pixel_row.numel() > 1 and (bounded or not bool((pixel_row[1:] >= pixel_row[:-1]).all())):
        pixel_order = torch.argsort(pixel_row, stable=True)
        pixel_unorder = torch.empty_like(pixel_order)
        pixel_unorder[pixel_order] = torch.arange(pixel_order.numel(), device=device)
    return RegionSlots(
        pixel_row=pixel_row,
        num_rows=num_rows,
        width=width,
        slot_valid=slot_valid[:num_slots].view(num_rows, width),
        list_to_slot=slot,
        slot_to_list=slot_to_list[:num_slots],
        pixel_order=pixel_order,
        pixel_unorder=pixel_unorder,
        bounded=bounded,
    )
