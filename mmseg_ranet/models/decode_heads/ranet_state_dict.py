"""Parameter names of ``RANetHead`` checkpoints across layouts.

Version 1 of the head kept W^g and the attention convolutions on the head itself; version 2 moved them
into the blocks that use them; version 3 took the block settings as nested configs and kept version 2's
parameter names. Checkpoints of version 1 (and state dicts without version metadata) are renamed on load,
so they keep loading with ``strict=True`` and give the same outputs.
"""

from __future__ import annotations

from collections.abc import MutableMapping

#: Version-1 child name -> version-2 path of the same module.
VERSION_1_MODULES: dict[str, str] = {
    "decision_conv": "region_construction.decision_conv",
    "query_conv": "region_interaction.query_conv",
    "value_conv": "region_interaction.value_conv",
    "collection_refine": "region_interaction.collection_refine",
    "interaction_refine": "region_interaction.interaction_refine",
    "distribution_refine": "region_interaction.distribution_refine",
}


def upgrade_state_dict_layout(state_dict: MutableMapping, prefix: str = "") -> list[str]:
    """Rename the version-1 keys under ``prefix`` in place to their version-2 names.

    Args:
        state_dict (MutableMapping): A state dict that holds the head's entries under ``prefix``.
        prefix (str): The head's prefix in ``state_dict`` (e.g. ``'decode_head.'``).

    Returns:
        list[str]: The renamed (old) keys; empty for a version-2 state dict.
    """
    renamed = []
    for key in list(state_dict):
        if not key.startswith(prefix):
            continue
        child, _, rest = key[len(prefix) :].partition(".")
        if child in VERSION_1_MODULES and rest:
            new_key = f"{prefix}{VERSION_1_MODULES[child]}.{rest}"
            if new_key in state_dict:
                raise KeyError(f"state dict holds both {key!r} and {new_key!r}; cannot tell which to load")
            state_dict[new_key] = state_dict.pop(key)
            renamed.append(key)
    return renamed
