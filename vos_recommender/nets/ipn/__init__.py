"""Native IPN (Oh et al., "Fast User-Guided Video Object Segmentation by Interaction-and-Propagation
Networks", CVPR 2019): pure PyTorch, any device, loading the released ``I.pth`` / ``P.pth`` strictly.

* :mod:`~vos_recommender.nets.ipn.parts`: encoder, decoder, feature aggregation;
* :mod:`~vos_recommender.nets.ipn.roi`: the region of interest both networks work in;
* :mod:`~vos_recommender.nets.ipn.networks`: the two networks and their configurations;
* :mod:`~vos_recommender.nets.ipn.checkpoint`: loading the released checkpoints.

The per-round procedure (scribbles, propagation both ways, blending with earlier rounds, soft
aggregation over objects) is the backend's: :mod:`vos_recommender.backends.native.ipn`.
"""

from __future__ import annotations

from vos_recommender.nets.ipn.checkpoint import load_weights, unwrap_state_dict
from vos_recommender.nets.ipn.networks import CONFIGS, InteractionNetwork, IPNConfig, PropagationNetwork

__all__ = [
    "CONFIGS",
    "IPNConfig",
    "InteractionNetwork",
    "PropagationNetwork",
    "load_weights",
    "unwrap_state_dict",
]
