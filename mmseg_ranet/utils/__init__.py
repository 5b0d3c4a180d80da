"""Utilities shared by the plugin's tools."""

from .atomic import atomic_write_bytes, atomic_write_text, remove_stale_temporaries
from .checkpoint import (
    AtomicLocalBackend,
    CorruptCheckpointError,
    load_trusted_local_checkpoint,
    register_checkpoint_io,
)
from .config_check import (
    check_custom_imports,
    check_data_roots,
    check_nested_keys,
    check_num_classes,
    nested_key_typos,
    plugin_type_names,
    warn_unread_keys,
)
from .distributed import MeanLogVarsHook, prepare_cpu_distributed
from .rng_state import RNGStateHook, capture_rng_states, restore_rng_states

__all__ = [
    "AtomicLocalBackend",
    "CorruptCheckpointError",
    "MeanLogVarsHook",
    "RNGStateHook",
    "atomic_write_bytes",
    "atomic_write_text",
    "capture_rng_states",
    "check_custom_imports",
    "check_data_roots",
    "check_nested_keys",
    "check_num_classes",
    "load_trusted_local_checkpoint",
    "nested_key_typos",
    "plugin_type_names",
    "prepare_cpu_distributed",
    "register_checkpoint_io",
    "remove_stale_temporaries",
    "restore_rng_states",
    "warn_unread_keys",
]
