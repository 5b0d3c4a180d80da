# RANet as the paper describes it: full, ln 2-normalised JSD; a learnable decision W^g that feeds J and
# learns through it; connected components of G; region-restricted local collection and distribution;
# global interaction across the other regions, one softmax per region. These are also the defaults of
# RANetHead's construction and interaction settings, written out so that the variants compare line by line.
# A model config uses it as model = dict(decode_head=dict(..., **_base_.ranet_paper)).
ranet_paper = dict(
    construction=dict(
        region_threshold=0.8,
        divergence="full",
        jsd_normalize=True,
        learnable_decision=True,
        representativeness_source="decision",
        region_rule="components",
        boundary_endpoints=False,
        representativeness_trains_decision=True,
    ),
    interaction=dict(
        num_representatives=8,
        local_mask=True,
        global_mask=True,
        global_softmax="per_region",
        distribution_mask=True,
        feature_convs=False,
        refine_convs=False,
    ),
    # No loss_partition: none, as in the head's default (a config can add one on top).
)
