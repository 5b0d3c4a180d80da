"""Evaluation statistics: per-strategy summaries, paired differences, and the Table 1 assembly."""

from vos_recommender.evaluation.paired import compare_strategies, pair_means, paired_difference, seed_spread
from vos_recommender.evaluation.summary import spread, summarise

__all__ = ["compare_strategies", "pair_means", "paired_difference", "seed_spread", "spread", "summarise"]
