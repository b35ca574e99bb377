"""Full-ranking metrics and the candidate sources, on tiny hand-made histories."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from retain.errors import InvalidInputError
from retain.recommend.blend import fit_blend, to_distribution
from retain.recommend.metrics import ranking_metrics, target_ranks
from retain.recommend.sasrec import SASRec, SASRecConfig
from retain.recommend.sequences import ItemIndex, Sequences, leave_one_out
from retain.recommend.sources import ALS, ContentSimilarity, ItemKNN, Popularity, TransitionKNN


def _seqs(histories: list[list[int]], n_items: int) -> Sequences:
    items = ItemIndex.from_ids(str(i) for i in range(1, n_items + 1))
    users = np.array([f"u{i}" for i in range(len(histories))], dtype=object)
    return Sequences(users, [np.array(h, np.int32) for h in histories], items)


def test_ranks_exclude_history_and_count_ties_against_the_target() -> None:
    scores = np.array([[0.0, 5.0, 1.0, 1.0, 0.5]], np.float32)

    def score(_h: object) -> np.ndarray:
        return scores

    # Item 1 is in the history, so item 2 competes only with its tie, item 3.
    assert target_ranks(score, [np.array([1])], np.array([2]))[0] == 1
    # A target already in the history can never be hit.
    assert target_ranks(score, [np.array([1])], np.array([1]))[0] == 5
    metrics = ranking_metrics(np.array([0, 1, 30]))
    assert metrics["hr@10"] == pytest.approx(2 / 3)
    assert metrics["ndcg@10"] == pytest.approx((1 + 1 / np.log2(3)) / 3)


def test_sequences_follow_time_not_file_order_and_leave_one_out_holds_two() -> None:
    events = pa.table(
        {
            "user_id": ["a", "a", "a", "b", "a", "b"],
            "item_id": ["x", "y", "z", "x", "w", "q"],
            "event_type": ["view", "purchase", "cart", "view", "impression", "view"],
            "ts": pa.array([3, 1, 2, 1, 4, 2], pa.int64()).cast(pa.timestamp("s")),
        }
    )
    seqs = Sequences.from_events(events)
    by_user = dict(zip(seqs.users, seqs.histories, strict=True))
    names = {u: [seqs.items.ids[i] for i in h] for u, h in by_user.items()}
    assert names == {"a": ["y", "z", "x"], "b": ["x", "q"]}  # the impression is no interest
    split = leave_one_out(seqs)
    assert list(split.train.users) == ["a"]
    assert [seqs.items.ids[i] for i in split.train.histories[0]] == ["y"]
    with pytest.raises(InvalidInputError, match="at least 3"):
        leave_one_out(_seqs([[1, 2]], 3))


def test_transition_source_learns_what_comes_next() -> None:
    seqs = _seqs([[1, 2, 3], [1, 2, 3], [4, 2, 5], [1, 2, 3]], 5)
    t = TransitionKNN(window=1, last=1)
    t.fit(seqs)
    row = t.score([np.array([2], np.int32)])[0]
    assert int(np.argmax(row)) == 3  # after 2 comes 3 three times out of four
    knn = ItemKNN(last=1)
    knn.fit(seqs)
    assert knn.score([np.array([4], np.int32)])[0][5] > 0  # 4 and 5 share a user
    pop = Popularity()
    pop.fit(seqs)
    assert int(np.argmax(pop.score([np.array([], np.int32)])[0])) == 2


def test_the_profile_source_keeps_a_regular_on_what_they_usually_buy() -> None:
    from retain.recommend.components import item_knn, profile_knn

    # Items 1-10 and 11-20 are two groups, each bought together by its own shoppers.
    rng = np.random.default_rng(0)
    groups = [list(range(1, 11)), list(range(11, 21))]
    shoppers = [rng.choice(groups[u % 2], 5, replace=False).tolist() for u in range(200)]
    seqs = _seqs(shoppers, 20)
    recent, lasting = item_knn(), profile_knn()
    recent.fit(seqs)
    lasting.similarity = recent.similarity
    # A regular of the first group whose last three visits strayed into the second.
    regular = np.array([1, 2, 3, 4, 5, 6, 1, 2, 11, 12, 13], np.int32)
    unseen = np.setdiff1d(np.arange(1, 21), regular)

    def best(scores: np.ndarray) -> int:
        return int(unseen[np.argmax(scores[0][unseen])])

    assert best(recent.score([regular])) > 10  # the recent items lead item_knn astray
    assert best(lasting.score([regular])) <= 10  # the whole history keeps the usual group


def test_als_solves_vectors_for_histories_it_never_saw() -> None:
    rng = np.random.default_rng(0)
    group_a = [list(rng.choice([1, 2, 3, 4], 3, replace=False) + 0) for _ in range(40)]
    group_b = [list(rng.choice([5, 6, 7, 8], 3, replace=False) + 0) for _ in range(40)]
    als = ALS(factors=4, iterations=10, regularization=0.1)
    als.fit(_seqs(group_a + group_b, 8))
    row = als.score([np.array([1, 2], np.int32)])[0]
    assert row[[3, 4]].min() > row[[5, 6, 7, 8]].max()


def test_content_similarity_ranks_items_described_alike() -> None:
    vectors = np.array([[0, 0], [1, 0], [0.9, 0.1], [0, 1]], np.float32)
    vectors[1:] /= np.linalg.norm(vectors[1:], axis=1, keepdims=True)
    content = ContentSimilarity(vectors)
    row = content.score([np.array([1], np.int32)])[0]
    assert row[2] > row[3]


def test_blend_gives_weight_to_the_informative_source_only() -> None:
    rng = np.random.default_rng(1)
    targets = rng.integers(1, 50, 300).astype(np.int32)
    good = rng.random((300, 51)).astype(np.float32)
    good[np.arange(300), targets] += 1.0
    noise = rng.random((300, 51)).astype(np.float32)
    histories = [np.array([], np.int32)] * 300
    blend = fit_blend(
        {"good": good, "noise": noise}, {"good": "share", "noise": "share"}, histories, targets
    )
    assert blend.weights["good"] > 0
    assert blend.weights["noise"] < blend.weights["good"] / 5
    dist = to_distribution(good, "softmax")
    assert np.allclose(dist.sum(axis=1), 1.0) and (dist[:, 0] == 0).all()


def _walks() -> list[list[int]]:
    """200 users, each walking 1 -> 2 -> ... -> 8 from a random start, four steps."""
    rng = np.random.default_rng(0)
    return [list(range(start, start + 4)) for start in rng.integers(1, 5, 200).tolist()]


def test_sasrec_learns_a_deterministic_order() -> None:
    seqs = _seqs(_walks(), 8)
    model = SASRec(SASRecConfig(hidden=16, blocks=1, max_epochs=40, dropout=0.1, lr=1e-2))
    model.fit(seqs)
    scores = model.score([np.array([2, 3], np.int32), np.array([5], np.int32)])
    assert int(np.argmax(scores[0][1:])) + 1 == 4
    assert int(np.argmax(scores[1][1:])) + 1 == 6


def test_sasrec_on_a_large_catalogue_samples_its_softmax_and_still_learns() -> None:
    """Past ``full_softmax_items`` the loss scores a sample, not every item: memory
    stays bounded by the sample on a big catalogue, and the order is still learned
    (here the vocabulary is 2,000 items, the sample 64)."""
    import torch

    from retain.recommend.sasrec import _softmax_loss

    seqs = _seqs(_walks(), 2000)
    config = SASRecConfig(
        hidden=16, blocks=1, max_epochs=40, dropout=0.1, lr=1e-2,
        full_softmax_items=500, sampled_negatives=64,
    )  # fmt: skip
    model = SASRec(config)
    model.fit(seqs)
    scores = model.score([np.array([2, 3], np.int32), np.array([5], np.int32)])
    assert int(np.argmax(scores[0][1:])) + 1 == 4
    assert int(np.argmax(scores[1][1:])) + 1 == 6
    # The sampled loss touches only the candidates' rows of the item table.
    weights = torch.randn(2001, 8, requires_grad=True)
    hidden = torch.randn(5, 8)
    _softmax_loss(weights, hidden, torch.tensor([3, 3, 9, 1500, 7]), config).backward()
    assert weights.grad is not None
    touched = int((weights.grad.abs().sum(dim=1) > 0).sum())
    assert 4 <= touched <= 4 + 64 and weights.grad[0].abs().sum() == 0
    # A small vocabulary keeps the exact full softmax.
    small = torch.randn(401, 8)
    full = torch.nn.functional.cross_entropy(
        torch.cat([torch.full((5, 1), -1e9), hidden @ small[1:].T], dim=1),
        torch.tensor([3, 3, 9, 150, 7]),
    )
    exact = _softmax_loss(small, hidden, torch.tensor([3, 3, 9, 150, 7]), config)
    assert float(exact) == pytest.approx(float(full), rel=1e-5)


def test_one_request_scores_like_a_batch() -> None:
    rng = np.random.default_rng(3)
    seqs = _seqs([list(rng.integers(1, 30, 6)) for _ in range(80)], 30)
    vectors = rng.normal(size=(31, 8)).astype(np.float32)
    vectors[0] = 0
    histories = [np.array([3, 7, 7, 12, 5], np.int32), np.array([9], np.int32)]
    for source in (ItemKNN(last=None, decay=0.7), TransitionKNN(), ContentSimilarity(vectors)):
        source.fit(seqs)
        batch = source.score(histories)
        for row, history in enumerate(histories):
            np.testing.assert_allclose(source.score([history])[0], batch[row], rtol=1e-5, atol=1e-6)


def test_decayed_popularity_follows_what_sells_now() -> None:
    day = 86_400.0
    now = 1_700_000_000.0
    # Item 1 sold five times a season ago; item 2 twice this week; item 3 once, long ago.
    events = pa.table(
        {
            "user_id": ["a", "b", "c", "d", "e", "f", "g", "h"],
            "item_id": ["1", "1", "1", "1", "1", "2", "2", "3"],
            "ts": pa.array(
                [now - 90 * day] * 5 + [now - 2 * day, now] + [now - 400 * day],
                pa.timestamp("s"),
            ),
        }
    )
    history = Sequences.from_events(events)
    assert history.times is not None
    assert history.times[0][0] == now - 90 * day  # seconds since the epoch, per entry
    all_time = Popularity()
    all_time.fit(history)
    recent = Popularity(half_life_days=14)
    recent.fit(history)
    assert all_time.counts[1] > all_time.counts[2]
    assert recent.counts[2] > recent.counts[1] > recent.counts[3] > 0  # faded, never "new"
    # Without timestamps (a sequence file), a half-life changes nothing.
    plain = Sequences(history.users, history.histories, history.items)
    undated = Popularity(half_life_days=14)
    undated.fit(plain)
    assert np.array_equal(undated.counts, all_time.counts)


def test_without_last_drops_the_latest_item_and_its_time() -> None:
    events = pa.table(
        {
            "user_id": ["a", "a", "a", "b"],
            "item_id": ["1", "2", "3", "1"],
            "ts": pa.array([1, 2, 3, 4], pa.timestamp("s")),
        }
    )
    train = Sequences.from_events(events).without_last()
    assert [h.tolist() for h in train.histories] == [[1, 2], [1]]
    assert train.times is not None and [t.tolist() for t in train.times] == [[1.0, 2.0], [4.0]]
