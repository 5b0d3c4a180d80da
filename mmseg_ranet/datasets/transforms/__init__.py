"""Data transforms registered in mmseg.registry.TRANSFORMS."""

from .boundary import GenerateRegionBoundary
from .loading import CheckedLoadAnnotations, CheckedLoadImageFromFile, DataFileError
from .validate import ValidateSegMap

__all__ = [
    "CheckedLoadAnnotations",
    "CheckedLoadImageFromFile",
    "DataFileError",
    "GenerateRegionBoundary",
    "ValidateSegMap",
]
