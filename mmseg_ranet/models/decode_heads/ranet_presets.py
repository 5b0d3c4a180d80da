"""RANet's two published behaviours as presets of its switches, and the checks of every switch value.

``variant='paper'`` and ``variant='official'`` fill the switches a config leaves as None; any single switch
can then be set on top of either variant, which is how the ablations are written. The blocks
(:class:`RegionConstructionBlock`, :class:`RegionInteractionBlock`) and the head check their own
arguments with the helpers here, so a bad value is named wherever it is given.
"""

from __future__ import annotations

from ..ops import (
    BOUNDARY_IMPLS,
    DIVERGENCE_FORMS,
    FORCED_REGIONS,
    GLOBAL_SOFTMAX_MODES,
    JSD_IMPLS,
    REGION_IMPLS,
    REGION_RULES,
)

#: The two published behaviours and the paper variant with the fixes that make its regions follow objects.
#: Every entry is also a constructor argument of ``RANetHead``, so any single choice can be ablated on top of
#: any variant.
RANET_VARIANTS: dict[str, dict] = {
    # What the paper describes.
    "paper": dict(
        region_threshold=0.8,
        divergence="full",
        jsd_normalize=True,
        learnable_decision=True,
        representativeness_source="decision",
        region_rule="components",
        local_mask=True,
        global_mask=True,
        global_softmax="per_region",
        distribution_mask=True,
        feature_convs=False,
        refine_convs=False,
        boundary_endpoints=False,
        representativeness_trains_decision=True,
    ),
    # What the authors' released code does.
    "official": dict(
        region_threshold=0.8,
        divergence="binary",
        jsd_normalize=False,
        learnable_decision=False,
        representativeness_source="score",
        region_rule="greedy",
        local_mask=False,
        global_mask=False,
        global_softmax="joint",
        distribution_mask=False,
        feature_convs=True,
        refine_convs=True,
        boundary_endpoints=False,
        representativeness_trains_decision=True,
    ),
}
# The paper variant whose regions follow objects: D counts the segment's end points (a cell on an outline
# separates both sides), and W^g learns from the partition loss of RANET_VARIANT_LOSSES only (through J it
# drifts until G links nothing or everything). With the end points F_ij <= 1 - max(b_i, b_j), and the
# untrained b is about 0.5: at a threshold of 0.8 every cell starts as its own region (measured: 256 of 256
# cells after 15 iterations), at 0.5 about 15 regions. Regions are made by average linkage of the margins
# (ops.region_linkage), not connected components of G: trained, the decision still links 8-12% of the
# neighbour pairs across object borders, and one such link makes connected components merge two objects
# (objects scenes, 300 x 4, seed 0: ASA 0.71 and 0.85 regions per GT segment with components, 0.87 and
# 2.15 with average linkage).
RANET_VARIANTS["object_regions"] = dict(
    RANET_VARIANTS["paper"],
    region_threshold=0.5,
    boundary_endpoints=True,
    representativeness_trains_decision=False,
    region_rule="average_linkage",
)

#: The ``loss_partition`` of each variant (``RANetHead(loss_partition=None)`` takes it; False turns it off).
RANET_VARIANT_LOSSES: dict[str, dict | None] = dict(
    paper=None,
    official=None,
    object_regions=dict(type="RegionPartitionLoss", loss_weight=1.0, num_pairs=1024),
)
REPRESENTATIVENESS_SOURCES = ("decision", "score")
#: ``boundary_endpoints``: False (released sampling), True (D' = max(D, b_i, b_j) everywhere) or
#: ``'decision'`` (D' only in the region decision G and the partition loss; F in J keeps the released D).
BOUNDARY_ENDPOINTS = (False, True, "decision")

#: Arguments of ``RANetHead`` that the Region Construction Block keeps (and uses).
CONSTRUCTION_SWITCHES = (
    "region_threshold",
    "divergence",
    "jsd_normalize",
    "learnable_decision",
    "representativeness_source",
    "region_rule",
    "use_boundary_term",
    "use_semantic_term",
    "boundary_endpoints",
    "representativeness_trains_decision",
    "force_regions",
    "decision_kernel_size",
    "boundary_impl",
    "semantic_impl",
    "region_impl",
    "stream_tables",
)
#: Arguments of ``RANetHead`` that the Region Interaction Block keeps (and uses).
INTERACTION_SWITCHES = (
    "num_representatives",
    "local_mask",
    "global_mask",
    "global_softmax",
    "distribution_mask",
    "feature_convs",
    "refine_convs",
    "attention_scale",
)

#: Allowed values of the switches that take one of several names; every other switch is a bool.
SWITCH_CHOICES: dict[str, tuple[str, ...]] = dict(
    divergence=DIVERGENCE_FORMS,
    representativeness_source=REPRESENTATIVENESS_SOURCES,
    region_rule=REGION_RULES,
    global_softmax=GLOBAL_SOFTMAX_MODES,
    boundary_impl=BOUNDARY_IMPLS,
    semantic_impl=JSD_IMPLS,
    region_impl=REGION_IMPLS,
    force_regions=FORCED_REGIONS,
    boundary_endpoints=BOUNDARY_ENDPOINTS,
)


