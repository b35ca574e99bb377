"""Feature definitions as Ibis expressions over the canonical tables."""

from retain.features.customer import (
    FEATURE_DESCRIPTIONS,
    FeatureTables,
    customer_features,
    purchase_occasions,
    purchase_outcomes,
)

__all__ = [
    "FEATURE_DESCRIPTIONS",
    "FeatureTables",
    "customer_features",
    "purchase_occasions",
    "purchase_outcomes",
]
