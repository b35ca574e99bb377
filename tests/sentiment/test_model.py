"""The review model: calibrated polarity in Chinese and English, saved without pickle,
and a clear answer for every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retain.errors import InvalidInputError, NotFittedError, NotFoundError
from retain.sentiment import SentimentModel, SentimentSettings
from retain.sentiment.features import MAX_CHARS
from retain.sentiment.model import NARROW_TRAINING
from tests.sentiment.conftest import phrase_reviews


def test_scores_held_out_reviews_in_both_languages(phrase_model: SentimentModel) -> None:
    texts, labels, languages = phrase_reviews(200, seed=2)
    proba = phrase_model.predict_proba(texts)
    assert ((proba >= 0.5) == np.array(labels)).mean() >= 0.97
    for language in ("zh", "en"):
        mine = [i for i, lang in enumerate(languages) if lang == language]
        assert (phrase_model.predict([texts[i] for i in mine]) == [labels[i] for i in mine]).all()
    assert proba.min() >= 0.0 and proba.max() <= 1.0


def test_the_demo_phrases_teach_wording_not_that_negation_means_a_complaint(
    phrase_model: SentimentModel,
) -> None:
    """What a user types first after ``make run``: short reviews in neither phrase bank.

    With two phrases per aspect every 不 and "not" sat in a complaint, so the
    demo model read 质量不错 ("the quality is good") as negative.
    """
    from retain.demo.catalogue import ASPECT_PHRASES

    said = {
        "质量不错": 1,
        "不太满意": 0,
        "物流很慢": 0,
        "Love it": 1,
        "Really happy with it": 1,
        "Would not buy again": 0,
    }
    bank = {phrase for pair in ASPECT_PHRASES.values() for side in pair for phrase in side}
    assert not bank & set(said)
    assert phrase_model.predict(list(said)).tolist() == list(said.values())
    mentions = phrase_model.aspects(["东西很好，就是发货有点慢"])[0]
    assert [(m.aspect, m.polarity) for m in mentions] == [("delivery", "negative")]


def test_traditional_chinese_reviews_score_as_their_simplified_originals(
    phrase_model: SentimentModel,
) -> None:
    """A Taiwan or Hong Kong shopper writes 質量; the model learned from 质量."""
    from retain.text.chinese import keep_traditional, to_traditional

    texts, _, languages = phrase_reviews(200, seed=4)
    chinese = [t for t, lang in zip(texts, languages, strict=True) if lang == "zh"]
    written = to_traditional(chinese)
    assert sum(a != b for a, b in zip(chinese, written, strict=True)) > len(chinese) // 2
    np.testing.assert_allclose(
        phrase_model.predict_proba(written), phrase_model.predict_proba(chinese), atol=1e-6
    )
    with keep_traditional():  # what the model would see without folding: other features
        assert not np.allclose(
            phrase_model.predict_proba(written), phrase_model.predict_proba(chinese), atol=1e-3
        )
    mentions = {(m.aspect, m.polarity) for m in phrase_model.aspects(["物流很慢，包裝破損"])[0]}
    assert {a for a, _ in mentions} >= {"delivery", "packaging"}


def test_a_model_that_saw_little_wording_says_so(phrase_model: SentimentModel) -> None:
    """The demo's phrase-built reviews teach a model its phrases, not Chinese or English."""
    from retain.sentiment.features import normalise

    texts, _, _ = phrase_reviews(800, seed=1)  # the fixture's training set
    distinct = len({normalise(t) for t in texts})
    assert phrase_model.meta["distinct_texts"] == distinct < NARROW_TRAINING
    assert phrase_model.training_note is not None
    assert phrase_model.training_note.startswith(
        f"this model learned from {distinct:,} distinct review texts from this shop"
    )
    many = [f"第{i}号商品很好用" if i % 2 else f"item {i} broke at once" for i in range(2_400)]
    broad = SentimentModel().fit(many, [i % 2 for i in range(2_400)])
    assert broad.training_note is None


def test_probabilities_are_calibrated_on_held_out_reviews(phrase_model: SentimentModel) -> None:
    """Sure predictions are right; the mean probability follows the positive share."""
    texts, labels, _ = phrase_reviews(300, seed=3)
    proba = phrase_model.predict_proba(texts)
    assert abs(proba.mean() - np.mean(labels)) < 0.08
    sure = (proba > 0.9) | (proba < 0.1)
    assert sure.mean() > 0.5 and ((proba[sure] >= 0.5) == np.array(labels)[sure]).all()


def test_save_and_load_give_the_same_scores_without_pickle(
    phrase_model: SentimentModel, tmp_path: Path
) -> None:
    phrase_model.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "sentiment.json",
        "sentiment.npz",
    ]
    loaded = SentimentModel.load(tmp_path / "m")
    texts, _, _ = phrase_reviews(50, seed=4)
    np.testing.assert_allclose(loaded.predict_proba(texts), phrase_model.predict_proba(texts))
    with pytest.raises(NotFoundError, match="retain train sentiment"):
        SentimentModel.load(tmp_path / "nothing")


