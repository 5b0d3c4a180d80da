"""Models of the plugin: decode heads, losses and their operators."""

from . import decode_heads, losses, ops  # noqa: F401
