"""Would a review sentiment model find angry customers in chat? (``retain bench chat-sentiment``)

Issue 7 asks the assistant to hand off "when the customer is angry
(sentiment, where available)". The sentiment a shop has is its review model
(:mod:`retain.sentiment`), trained on reviews. This benchmark asks whether
that model, applied to customer-service messages, singles out complaints:

1. Fit :class:`~retain.sentiment.SentimentModel` on labelled reviews (any
   file ``retain bench sentiment`` reads).
2. Score every message of an intent file (Bitext's ``utterance,intent``
   CSV or ``text,category``; every split).
3. For each threshold on the probability of "negative", report the share of
   complaint messages it flags and the share of all other messages, and the
   intents flagged most at 0.9.

A model worth using for hand-off would flag complaints far more often than
the rest. On Bitext cs-8k with the Multi-Domain Amazon reviews it does the
opposite (see the README), so the assistant keeps its anger word lists and
its learned ``complaint`` intent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from retain.data.loaders.intents import read_intents
from retain.errors import InvalidInputError

__all__ = ["run_chat_sentiment_benchmark"]

THRESHOLDS = (0.7, 0.8, 0.9, 0.95)
#: The threshold at which intents are listed by how often they are flagged.
LISTED_AT = 0.9


def run_chat_sentiment_benchmark(
    reviews: Path, messages: Path, *, complaint_intent: str = "complaint"
) -> dict[str, Any]:
    """The protocol in the module doc; a JSON-ready dict."""
    from retain.sentiment import SentimentModel
    from retain.sentiment.service import labelled_reviews_from_csv

    labelled = labelled_reviews_from_csv(reviews)
    model = SentimentModel().fit(labelled.texts, labelled.labels, labelled.categories)
    data = read_intents(messages)
    rows = [*data.train, *data.val, *data.test]
    intents = np.array([intent for _, intent in rows])
    complaint = intents == complaint_intent
    if not complaint.any() or complaint.all():
        raise InvalidInputError(
            f"{messages}: need messages of intent {complaint_intent!r} and of other intents"
        )
    scores = model.score([text for text, _ in rows])
    negative = np.array([np.nan if s.p_positive is None else 1.0 - s.p_positive for s in scores])
    flagged = {
        str(t): {
            "complaint": float(np.nanmean(negative[complaint] >= t)),
            "other": float(np.nanmean(negative[~complaint] >= t)),
        }
        for t in THRESHOLDS
    }
    by_intent = {
        str(name): float(np.nanmean(negative[intents == name] >= LISTED_AT))
        for name in sorted(set(intents))
    }
    ranked = sorted(by_intent.items(), key=lambda kv: -kv[1])  # ties stay in name order
    return {
        "reviews": str(reviews),
        "messages": str(messages),
        "protocol": "review model fitted on the reviews; every message scored; share of "
        "messages whose probability of negative reaches each threshold",
        "review_count": len(labelled.texts),
        "complaint_messages": int(complaint.sum()),
        "other_messages": int((~complaint).sum()),
        "flagged": flagged,
        f"most_flagged_intents_at_{LISTED_AT}": ranked[:8],
    }
