"""What every layer of the package uses: atomic file writes (:mod:`.atomic`) and the name registry
(:mod:`.registry`). Nothing here imports another part of ``vos_recommender``."""