def test_category_features_learn_words_whose_meaning_depends_on_the_product() -> None:
    """ "Small" praises a phone and blames a hotel room; only a category-aware model gets both."""
    rng = np.random.default_rng(0)
    texts, labels, cats = [], [], []
    fillers = ["", "总体", "这次", "感觉", "确实"]
    for _ in range(300):
        cat = "手机" if rng.random() < 0.5 else "酒店"
        small = rng.random() < 0.5
        filler = fillers[int(rng.integers(len(fillers)))]
        texts.append(filler + ("很小巧" if small else "很大"))
        labels.append(int(small) if cat == "手机" else int(not small))
        cats.append(cat)
    aware = SentimentModel().fit(texts, labels, cats)
    plain = SentimentModel(SentimentSettings(use_categories=False)).fit(texts, labels, cats)
    probe = ["这次很小巧", "这次很小巧", "这次很大", "这次很大"]
    probe_cats = ["手机", "酒店", "手机", "酒店"]
    assert aware.predict(probe, probe_cats).tolist() == [1, 0, 0, 1]
    assert len(set(plain.predict(probe, probe_cats)[:2].tolist())) == 1  # cannot tell them apart


def test_training_input_errors_say_what_is_wrong() -> None:
    with pytest.raises(InvalidInputError, match="row 1 has 2"):
        SentimentModel().fit(["good", "bad", "ok"], [1, 2, 0])
    with pytest.raises(InvalidInputError, match="one class"):
        SentimentModel().fit(["good", "great"], [1, 1])
    with pytest.raises(InvalidInputError, match="2 reviews but 1 labels"):
        SentimentModel().fit(["good", "bad"], [1])
    with pytest.raises(InvalidInputError, match=r"empty or whitespace \(positions 1\)"):
        SentimentModel().fit(["good", "  ", "bad"], [1, 1, 0])
    with pytest.raises(NotFittedError):
        SentimentModel().predict(["good"])


def test_every_kind_of_bad_review_gets_a_result_or_a_clear_error(
    phrase_model: SentimentModel,
) -> None:
    reviews: list[object] = [
        "",
        "   \n\t",
        "👍👍👍",
        "质量很差，用了两天就坏了" + "。" * 100_000,
        "Fast delivery 物流很快 but 包装破损",
        "bad bytes \udcff here",
        None,
        b"\xe8\xb4\xa8\xe9\x87\x8f",
    ]
    scores = phrase_model.score(reviews)
    assert len(scores) == len(reviews)
    assert [s.label for s in scores[:2]] == [None, None]
    assert scores[0].note == "empty review: nothing to score"
    # Emoji are text, but this model never saw one: no verdict rather than its prior.
    assert scores[2].label is None and scores[2].p_positive is None
    assert scores[2].note is not None and "not scored" in scores[2].note
    assert scores[3].label == 0 and scores[3].note is not None and "2,000" in scores[3].note
    assert scores[4].label in (0, 1) and scores[4].language == "zh"
    assert scores[5].label in (0, 1)
    assert scores[6].note == "not text" and scores[7].note == "not text"
    with pytest.raises(InvalidInputError, match="positions 0"):
        phrase_model.predict_proba([""])
    with pytest.raises(InvalidInputError, match="decode bytes as UTF-8"):
        phrase_model.predict_proba([b"abc"])  # type: ignore[list-item]
    assert MAX_CHARS == 2000


def test_emoji_a_shop_uses_are_learned_like_words() -> None:
    """Unseen symbols get no verdict; the same symbols in training data carry polarity."""
    texts, labels, _ = phrase_reviews(200, seed=3)
    texts = [t + (" 👍" if y == 1 else " 😡") for t, y in zip(texts, labels, strict=True)]
    model = SentimentModel().fit(texts, labels)
    thumbs, angry, unseen = model.score(["👍👍", "😡", "🦄"])
    assert thumbs.label == 1 and angry.label == 0
    assert unseen.label is None and unseen.p_positive is None


def test_an_encoder_channel_adds_embeddings_and_survives_save(tmp_path: Path) -> None:
    """Any encoder name load_encoder takes works; the packaged English MiniLM here."""
    texts, labels, languages = phrase_reviews(120, seed=5)
    english = [i for i, lang in enumerate(languages) if lang == "en"]
    settings = SentimentSettings(encoder="all-MiniLM-L6-v2")
    model = SentimentModel(settings).fit([texts[i] for i in english], [labels[i] for i in english])
    model.save(tmp_path / "enc")
    loaded = SentimentModel.load(tmp_path / "enc")
    assert loaded.settings.encoder == "all-MiniLM-L6-v2"
    probe = ["Great quality, very well made.", "Poor quality, it broke after two days."]
    assert loaded.predict(probe).tolist() == [1, 0]


def test_real_chinese_reviews_when_the_corpus_is_present(shared_data: Path) -> None:
    """A 6,000-review sample of online_shopping_10_cats: a real-language sanity bar."""
    from retain.sentiment.bench import split_reviews
    from retain.sentiment.service import labelled_reviews_from_csv

    data = labelled_reviews_from_csv(
        shared_data / "chinese-reviews" / "online_shopping_10_cats.csv"
    )
    rng = np.random.default_rng(0)
    rows = rng.choice(len(data.texts), 7000, replace=False)
    y = np.array([data.labels[i] for i in rows])
    train, val, test = split_reviews(len(rows), y, seed=0)
    train = np.concatenate([train, val])
    texts = [data.texts[i] for i in rows]
    cats = [data.categories[i] for i in rows] if data.categories else None
    model = SentimentModel().fit(
        [texts[i] for i in train], y[train], [cats[i] for i in train] if cats else None
    )
    predicted = model.predict([texts[i] for i in test], [cats[i] for i in test] if cats else None)
    assert (predicted == y[test]).mean() >= 0.88
