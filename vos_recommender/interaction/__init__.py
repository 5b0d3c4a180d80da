"""User interaction: the DAVIS scribble format and the simulated scribbling user."""

from vos_recommender.interaction.robot import InteractiveRobot
from vos_recommender.interaction.scribbles import (
    annotated_frames,
    empty_scribble,
    fuse_scribbles,
    is_empty,
    load_scribble,
    rasterize_all,
    rasterize_scribble,
    save_scribble,
    scribble_frame,
    scribble_points,
    validate_scribble,
)

__all__ = [
    "InteractiveRobot",
    "annotated_frames",
    "empty_scribble",
    "fuse_scribbles",
    "is_empty",
    "load_scribble",
    "rasterize_all",
    "rasterize_scribble",
    "save_scribble",
    "scribble_frame",
    "scribble_points",
    "validate_scribble",
]
