"""Losses registered in mmseg.registry.MODELS."""
