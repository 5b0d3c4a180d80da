"""How the cache backend lays out its bytes: folder format, arrays files, stored probabilities, sizes.

An entry's arrays file is an ``.npz`` (a zip of ``.npy`` members, readable by ``numpy.load``) holding

* ``masks``: the ``T x H x W`` uint8 label masks (always; deflated they are a few KB per entry);
* the probabilities in the precision the cache was asked for (``store_probs``):

  * ``"none"`` (default): not stored. A replayed result gives them by running the wrapped backend
    again when a consumer asks for them (exact, at the cost of that round);
  * ``"uint8"``: quantised to 1/255 steps (``probs_u8``, about 40 times smaller than float32);
  * ``"float16"`` / ``"float32"``: ``probs`` in that dtype.

Zip members decompress independently, so loading the masks never decodes the probabilities. Arrays
files of older versions (formats 2 and 3: float16 or float32 ``probs`` next to the masks) read the same
way. The folder itself carries ``cache-format.json`` (the newest layout written into it and its disk
budget); a folder written by a newer version is refused with a message saying what to do, never
misread or overwritten.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from vos_recommender.utils.atomic import atomic_write_json

__all__ = [
    "FOLDER_FORMAT",
    "FORMAT_FILE",
    "PROBS_FORMATS",
    "CacheFormatError",
    "decode_probs",
    "encode_probs",
    "npz_bytes",
    "parse_bytes",
    "read_folder_settings",
    "recorded_budget",
    "stored_probs",
    "write_folder_settings",
]

#: Layout of the folders and records this version writes (records of formats 2 and 3 are read too).
FOLDER_FORMAT = 4
#: The folder's format and budget, at the top of the cache folder.
FORMAT_FILE = "cache-format.json"
#: Accepted values of ``store_probs``.
PROBS_FORMATS = ("none", "uint8", "float16", "float32")

_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12}
_UNITS.update({"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40})


class CacheFormatError(ValueError):
    """A cache folder this version cannot use (written by a newer version, or a damaged format file)."""


def parse_bytes(value: int | float | str | None, name: str = "max_bytes") -> int | None:
    """A byte count from ``1_000_000``, ``"500MB"``, ``"1GB"``, ``"1.5GiB"`` or ``None`` / ``0`` (no limit).

    A count without a unit must be a whole number of bytes (``"0.5"`` is refused, not read as no
    limit); a size with a unit is truncated to whole bytes and must come to at least one.

    Raises:
        ValueError: Naming ``name`` and the value when it is not a non-negative size.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a size such as 1GB or 500MB, got {value!r}")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", value)
        if match is None or match.group(2).lower() not in _UNITS:
            raise ValueError(f"{name} must be a size such as 1GB, 500MB or 2GiB, got {value!r}")
        number, unit = float(match.group(1)), match.group(2).lower()
    else:
        raise ValueError(f"{name} must be a size such as 1GB or 500MB, got {value!r}")
    if not np.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a positive size such as 2GB (0 or null: no budget), got {value!r}")
    if _UNITS[unit] == 1 and not number.is_integer():
        raise ValueError(
            f"{name} must be a whole number of bytes or a size with a unit (500MB), got {value!r}"
        )
    size = int(number * _UNITS[unit])
    if size == 0 and number > 0:
        raise ValueError(f"{name} must be at least one byte (or 0 for no budget), got {value!r}")
    return size or None


def npz_bytes(arrays: dict[str, np.ndarray], level: int) -> bytes:
    """An ``.npz`` file's bytes, deflated at zlib ``level`` (0: stored).

    Written here rather than by ``np.savez_compressed`` because that has no compression level, and
    level 1 deflates label masks about ten times faster than its fixed level 6 for files twice as large
    (a few KB either way).
    """
    buffer = io.BytesIO()
    compression = zipfile.ZIP_DEFLATED if level > 0 else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", compression=compression, compresslevel=level or None) as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
    return buffer.getvalue()


def _quantise(probs: np.ndarray) -> np.ndarray:
    return np.round(np.clip(probs, 0.0, 1.0) * 255.0).astype(np.uint8)


def _dequantise(levels: np.ndarray) -> np.ndarray:
    return levels.astype(np.float32) / np.float32(255.0)


def encode_probs(probs: np.ndarray, store: str) -> dict[str, np.ndarray]:
    """The ``.npz`` members that keep ``probs`` at precision ``store`` (none for ``"none"``)."""
    if store == "none":
        return {}
    if store == "uint8":
        return {"probs_u8": _quantise(probs)}
    return {"probs": probs.astype(store)}


def decode_probs(data: Any) -> np.ndarray | None:
    """float32 probabilities from an opened ``.npz`` (None when it holds none)."""
    if "probs_u8" in data.files:
        return _dequantise(data["probs_u8"])
    if "probs" in data.files:
        return data["probs"].astype(np.float32)
    return None


def stored_probs(probs: np.ndarray, store: str) -> np.ndarray:
    """``probs`` as a replay of an entry stored at precision ``store`` gives them back (float32)."""
    if store == "uint8":
        return _dequantise(_quantise(probs))
    if store in ("float16", "float32"):
        return probs.astype(store).astype(np.float32)
    return probs


def read_folder_settings(folder: Path) -> dict[str, Any] | None:
    """The folder's ``cache-format.json`` (None when there is none: a new folder or an older version's).

    Raises:
        CacheFormatError: If the folder was written by a newer version or the file is not a format file.
    """
    path = folder / FORMAT_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise CacheFormatError(f"cannot read the cache folder's format file {path}: {error}") from None
    try:
        settings = json.loads(text)
        version = int(settings["format"])
    except (ValueError, KeyError, TypeError):
        raise CacheFormatError(
            f"{path} is not a cache format file; delete it (the entries stay readable) or choose another "
            "cache_dir"
        ) from None
    if version > FOLDER_FORMAT:
        raise CacheFormatError(
            f"the cache folder {folder} holds format {version}, written by a newer version of "
            f"vos_recommender (this one reads formats up to {FOLDER_FORMAT}). Use that version, choose "
            f"another cache_dir, or delete the folder to record it again."
        )
    return settings


def recorded_budget(folder: Path, settings: dict[str, Any] | None) -> int | None:
    """The disk budget recorded in the folder's format file, in bytes (None: no budget or no file).

    Raises:
        CacheFormatError: Naming the file and the value when the budget is not a size (a negative or
            fractional number, a boolean, NaN, a string without a known unit).
    """
    if settings is None:
        return None
    try:
        return parse_bytes(settings.get("max_bytes"), f"max_bytes in {folder / FORMAT_FILE}")
    except ValueError as error:
        raise CacheFormatError(
            f'{error}. Write a size such as 2000000000 or "2GB" (null or 0: no budget) into the file, or give '
            "the cache a budget (max_bytes=, --cache-budget), which replaces the recorded one"
        ) from None


def write_folder_settings(folder: Path, max_bytes: int | None) -> None:
    """Record the folder's format and disk budget (atomically)."""
    atomic_write_json(folder / FORMAT_FILE, {"format": FOLDER_FORMAT, "max_bytes": max_bytes})
