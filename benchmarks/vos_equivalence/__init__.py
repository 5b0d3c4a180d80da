"""Equivalence of the native IVOS models with the authors' code, one module per model."""
