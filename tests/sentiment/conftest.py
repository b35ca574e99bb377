"""Reviews written from the demo shop's aspect phrases, and a model trained on them."""

from __future__ import annotations

import numpy as np
import pytest

from retain.demo.catalogue import ASPECT_PHRASES
from retain.sentiment import SentimentModel


def phrase_reviews(n: int, seed: int) -> tuple[list[str], list[int], list[str]]:
    """``n`` one-polarity reviews of one or two aspect phrases, half Chinese, half English."""
    rng = np.random.default_rng(seed)
    aspects = sorted({aspect for aspect, _ in ASPECT_PHRASES})
    texts, labels, languages = [], [], []
    for i in range(n):
        polarity = "pos" if rng.random() < 0.5 else "neg"
        language = "zh" if i % 2 else "en"
        chosen = rng.choice(aspects, size=int(rng.integers(1, 3)), replace=False)
        parts = []
        for aspect in chosen:
            zh, en = ASPECT_PHRASES[(str(aspect), polarity)]
            options = zh if language == "zh" else en
            parts.append(options[int(rng.integers(len(options)))])
        texts.append(("，".join(parts) + "。") if language == "zh" else (". ".join(parts) + "."))
        labels.append(int(polarity == "pos"))
        languages.append(language)
    return texts, labels, languages


@pytest.fixture(scope="package")
def phrase_model() -> SentimentModel:
    texts, labels, _ = phrase_reviews(800, seed=1)
    return SentimentModel().fit(texts, labels)
