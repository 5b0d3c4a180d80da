"""Data transforms registered in mmseg.registry.TRANSFORMS."""

from .boundary import GenerateRegionBoundary
from .validate import ValidateSegMap

__all__ = ["GenerateRegionBoundary", "ValidateSegMap"]
