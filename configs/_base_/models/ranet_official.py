# RANet as the authors' released code does it: binary JSD on i's arg-max class (natural log, not
# normalised); a fixed threshold on F (W^g is never applied) and J averaging F; greedy pointer-jumping
# regions; attentions not restricted by region (one joint softmax in the interaction); query/value and
# refinement convolutions. On top of a RANet model config:
#   _base_ = ["<a RANet config>", "<this file>"]
#   model = dict(decode_head=_base_.ranet_official)
ranet_official = dict(
    construction=dict(
        region_threshold=0.8,
        divergence="binary",
        jsd_normalize=False,
        learnable_decision=False,
        representativeness_source="score",
        region_rule="greedy",
        boundary_endpoints=False,
        representativeness_trains_decision=True,
    ),
    interaction=dict(
        num_representatives=8,
        local_mask=False,
        global_mask=False,
        global_softmax="joint",
        distribution_mask=False,
        feature_convs=True,
        refine_convs=True,
    ),
    # No loss_partition: none, as in the head's default (a config can add one on top).
)
