"""Datasets and transforms of the plugin."""

from . import transforms  # noqa: F401
from .synthetic_context import SyntheticContextDataset

__all__ = ["SyntheticContextDataset"]
