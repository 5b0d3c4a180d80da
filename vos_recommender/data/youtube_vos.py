"""Loader for YouTube-VOS in its own layout, and its conversion to the DAVIS-2017 layout.

YouTube-VOS layout (2018/2019 releases)::

    <root>/<split>/JPEGImages/<seq>/<frame>.jpg
    <root>/<split>/Annotations/<seq>/<frame>.png
    <root>/<split>/meta.json                       optional

Command line of the conversion: ``python -m vos_recommender.data.convert``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vos_recommender.data.davis import (
    VOID_LABEL,
    VideoSample,
    count_objects,
    list_images,
    read_frame,
    read_mask,
    write_mask,
)
from vos_recommender.utils.atomic import atomic_write_text

__all__ = ["YouTubeVOSDataset", "convert_youtube_vos"]


class YouTubeVOSDataset:
    """Sequences of a YouTube-VOS split in its own layout.

    Only frames that have both an image and an annotation are loaded (in the ``train`` split of the
    2018/2019 releases these are every fifth frame of the video). Object ids are kept as stored;
    ``num_objects`` is the largest id, so absent ids simply score J = F = 1 (empty vs empty).

    Args:
        root: YouTube-VOS root (holding ``train/``, ``valid/``, ...).
        split: Split folder.
        require_all_masks: Raise when a frame has no annotation (``valid`` annotates only the first
            frame of each object); with ``False`` such frames are skipped.

    Raises:
        FileNotFoundError: If the split folders are missing.
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", require_all_masks: bool = True) -> None:
        self.root = Path(root)
        self.split = split
        self.require_all_masks = require_all_masks
        if not self.root.is_dir():
            raise FileNotFoundError(f"YouTube-VOS root not found: {self.root}")
        self.image_root = self.root / split / "JPEGImages"
        self.mask_root = self.root / split / "Annotations"
        for folder in (self.image_root, self.mask_root):
            if not folder.is_dir():
                raise FileNotFoundError(f"YouTube-VOS folder not found: {folder}")
        meta_path = self.root / split / "meta.json"
        self.meta: dict = {}
        if meta_path.is_file():
            try:
                self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise ValueError(f"cannot parse {meta_path}: {err}") from err
        if self.meta.get("videos"):
            self.sequences = sorted(self.meta["videos"])
        else:
            self.sequences = sorted(p.name for p in self.mask_root.iterdir() if p.is_dir())

    def __len__(self) -> int:
        return len(self.sequences)

    def __iter__(self) -> Iterator[VideoSample]:
        for idx in range(len(self)):
            yield self[idx]

    def frame_mask_pairs(self, seq: str) -> list[tuple[Path, Path]]:
        """The ``(frame, annotation)`` paths of a sequence's annotated frames, in frame order.

        Raises:
            FileNotFoundError: If the sequence has no frame or annotation folder.
            ValueError: If an annotation has no frame (or frames lack annotations, when they are required).
        """
        image_dir = self.image_root / seq
        mask_dir = self.mask_root / seq
        for folder in (image_dir, mask_dir):
            if not folder.is_dir():
                raise FileNotFoundError(f"sequence {seq!r} has no folder {folder}")
        images = {p.stem: p for p in list_images(image_dir, (".jpg", ".jpeg"))}
        masks = {p.stem: p for p in list_images(mask_dir, (".png",))}
        missing = sorted(set(masks) - set(images))
        if missing:
            raise ValueError(f"sequence {seq!r}: annotations without frames in {image_dir}: {missing[:5]}")
        unannotated = sorted(set(images) - set(masks))
        if unannotated and self.require_all_masks:
            # The train split ships frames and masks at the same rate; the all-frames download and
            # the valid split do not, and frames without ground truth cannot be scored.
            raise ValueError(
                f"sequence {seq!r}: {len(unannotated)} frames in {image_dir} have no annotation in "
                f"{mask_dir} (e.g. {unannotated[0]}); pass require_all_masks=False to use only "
                "annotated frames"
            )
        stems = sorted(set(images) & set(masks))
        if not stems:
            raise FileNotFoundError(f"sequence {seq!r}: no annotated frames in {mask_dir}")
        return [(images[s], masks[s]) for s in stems]

    def __getitem__(self, idx_or_name: int | str) -> VideoSample:
        if isinstance(idx_or_name, str):
            if idx_or_name not in self.sequences:
                raise KeyError(f"sequence {idx_or_name!r} is not in {self.root / self.split}")
            seq = idx_or_name
        else:
            seq = self.sequences[int(idx_or_name)]
        pairs = self.frame_mask_pairs(seq)
        frames, masks = [], []
        for image_path, mask_path in pairs:
            frame = read_frame(image_path)
            mask = read_mask(mask_path)
            if frame.shape[:2] != mask.shape:
                raise ValueError(
                    f"annotation {mask_path} is {mask.shape[1]}x{mask.shape[0]} but frame {image_path} is "
                    f"{frame.shape[1]}x{frame.shape[0]}"
                )
            frames.append(frame)
            masks.append(mask)
        masks_arr = np.stack(masks)
        return VideoSample(
            name=seq,
            frames=np.stack(frames),
            masks=masks_arr,
            num_objects=count_objects(masks_arr),
            scribbles=[],
            frame_names=[p.stem for p, _ in pairs],
        )


