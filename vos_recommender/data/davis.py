"""Loaders for DAVIS-2017 and YouTube-VOS video object segmentation data.

DAVIS-2017 layout (also what :mod:`vos_recommender.data.generate` writes and what
:func:`convert_youtube_vos` produces)::

    <root>/JPEGImages/480p/<seq>/00000.jpg ...
    <root>/Annotations/480p/<seq>/00000.png ...   palette PNGs, pixel value = object id, 255 = void
    <root>/Scribbles/<seq>/001.json ...           DAVIS interactive scribbles (optional)
    <root>/ImageSets/2017/train.txt, val.txt      one sequence name per line

YouTube-VOS layout (2018/2019 releases)::

    <root>/<split>/JPEGImages/<seq>/<frame>.jpg
    <root>/<split>/Annotations/<seq>/<frame>.png
    <root>/<split>/meta.json                       optional
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vos_recommender.interaction.scribbles import load_scribble

__all__ = [
    "DavisDataset",
    "VideoSample",
    "YouTubeVOSDataset",
    "convert_youtube_vos",
    "load_frame_folder",
    "read_frame",
    "read_mask",
    "write_mask",
    "davis_palette",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
VOID_LABEL = 255


def davis_palette() -> np.ndarray:
    """The 256-colour palette of DAVIS annotation PNGs (the PASCAL VOC colour map).

    Index 0 is black, 1 red-ish (128, 0, 0), 2 green-ish (0, 128, 0), ...; 255 is (224, 224, 192).
    Computed with the usual bit-interleaving rule instead of stored as a table.

    Returns:
        ``256 x 3`` uint8 array.
    """
    palette = np.zeros((256, 3), dtype=np.uint8)
    for label in range(256):
        value, r, g, b = label, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= ((value >> 0) & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        palette[label] = (r, g, b)
    return palette


@dataclass
class VideoSample:
    """One video with its annotation.

    Attributes:
        name: Sequence name.
        frames: ``T x H x W x 3`` uint8 RGB frames.
        masks: ``T x H x W`` uint8 object ids (0 = background, 255 = void where present).
        num_objects: Number of annotated objects (ids ``1..num_objects``).
        scribbles: DAVIS scribble dictionaries (``Scribbles/<seq>/00k.json``, ascending); may be empty.
        frame_names: File stems of the frames, in order.
    """

    name: str
    frames: np.ndarray
    masks: np.ndarray
    num_objects: int
    scribbles: list[dict] = field(default_factory=list)
    frame_names: list[str] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        """Number of frames T."""
        return int(self.frames.shape[0])


def read_frame(path: str | os.PathLike) -> np.ndarray:
    """Read an RGB frame as ``H x W x 3`` uint8, naming the file on failure."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ValueError(f"cannot read frame {path}: {err}") from err


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read an annotation PNG as ``H x W`` uint8 object ids (palette indices, not colours).

    Args:
        path: PNG path. Palette ('P') and single-channel ('L') images are accepted.

    Raises:
        ValueError: If the file is unreadable/corrupt or stores colours instead of ids.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode in ("P", "L"):
                return np.asarray(img, dtype=np.uint8)
            if mode in ("I", "I;16"):
                data = np.asarray(img)
                if data.max(initial=0) > 255:
                    raise ValueError(f"mask {path} holds ids above 255")
                return data.astype(np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"cannot read mask {path} (corrupt or not a PNG): {err}") from err
    raise ValueError(
        f"mask {path} is a {mode!r} image; annotations must be palette ('P') or grey ('L') PNGs whose "
        "pixel values are object ids"
    )


