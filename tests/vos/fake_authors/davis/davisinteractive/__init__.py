"""Stand-in for davisinteractive 1.0.4 in the adapter tests: only ``utils.scribbles.scribbles2mask``."""

__version__ = "1.0.4"
