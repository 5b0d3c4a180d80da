"""Native (pure PyTorch, any device) re-implementations of the published IVOS models, loading the
authors' released checkpoints strictly and proved equal to the authors' code
(``benchmarks/vos_native_equivalence.py``)."""
