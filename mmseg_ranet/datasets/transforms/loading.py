"""Image and label loading that names the file when it cannot be used.

mmcv's ``LoadImageFromFile`` and mmseg's ``LoadAnnotations`` fail deep inside the decoders on an empty,
truncated or foreign file (``cv2.error: !buf.empty()``, ``OSError: image file is truncated``, ...), often
without the file's name. mmseg also casts every label map to uint8: a 16-bit label PNG wraps around (258
trains as class 2) and an RGB label keeps its three channels. These subclasses take the same arguments and
check before and after the parent's loading, so its semantics (``reduce_zero_label``, ``label_map``,
backends) stay mmseg's own.
"""

from __future__ import annotations

import os.path as osp
import struct

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour types (IHDR byte 25) whose pixels carry more than one value: grey+alpha, RGB, RGBA.
_MULTI_CHANNEL_PNG = {2: "RGB", 4: "grey+alpha", 6: "RGBA"}


class DataFileError(ValueError):
    """An image or label file that cannot be loaded or is not a valid label map."""


def _png_header(data: bytes) -> tuple[int, int] | None:
    """``(bit depth, colour type)`` of a PNG, or ``None`` for other formats."""
    if len(data) < 26 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    bit_depth, colour_type = struct.unpack(">BB", data[24:26])
    return bit_depth, colour_type


@TRANSFORMS.register_module()
class CheckedLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` whose errors name the image file.

    Raises:
        DataFileError: the file is empty or cannot be decoded (with ``ignore_empty=False``).
    """

    def transform(self, results: dict) -> dict | None:
        filename = results["img_path"]
        try:
            loaded = super().transform(results)
        except Exception as err:  # noqa: BLE001  (each decoder fails with its own exception type)
            if self.ignore_empty:
                return None
            if osp.isfile(filename) and osp.getsize(filename) == 0:
                raise DataFileError(f"image file {filename!r} is empty (0 bytes)") from err
            raise DataFileError(
                f"image file {filename!r} could not be read: {_describe(filename, err)}"
            ) from err
        if loaded is None or loaded["img"].size == 0:
            if self.ignore_empty:
                return None
            raise DataFileError(f"image file {filename!r} decoded to an empty image")
        return loaded


@TRANSFORMS.register_module()
class CheckedLoadAnnotations(LoadAnnotations):
    """mmseg's ``LoadAnnotations`` that refuses label files it would silently misread, naming the file.

    Refused: empty, truncated or undecodable files; multi-channel labels (RGB, RGBA, grey+alpha); 16-bit
    labels holding values above 255 (mmseg's uint8 cast would wrap them). A 16-bit file whose values all
    fit in 8 bits loads as usual.

    Raises:
        DataFileError: naming the label file and what is wrong with it.
    """

    def _load_seg_map(self, results: dict) -> None:
        path = results["seg_map_path"]
        try:
            data = fileio.get(path, backend_args=self.backend_args)
        except Exception as err:  # noqa: BLE001
            raise DataFileError(f"label file {path!r} could not be read: {err}") from err
        if not data:
            raise DataFileError(f"label file {path!r} is empty (0 bytes)")
        header = _png_header(data)
        if header is not None:
            bit_depth, colour_type = header
            if colour_type in _MULTI_CHANNEL_PNG:
                raise DataFileError(
                    f"label file {path!r} is a {_MULTI_CHANNEL_PNG[colour_type]} PNG; label maps must be "
                    "single-channel images of class indices (greyscale or palette)"
                )
            if bit_depth == 16:
                self._refuse_wide_values(path, data)
        try:
            super()._load_seg_map(results)
        except Exception as err:  # noqa: BLE001  (each decoder fails with its own exception type)
            raise DataFileError(f"label file {path!r} could not be decoded: {_describe(path, err)}") from err
        seg = results["gt_seg_map"]
        if seg.ndim != 2:
            raise DataFileError(
                f"label file {path!r} decoded to shape {tuple(seg.shape)}; label maps must be single-channel "
                "(H x W) images of class indices"
            )

    def _refuse_wide_values(self, path: str, data: bytes) -> None:
        try:
            raw = mmcv.imfrombytes(data, flag="unchanged", backend=self.imdecode_backend)
        except Exception as err:  # noqa: BLE001
            raise DataFileError(f"label file {path!r} could not be decoded: {_describe(path, err)}") from err
        wide = np.unique(raw[raw > 255])
        if wide.size:
            raise DataFileError(
                f"label file {path!r} is a 16-bit PNG with values {wide[:10].tolist()} above 255; mmseg "
                f"loads labels as 8-bit, where they would wrap to {(wide[:10] % 256).tolist()}. Convert the "
                "labels to 8-bit class indices (0..num_classes-1, 255 = ignore)"
            )


def _describe(path: str, err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".strip().splitlines()[0]
    # mmcv's own message already names the file; avoid printing it twice.
    return text.replace(str(path), "<file>")[:300] + " (the file is empty, truncated or not an image)"
