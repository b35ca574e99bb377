"""Review sentiment: polarity, aspects, alerts and grounded reply drafts."""

from retain.sentiment.aspects import ASPECTS, AspectMention, find_aspects
from retain.sentiment.model import ReviewScore, SentimentModel, SentimentSettings

__all__ = [
    "ASPECTS",
    "AspectMention",
    "ReviewScore",
    "SentimentModel",
    "SentimentSettings",
    "find_aspects",
]
