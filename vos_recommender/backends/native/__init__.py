"""Backends running the published interactive VOS models natively (pure PyTorch, any device)."""
