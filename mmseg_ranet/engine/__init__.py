"""Training-loop parts registered in mmseg's registries: the optimizer wrapper for bf16 mixed precision on
devices without mmengine's ``AmpOptimWrapper`` (the CPU)."""

from .autocast_optim_wrapper import AutocastOptimWrapper

__all__ = ["AutocastOptimWrapper"]
