"""Data transforms registered in mmseg.registry.TRANSFORMS."""

from .validate import ValidateSegMap

__all__ = ["ValidateSegMap"]
