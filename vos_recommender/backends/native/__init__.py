"""Backends running the published interactive VOS models natively (pure PyTorch, any device), loading the
authors' released checkpoints strictly; equivalence with the authors' code: ``docs/recommender.md``,
"IPN, MANet and ATNet, natively"."""
