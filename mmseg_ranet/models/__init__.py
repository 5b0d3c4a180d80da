"""Models of the plugin: the RANet decode head, its blocks and their operators, and ``RegionEncoderDecoder``
(an ``EncoderDecoder`` whose predictions carry the head's region map).

The head's losses are mmseg's own (``CrossEntropyLoss``), so the plugin registers no loss.
"""

from . import decode_heads, ops, segmentors  # noqa: F401
