"""Per-frame segmentation quality sources: the oracle (true J&F) and a learned estimator (wild).

Both map one round's VOS result to a length-``T`` array in ``[0, 1]``::

    quality(frames, result, gt_masks, num_objects) -> np.ndarray

``build_quality("oracle")`` / ``build_quality("wild", checkpoint=...)`` select one by name.
"""

from __future__ import annotations

from typing import Any

from vos_recommender.quality.oracle import OracleQuality, QualitySource
from vos_recommender.utils.registry import Registry

__all__ = ["QUALITY_SOURCES", "OracleQuality", "QualitySource", "build_quality"]


#: name -> quality source class (``"module:Class"`` entries are imported when first built).
QUALITY_SOURCES: Registry[QualitySource] = Registry(
    "quality source",
    {"oracle": OracleQuality, "wild": "vos_recommender.quality.estimator:WildQuality"},
)


def build_quality(name: str, **kwargs: Any) -> QualitySource:
    """Build a quality source by name (``"oracle"`` or ``"wild"``).

    Args:
        name: Source name.
        **kwargs: Constructor arguments (``checkpoint=`` for ``wild``).

    Raises:
        KeyError: If the name is unknown.
    """
    return QUALITY_SOURCES.build(name, **kwargs)
