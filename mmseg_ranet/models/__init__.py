"""Models of the plugin: the RANet decode head, its blocks and their operators.

The head's losses are mmseg's own (``CrossEntropyLoss``), so the plugin registers no loss.
"""

from . import decode_heads, ops  # noqa: F401
