"""Native MANet (Miao et al., CVPR 2020): pure PyTorch, loads the authors' released checkpoint.

Modules: :mod:`.embedding` (DeepLab v3+ pixel embedding), :mod:`.heads` (interaction and propagation
heads), :mod:`.matching` (global and local matching maps), :mod:`.memory` (aggregation over rounds),
:mod:`.model` (the network and its configurations), :mod:`.checkpoint` (loading weights).
"""

from __future__ import annotations

from vos_recommender.nets.manet.checkpoint import (
    CheckpointMismatchError,
    load_manet_checkpoint,
    manet_state_dict_from,
)
from vos_recommender.nets.manet.matching import global_matching, local_matching
from vos_recommender.nets.manet.memory import RoundMemory
from vos_recommender.nets.manet.model import MANET_CONFIGS, MANet, MANetConfig

__all__ = [
    "MANET_CONFIGS",
    "CheckpointMismatchError",
    "MANet",
    "MANetConfig",
    "RoundMemory",
    "global_matching",
    "load_manet_checkpoint",
    "local_matching",
    "manet_state_dict_from",
]
