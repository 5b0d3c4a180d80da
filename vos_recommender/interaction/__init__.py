"""User interaction: the DAVIS scribble format, the simulated scribbling user and scribble validation.

The session that plays rounds with a backend and these users is :mod:`vos_recommender.session`.
"""

from vos_recommender.interaction.human import human_scribble
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
from vos_recommender.interaction.simulated_user import LazyScribble, SimulatedUser, drawing_seconds
from vos_recommender.interaction.validation import check_scribble, check_video

__all__ = [
    "InteractiveRobot",
    "LazyScribble",
    "SimulatedUser",
    "annotated_frames",
    "check_scribble",
    "check_video",
    "drawing_seconds",
    "empty_scribble",
    "fuse_scribbles",
    "human_scribble",
    "is_empty",
    "load_scribble",
    "rasterize_all",
    "rasterize_scribble",
    "save_scribble",
    "scribble_frame",
    "scribble_points",
    "validate_scribble",
]