def check_switches(**switches) -> None:
    """Raise ``ValueError`` naming the first switch whose value is not allowed.

    Args:
        **switches: Switch names (keys of :data:`SWITCH_CHOICES` or boolean switches) and their values.
    """
    for name, value in switches.items():
        allowed = SWITCH_CHOICES.get(name, (True, False))
        # ``1 in (True, False)`` holds, so the type is checked too.
        if not any(type(value) is type(choice) and value == choice for choice in allowed):
            raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def check_representativeness_source(source: str, learnable_decision: bool) -> None:
    """J can average F^g only when there is a learnable W^g to produce it."""
    if source == "decision" and not learnable_decision:
        raise ValueError(
            "representativeness_source='decision' averages F^g = W^g (x) F and needs learnable_decision=True"
        )


def resolve_loss_partition(variant: str, loss_partition) -> dict | None:
    """The partition loss config: the variant's for None, none for False, else the given dict."""
    if loss_partition is None:
        loss_partition = RANET_VARIANT_LOSSES[variant]
    elif loss_partition is False:
        return None
    if loss_partition is not None and not (isinstance(loss_partition, dict) and "type" in loss_partition):
        raise ValueError(
            "loss_partition must be None (the variant's), False (off) or a loss config dict with a 'type', "
            f"got {loss_partition!r}"
        )
    return loss_partition


def check_region_threshold(region_threshold) -> None:
    """The threshold on the symmetrised score (and initial -bias of W^g) must be a real number."""
    if isinstance(region_threshold, bool) or not isinstance(region_threshold, (int, float)):
        raise ValueError(f"region_threshold must be a number, got {region_threshold!r}")


def check_num_representatives(num_representatives) -> None:
    """K must be a positive integer."""
    if (
        not isinstance(num_representatives, int)
        or isinstance(num_representatives, bool)
        or num_representatives < 1
    ):
        raise ValueError(f"num_representatives (K) must be an integer >= 1, got {num_representatives!r}")


def check_decision_kernel_size(decision_kernel_size) -> None:
    """W^g is centred on each score, so its kernel size must be odd."""
    if not isinstance(decision_kernel_size, int) or decision_kernel_size < 1 or decision_kernel_size % 2 == 0:
        raise ValueError(f"decision_kernel_size must be a positive odd integer, got {decision_kernel_size!r}")


def resolve_stream_tables(stream_tables: bool | None, decision_kernel_size: int) -> bool:
    """Streaming by default whenever W^g is 1x1; streaming is impossible with a wider W^g."""
    if stream_tables is None:
        return decision_kernel_size == 1
    if not isinstance(stream_tables, bool):
        raise ValueError(f"stream_tables must be True, False or None, got {stream_tables!r}")
    if stream_tables and decision_kernel_size != 1:
        raise ValueError(
            "stream_tables=True needs decision_kernel_size=1: a wider decision convolution mixes "
            f"neighbouring rows of the score table (got decision_kernel_size={decision_kernel_size})"
        )
    return stream_tables


def resolve_switches(variant: str, **switches) -> dict:
    """Fill the preset switches left as None from the variant and check them.

    Args:
        variant (str): A key of :data:`RANET_VARIANTS`.
        **switches: Switches of :data:`CONSTRUCTION_SWITCHES` and :data:`INTERACTION_SWITCHES`; those of the
            preset take the variant's value when None, the others pass through (their block checks them).

    Returns:
        dict: The given switches with the preset ones filled in.
    """
    if variant not in RANET_VARIANTS:
        raise ValueError(f"variant must be one of {tuple(RANET_VARIANTS)}, got {variant!r}")
    unknown = sorted(set(switches) - set(CONSTRUCTION_SWITCHES) - set(INTERACTION_SWITCHES))
    if unknown:
        raise TypeError(
            f"unknown RANet switches {unknown}; "
            f"the switches are {CONSTRUCTION_SWITCHES + INTERACTION_SWITCHES}"
        )
    preset = RANET_VARIANTS[variant]
    resolved = dict(switches)
    resolved.update({name: preset[name] if switches.get(name) is None else switches[name] for name in preset})
    check_region_threshold(resolved["region_threshold"])
    check_switches(**{name: resolved[name] for name in preset if name != "region_threshold"})
    check_representativeness_source(resolved["representativeness_source"], resolved["learnable_decision"])
    return resolved


class BlockSwitch:
    """A head argument kept by the block that uses it: reading or setting it on the head reaches the block.

    Args:
        block (str): Attribute name of the block on the head.
        name (str): Attribute name of the switch on the block (and on the head).
    """

    def __init__(self, block: str, name: str) -> None:
        self.block = block
        self.name = name

    def __get__(self, head, owner=None):
        return self if head is None else getattr(getattr(head, self.block), self.name)

    def __set__(self, head, value) -> None:
        setattr(getattr(head, self.block), self.name, value)
