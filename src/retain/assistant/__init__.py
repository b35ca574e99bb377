"""The customer-service assistant: intents, slots, dialogue, knowledge, actions.

Start with :func:`retain.assistant.service.build_assistant` over a store, or
use the parts (:class:`IntentClassifier`, :class:`KnowledgeBase`) alone.
"""

from retain.assistant.dialogue import Assistant, Reply
from retain.assistant.intents import (
    OUT_OF_SCOPE,
    IntentClassifier,
    IntentPrediction,
    IntentSettings,
)
from retain.assistant.knowledge import Article, KnowledgeBase, Passage
from retain.assistant.slots import Catalogue, Slots, extract_slots, mask_personal_data

__all__ = [
    "OUT_OF_SCOPE",
    "Article",
    "Assistant",
    "Catalogue",
    "IntentClassifier",
    "IntentPrediction",
    "IntentSettings",
    "KnowledgeBase",
    "Passage",
    "Reply",
    "Slots",
    "extract_slots",
    "mask_personal_data",
]
