"""A browser annotation app for interactive video object segmentation, with the frame recommender built in.

``python -m vos_recommender.app --frames DIR`` serves a local page: draw scribbles, run the VOS backend,
see every frame's estimated quality and the frame the recommender suggests next, export in the DAVIS
layout. :class:`Annotator` is the same session as a Python API. See ``docs/app.md``.
"""

from vos_recommender.app.advisor import FrameAdvisor, confidence_quality
from vos_recommender.app.annotator import Annotator
from vos_recommender.app.errors import AppBusyError, AppInputError, AppRequestError
from vos_recommender.app.export import export_davis
from vos_recommender.app.video import AppVideo, load_video

__all__ = [
    "Annotator",
    "AppBusyError",
    "AppInputError",
    "AppRequestError",
    "AppVideo",
    "FrameAdvisor",
    "confidence_quality",
    "export_davis",
    "load_video",
]
