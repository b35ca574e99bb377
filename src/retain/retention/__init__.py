"""Retention: cohorts and curves, segments, experiments."""

from retain.retention.analytics import (
    active_users,
    attribute_names,
    cohort_heatmap,
    cohort_retention,
    customer_segments,
    repeat_purchase_rate,
    retention_curve,
    revenue_curve,
    segment_matrix,
)
from retain.retention.experiments import (
    Comparison,
    FixedHorizonPlan,
    assign,
    cuped,
    mean_test,
    proportion_test,
    sample_size_means,
    sample_size_proportions,
)
from retain.retention.segments import SEGMENTS, Segment, rfm_segments

__all__ = [
    "SEGMENTS",
    "Comparison",
    "FixedHorizonPlan",
    "Segment",
    "active_users",
    "assign",
    "attribute_names",
    "cohort_heatmap",
    "cohort_retention",
    "cuped",
    "customer_segments",
    "mean_test",
    "proportion_test",
    "repeat_purchase_rate",
    "retention_curve",
    "revenue_curve",
    "rfm_segments",
    "sample_size_means",
    "sample_size_proportions",
    "segment_matrix",
]