def convert_youtube_vos(
    src_root: str | os.PathLike,
    dst_root: str | os.PathLike,
    split: str = "train",
    dst_split: str | None = None,
    resolution: str = "480p",
    year: str = "2017",
    max_sequences: int | None = None,
    require_all_masks: bool = True,
) -> Path:
    """Rewrite a YouTube-VOS split in the DAVIS-2017 layout so :class:`DavisDataset` loads it.

    Object ids are renumbered ``1..N`` in order of first appearance (DAVIS convention), frames are
    renamed ``00000.jpg, 00001.jpg, ...`` and copied byte for byte (no re-encoding, no resizing; the
    ``resolution`` argument only names the folder), masks are written as DAVIS palette PNGs.

    Args:
        src_root: YouTube-VOS root.
        dst_root: Output root.
        split: YouTube-VOS split to read.
        dst_split: Name of the DAVIS split file to write; defaults to ``split``.
        resolution: Resolution folder name to write into.
        year: ``ImageSets`` sub-folder.
        max_sequences: Convert only the first sequences (sorted by name).
        require_all_masks: See :class:`YouTubeVOSDataset`.

    Returns:
        ``dst_root`` as a Path.
    """
    source = YouTubeVOSDataset(src_root, split, require_all_masks=require_all_masks)
    dst_root = Path(dst_root)
    names = source.sequences[:max_sequences] if max_sequences is not None else source.sequences
    written: list[str] = []
    for seq in names:
        pairs = source.frame_mask_pairs(seq)
        masks = [read_mask(m) for _, m in pairs]
        order: list[int] = []
        for mask in masks:
            for label in np.unique(mask):
                if label not in (0, VOID_LABEL) and int(label) not in order:
                    order.append(int(label))
        lut = np.arange(256, dtype=np.uint8)
        lut[order] = np.arange(1, len(order) + 1, dtype=np.uint8)
        image_dir = dst_root / "JPEGImages" / resolution / seq
        mask_dir = dst_root / "Annotations" / resolution / seq
        image_dir.mkdir(parents=True, exist_ok=True)
        mask_dir.mkdir(parents=True, exist_ok=True)
        for t, ((image_path, _), mask) in enumerate(zip(pairs, masks)):
            (image_dir / f"{t:05d}.jpg").write_bytes(image_path.read_bytes())
            write_mask(mask_dir / f"{t:05d}.png", lut[mask])
        written.append(seq)
    # The split file is written last and atomically: it is what makes the converted sequences visible.
    atomic_write_text(
        dst_root / "ImageSets" / year / f"{dst_split or split}.txt", "".join(f"{s}\n" for s in written)
    )
    return dst_root
