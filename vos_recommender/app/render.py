"""Images the page shows: frames, mask overlays in the DAVIS palette, filmstrip thumbnails."""

from __future__ import annotations

import io
import threading

import numpy as np
from PIL import Image

from vos_recommender.data.davis import davis_palette

__all__ = ["ImageCache", "encode_frame", "object_colour", "overlay_png", "thumbnail"]

_PALETTE = davis_palette()
FILL_ALPHA = 110
EDGE_ALPHA = 255


def object_colour(object_id: int) -> list[int]:
    """The DAVIS palette colour of an object id, ``[r, g, b]`` (the colour its exported mask has)."""
    return [int(v) for v in _PALETTE[int(object_id) % 256]]


def encode_frame(frame: np.ndarray, quality: int = 90) -> bytes:
    """An ``H x W x 3`` uint8 frame as JPEG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(frame, mode="RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _edges(mask: np.ndarray) -> np.ndarray:
    """Pixels whose right or lower neighbour has another label (object outlines)."""
    edge = np.zeros(mask.shape, dtype=bool)
    edge[:, :-1] |= mask[:, :-1] != mask[:, 1:]
    edge[:, 1:] |= mask[:, :-1] != mask[:, 1:]
    edge[:-1, :] |= mask[:-1, :] != mask[1:, :]
    edge[1:, :] |= mask[:-1, :] != mask[1:, :]
    return edge


def overlay_png(mask: np.ndarray) -> bytes:
    """RGBA PNG of a label mask: palette colours, translucent inside, opaque outlines, clear background."""
    rgba = np.zeros((*mask.shape, 4), dtype=np.uint8)
    rgba[..., :3] = _PALETTE[mask]
    alpha = np.where(mask > 0, FILL_ALPHA, 0).astype(np.uint8)
    alpha[_edges(mask) & (mask > 0)] = EDGE_ALPHA
    rgba[..., 3] = alpha
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def thumbnail(frame: np.ndarray, mask: np.ndarray | None, width: int = 112) -> bytes:
    """A small JPEG of a frame with its mask blended in (for the filmstrip)."""
    image = frame.astype(np.float32)
    if mask is not None and mask.any():
        colours = _PALETTE[mask].astype(np.float32)
        inside = (mask > 0)[..., None]
        image = np.where(inside, 0.5 * image + 0.5 * colours, image)
    picture = Image.fromarray(image.clip(0, 255).astype(np.uint8), mode="RGB")
    height = max(1, round(frame.shape[0] * width / frame.shape[1]))
    picture = picture.resize((width, height), Image.BILINEAR)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


class ImageCache:
    """Encoded images keyed by ``(kind, frame, mask version)``; a new version drops the older entries.

    The server answers image requests from several threads at once (the filmstrip asks for every
    thumbnail together), so look-ups and the version switch hold a lock.
    """

    def __init__(self) -> None:
        self._version = -1
        self._items: dict[tuple[str, int], bytes] = {}
        self._lock = threading.Lock()

    def get(self, kind: str, frame: int, version: int, make) -> bytes:
        """The cached bytes, or ``make()`` stored under this version."""
        key = (kind, frame)
        with self._lock:
            if version != self._version:
                self._items = {k: value for k, value in self._items.items() if k[0] == "frame"}
                self._version = version
            cached = self._items.get(key)
        if cached is not None:
            return cached
        data = make()  # encoded outside the lock: requests for other frames go on meanwhile
        with self._lock:
            if version == self._version:
                self._items[key] = data
        return data
