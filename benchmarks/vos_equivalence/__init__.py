"""Equivalence of the native IVOS models with the authors' code: one module per model
(``python benchmarks/vos_native_equivalence.py <model> --authors-dir ...``)."""
