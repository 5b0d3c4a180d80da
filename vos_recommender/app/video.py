"""The video an annotation session works on: its frames, optional starting masks, and input checks.

Every problem with what the user points the app at (a missing folder, a folder with no images, frames of
mixed sizes, masks that do not match the frames) becomes an :class:`AppInputError` whose message names the
folder or file and what is wrong; the command line prints it and the page shows it in a banner.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import numpy as np

from vos_recommender.app.errors import AppInputError
from vos_recommender.data.davis import count_objects, load_frame_folder, read_mask

__all__ = ["AppVideo", "load_video"]


@dataclasses.dataclass
class AppVideo:
    """A video opened in the app.

    Attributes:
        name: Sequence name (the frame folder's name).
        frames: ``T x H x W x 3`` uint8 RGB frames, in file-name order.
        frame_names: File stems of the frames.
        masks: ``T x H x W`` uint8 starting masks (object ids), or None.
        source: The frame folder.
    """

    name: str
    frames: np.ndarray
    frame_names: list[str]
    masks: np.ndarray | None = None
    source: str = ""
    _fingerprint: str | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    @property
    def num_frames(self) -> int:
        """Number of frames ``T``."""
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of every frame."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def fingerprint(self) -> str:
        """Hash of the frames' pixels, names, count and size: tells whether a saved session belongs to this
        video (another video with the same frame names, count and size has another fingerprint)."""
        if self._fingerprint is None:
            digest = hashlib.sha1(repr((self.frame_names, self.frames.shape)).encode())
            digest.update(np.ascontiguousarray(self.frames).data)
            self._fingerprint = digest.hexdigest()[:24]
        return self._fingerprint

    def names_fingerprint(self) -> str:
        """The fingerprint of sessions saved before frames were hashed (names, count and size only)."""
        return hashlib.sha1(repr((self.frame_names, self.frames.shape)).encode()).hexdigest()[:16]


def _load_masks(folder: Path, video_frames: np.ndarray, frames_dir: Path) -> np.ndarray:
    if not folder.is_dir():
        raise AppInputError(f"--masks: mask folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".png")
    if not files:
        raise AppInputError(f"--masks: no .png masks in {folder}")
    if len(files) != len(video_frames):
        raise AppInputError(
            f"--masks: {len(files)} masks in {folder} but {len(video_frames)} frames in {frames_dir}; "
            "give one mask per frame"
        )
    height, width = video_frames.shape[1:3]
    masks = []
    for path in files:
        try:
            mask = read_mask(path)
        except ValueError as err:
            raise AppInputError(f"--masks: {err}") from err
        if mask.shape != (height, width):
            raise AppInputError(
                f"--masks: {path} is {mask.shape[1]}x{mask.shape[0]} but the frames are {width}x{height}; "
                "masks must cover the whole frame"
            )
        masks.append(mask)
    stacked = np.stack(masks)
    stacked[stacked == 255] = 0  # void pixels are not an object the user can edit
    return stacked


def load_video(frames_dir: str | os.PathLike, masks_dir: str | os.PathLike | None = None) -> AppVideo:
    """Open a folder of frames (and optionally one of masks) for annotation.

    Args:
        frames_dir: Folder of ``.jpg``/``.jpeg``/``.png`` frames, in file-name order.
        masks_dir: Folder of palette/grey PNG masks (object ids), one per frame, or None.

    Returns:
        The :class:`AppVideo`.

    Raises:
        AppInputError: If a folder is missing or empty, a file unreadable, sizes differ or counts differ.
    """
    folder = Path(frames_dir)
    if not folder.is_dir():
        raise AppInputError(f"--frames: frame folder not found: {folder}")
    try:
        frames, names = load_frame_folder(folder)
    except FileNotFoundError as err:
        raise AppInputError(f"--frames: {err} (the folder must hold the video's frames as images)") from err
    except ValueError as err:
        raise AppInputError(f"--frames: {err}") from err
    masks = _load_masks(Path(masks_dir), frames, folder) if masks_dir is not None else None
    if masks is not None and count_objects(masks) == 0:
        masks = None  # masks holding only background carry nothing to start from
    folder = folder.resolve()  # "--frames ." names the video after the folder, not "."
    return AppVideo(
        name=folder.name or "video", frames=frames, frame_names=names, masks=masks, source=str(folder)
    )
