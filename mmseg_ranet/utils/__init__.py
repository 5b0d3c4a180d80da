"""Utilities shared by the plugin's tools."""

from .checkpoint import (
    AtomicLocalBackend,
    atomic_write_bytes,
    load_trusted_local_checkpoint,
    register_checkpoint_io,
)
from .config_check import check_custom_imports, check_data_roots, plugin_type_names

__all__ = [
    "AtomicLocalBackend",
    "atomic_write_bytes",
    "check_custom_imports",
    "check_data_roots",
    "load_trusted_local_checkpoint",
    "plugin_type_names",
    "register_checkpoint_io",
]
