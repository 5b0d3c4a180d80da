"""Decode heads registered in mmseg.registry.MODELS."""
