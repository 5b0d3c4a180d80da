"""Segmentation quality (J, F, J&F) and its summaries over interaction rounds (AUC, J&F@60s)."""

from vos_recommender.metrics.auc import (
    apply_time_out,
    average_curves,
    average_curves_per_sample,
    davis_summary,
    davis_time_budget,
    jf_at_time,
    per_sample_time_summary,
    round_auc,
    time_auc,
    time_curve,
)
from vos_recommender.metrics.jf import (
    VOID_RULES,
    boundary_map,
    boundary_tolerance,
    db_eval_boundary,
    db_eval_iou,
    jf_mean,
    object_ids_present,
    per_frame_jf,
)

__all__ = [
    "VOID_RULES",
    "apply_time_out",
    "average_curves",
    "average_curves_per_sample",
    "boundary_map",
    "davis_summary",
    "davis_time_budget",
    "boundary_tolerance",
    "db_eval_boundary",
    "db_eval_iou",
    "jf_at_time",
    "jf_mean",
    "object_ids_present",
    "per_frame_jf",
    "per_sample_time_summary",
    "round_auc",
    "time_auc",
    "time_curve",
]
