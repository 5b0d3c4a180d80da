"""Loader for DAVIS-2017-layout video object segmentation data, and the frame/mask file helpers.

DAVIS-2017 layout (also what :mod:`vos_recommender.data.generate` writes and what
:func:`~vos_recommender.data.youtube_vos.convert_youtube_vos` produces)::

    <root>/JPEGImages/480p/<seq>/00000.jpg ...
    <root>/Annotations/480p/<seq>/00000.png ...   palette PNGs, pixel value = object id, 255 = void
    <root>/Scribbles/<seq>/001.json ...           DAVIS interactive scribbles (optional)
    <root>/ImageSets/2017/train.txt, val.txt      one sequence name per line

YouTube-VOS's own layout is read by :mod:`vos_recommender.data.youtube_vos`.
"""

from __future__ import annotations

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
    "load_frame_folder",
    "read_frame",
    "read_mask",
    "write_mask",
    "count_objects",
    "davis_palette",
    "list_images",
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
    paths = list_images(folder, IMAGE_SUFFIXES)
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


def list_images(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Sorted files of ``folder`` whose suffix (any case) is one of ``suffixes``."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


def _check_same_size(paths: list[Path], shapes: list[tuple[int, ...]]) -> None:
    for path, shape in zip(paths, shapes):
        if shape != shapes[0]:
            raise ValueError(
                f"{path} is {shape[1]}x{shape[0]} but {paths[0]} is {shapes[0][1]}x{shapes[0][0]}; all images "
                "of a sequence must have one size"
            )


def count_objects(masks: np.ndarray) -> int:
    """Largest object id in ``masks`` (0 and the void label 255 do not count)."""
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
        paths = list_images(folder, (".jpg", ".jpeg"))
        if not paths:
            raise FileNotFoundError(f"no .jpg frames in {folder}")
        return paths

    def mask_paths(self, seq: str) -> list[Path]:
        """Sorted annotation files of a sequence."""
        folder = self.root / "Annotations" / self.resolution / seq
        if not folder.is_dir():
            raise FileNotFoundError(f"annotation folder not found: {folder}")
        paths = list_images(folder, (".png",))
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
            num_objects=count_objects(masks),
            scribbles=scribbles,
            frame_names=[p.stem for p in frame_paths],
        )
