"""Video data: DAVIS-2017 / YouTube-VOS loaders and the synthetic DAVIS-layout generator."""

from __future__ import annotations

from typing import Any

from vos_recommender.data.davis import (
    DavisDataset,
    VideoSample,
    davis_palette,
    load_frame_folder,
    read_frame,
    read_mask,
    write_mask,
)
from vos_recommender.data.youtube_vos import YouTubeVOSDataset, convert_youtube_vos

__all__ = [
    "DavisDataset",
    "VideoSample",
    "YouTubeVOSDataset",
    "convert_youtube_vos",
    "davis_palette",
    "generate_davis_dataset",
    "load_frame_folder",
    "read_frame",
    "read_mask",
    "synthesize_video",
    "write_mask",
]

_GENERATOR_NAMES = ("generate_davis_dataset", "synthesize_video")


def __getattr__(name: str) -> Any:
    # Imported on first use so that `python -m vos_recommender.data.generate` does not find its own
    # module already imported by the package (runpy warns about that).
    if name in _GENERATOR_NAMES:
        from vos_recommender.data import generate

        return getattr(generate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
