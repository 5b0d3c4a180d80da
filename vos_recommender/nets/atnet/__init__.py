"""ATNet (Heo et al., ECCV 2020) in pure PyTorch: the network, its parts and the checkpoint loader."""

from vos_recommender.nets.atnet.checkpoint import load_atnet_checkpoint, read_atnet_state_dict
from vos_recommender.nets.atnet.correlation import displacements, local_correlation, shift_zero
from vos_recommender.nets.atnet.model import ATNET_CONFIGS, ATNet

__all__ = [
    "ATNET_CONFIGS",
    "ATNet",
    "displacements",
    "load_atnet_checkpoint",
    "local_correlation",
    "read_atnet_state_dict",
    "shift_zero",
]
