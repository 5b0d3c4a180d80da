"""Backends running native (pure PyTorch) re-implementations of published interactive VOS models."""