def load_frame_folder(folder: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """Read every ``.jpg``/``.jpeg``/``.png`` frame of a folder, sorted by file name.

    For running on one's own video: a folder of frames in display order.

    Args:
        folder: Folder of frame images.

    Returns:
        ``(frames, names)``: ``T x H x W x 3`` uint8 RGB and the file stems.

    Raises:
        FileNotFoundError: If the folder is missing or holds no images.
        ValueError: If a frame is unreadable or frames differ in size.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"frame folder not found: {folder}")
    paths = _list_images(folder, IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no .jpg/.png frames in {folder}")
    frames = [read_frame(p) for p in paths]
    _check_same_size(paths, [f.shape[:2] for f in frames])
    return np.stack(frames), [p.stem for p in paths]


def write_mask(path: str | os.PathLike, mask: np.ndarray, palette: np.ndarray | None = None) -> None:
    """Write ``H x W`` object ids as a palette PNG with the DAVIS palette."""
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.min(initial=0) < 0 or mask.max(initial=0) > 255:
        raise ValueError("mask must be a 2-D array of ids in [0, 255]")
    img = Image.fromarray(mask.astype(np.uint8), mode="P")
    img.putpalette((davis_palette() if palette is None else palette).reshape(-1).tolist())
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG")


def _list_images(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


def _check_same_size(paths: list[Path], shapes: list[tuple[int, ...]]) -> None:
    for path, shape in zip(paths, shapes):
        if shape != shapes[0]:
            raise ValueError(
                f"{path} is {shape[1]}x{shape[0]} but {paths[0]} is {shapes[0][1]}x{shapes[0][0]}; all images "
                "of a sequence must have one size"
            )


def _count_objects(masks: np.ndarray) -> int:
    labels = np.unique(masks)
    labels = labels[(labels != 0) & (labels != VOID_LABEL)]
    return int(labels.max()) if labels.size else 0


class DavisDataset:
    """Sequences of a DAVIS-2017-layout data set (real DAVIS, generated, or converted YouTube-VOS).

    Args:
        root: Data set root (holding ``JPEGImages``, ``Annotations``, ``ImageSets``).
        split: Split name; sequences are read from ``ImageSets/<year>/<split>.txt``.
        resolution: Resolution folder under ``JPEGImages`` and ``Annotations``.
        year: ``ImageSets`` sub-folder.

    Raises:
        FileNotFoundError: If the root, the split file or a listed sequence folder is missing.
    """

    def __init__(
        self, root: str | os.PathLike, split: str = "train", resolution: str = "480p", year: str = "2017"
    ) -> None:
        self.root = Path(root)
        self.split = split
        self.resolution = resolution
        self.year = str(year)
        if not self.root.is_dir():
            raise FileNotFoundError(f"DAVIS root not found: {self.root}")
        split_file = self.root / "ImageSets" / self.year / f"{split}.txt"
        if not split_file.is_file():
            raise FileNotFoundError(f"split file not found: {split_file}")
        self.sequences: list[str] = []
        for line in split_file.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line:
                continue
            # DAVIS-2016 lists image paths ("/JPEGImages/480p/bear/00000.jpg ..."); keep the folder name.
            name = line.split()[0]
            if "/" in name:
                name = Path(name).parent.name
            if name not in self.sequences:
                self.sequences.append(name)
        for seq in self.sequences:
            for kind in ("JPEGImages", "Annotations"):
                folder = self.root / kind / self.resolution / seq
                if not folder.is_dir():
                    raise FileNotFoundError(f"sequence {seq!r} of {split_file} has no folder {folder}")

    def __len__(self) -> int:
        return len(self.sequences)

    def __iter__(self) -> Iterator[VideoSample]:
        for idx in range(len(self)):
            yield self[idx]

    def _name(self, idx_or_name: int | str) -> str:
        if isinstance(idx_or_name, str):
            if idx_or_name not in self.sequences:
                raise KeyError(f"sequence {idx_or_name!r} is not in split {self.split!r} of {self.root}")
            return idx_or_name
        return self.sequences[int(idx_or_name)]

    def frame_paths(self, seq: str) -> list[Path]:
        """Sorted frame files of a sequence."""
        folder = self.root / "JPEGImages" / self.resolution / seq
        if not folder.is_dir():
            raise FileNotFoundError(f"frame folder not found: {folder}")
        paths = _list_images(folder, (".jpg", ".jpeg"))
        if not paths:
            raise FileNotFoundError(f"no .jpg frames in {folder}")
        return paths

    def mask_paths(self, seq: str) -> list[Path]:
        """Sorted annotation files of a sequence."""
        folder = self.root / "Annotations" / self.resolution / seq
        if not folder.is_dir():
            raise FileNotFoundError(f"annotation folder not found: {folder}")
        paths = _list_images(folder, (".png",))
        if not paths:
            raise FileNotFoundError(f"no .png annotations in {folder}")
        return paths

    def load_frames(self, seq: str) -> np.ndarray:
        """``T x H x W x 3`` uint8 RGB frames of a sequence."""
        paths = self.frame_paths(seq)
        frames = [read_frame(p) for p in paths]
        _check_same_size(paths, [f.shape[:2] for f in frames])
        return np.stack(frames)

    def load_masks(self, seq: str) -> np.ndarray:
        """``T x H x W`` uint8 object-id masks of a sequence."""
        paths = self.mask_paths(seq)
        masks = [read_mask(p) for p in paths]
        _check_same_size(paths, [m.shape for m in masks])
        return np.stack(masks)

    def scribble_paths(self, seq: str) -> list[Path]:
        """Sorted ``Scribbles/<seq>/*.json`` files (possibly none)."""
        folder = self.root / "Scribbles" / seq
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.suffix == ".json" and not p.name.startswith("."))

    def load_scribbles(self, seq: str) -> list[dict]:
        """All human scribbles of a sequence, ordered as ``001.json``, ``002.json``, ..."""
        return [load_scribble(p) for p in self.scribble_paths(seq)]

    def __getitem__(self, idx_or_name: int | str) -> VideoSample:
        seq = self._name(idx_or_name)
        frame_paths = self.frame_paths(seq)
        mask_paths = self.mask_paths(seq)
        if len(frame_paths) != len(mask_paths):
            raise ValueError(
                f"sequence {seq!r}: {len(frame_paths)} frames in {frame_paths[0].parent} but "
                f"{len(mask_paths)} annotations in {mask_paths[0].parent}"
            )
        frame_list = [read_frame(p) for p in frame_paths]
        mask_list = [read_mask(p) for p in mask_paths]
        # Pairwise first, so the message names the annotation that disagrees with its own frame.
        for frame_path, mask_path, frame, mask in zip(frame_paths, mask_paths, frame_list, mask_list):
            if frame.shape[:2] != mask.shape:
                raise ValueError(
                    f"annotation {mask_path} is {mask.shape[1]}x{mask.shape[0]} but frame {frame_path} is "
                    f"{frame.shape[1]}x{frame.shape[0]}"
                )
        _check_same_size(frame_paths, [f.shape[:2] for f in frame_list])
        frames = np.stack(frame_list)
        masks = np.stack(mask_list)
        scribbles = self.load_scribbles(seq)
        for path, scribble in zip(self.scribble_paths(seq), scribbles):
            if len(scribble["scribbles"]) != len(frame_paths):
                raise ValueError(
                    f"scribble {path} covers {len(scribble['scribbles'])} frames, sequence has {len(frame_paths)}"
                )
        return VideoSample(
            name=seq,
            frames=frames,
            masks=masks,
            num_objects=_count_objects(masks),
            scribbles=scribbles,
            frame_names=[p.stem for p in frame_paths],
        )


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

    def _pairs(self, seq: str) -> list[tuple[Path, Path]]:
        image_dir = self.image_root / seq
        mask_dir = self.mask_root / seq
        for folder in (image_dir, mask_dir):
            if not folder.is_dir():
                raise FileNotFoundError(f"sequence {seq!r} has no folder {folder}")
        images = {p.stem: p for p in _list_images(image_dir, (".jpg", ".jpeg"))}
        masks = {p.stem: p for p in _list_images(mask_dir, (".png",))}
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
        pairs = self._pairs(seq)
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
            num_objects=_count_objects(masks_arr),
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
        pairs = source._pairs(seq)
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
    split_dir = dst_root / "ImageSets" / year
    split_dir.mkdir(parents=True, exist_ok=True)
    (split_dir / f"{dst_split or split}.txt").write_text("".join(f"{s}\n" for s in written), encoding="utf-8")
    return dst_root
