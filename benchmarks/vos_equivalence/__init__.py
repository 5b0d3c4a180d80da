"""Per-model checks of the native backends against the authors' code (one module per model)."""
