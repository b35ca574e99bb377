"""The recommender a shop runs: fitted on the demo shop's store, rules and reasons checked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import cast

import numpy as np
import pyarrow as pa
import pytest

from retain.data import Store
from retain.data.ingest import ingest_file
from retain.demo import DEMO_FILES, generate_demo_shop
from retain.errors import InvalidInputError, NotFoundError
from retain.recommend import Recommender, RecommendSettings, SASRecConfig
from retain.recommend.scoring import RECOMMENDATIONS_TABLE, load_current, train_and_recommend

SMALL = RecommendSettings(
    sasrec=SASRecConfig(hidden=32, blocks=1, max_epochs=3, eval_every=1, lr=3e-3),
    holdout_users=400,
)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    folder = tmp_path_factory.mktemp("shop")
    generate_demo_shop(folder / "demo", seed=3, n_users=600)
    with Store.open(folder / "retain.duckdb") as store:
        for name, table in DEMO_FILES.items():
            ingest_file(store, table, folder / "demo" / name)
        yield store


@pytest.fixture(scope="module")
def tables(shop: Store) -> tuple[pa.Table, pa.Table]:
    events = shop.query_arrow("SELECT user_id, item_id, event_type, ts FROM events")
    return events, shop.table("items")


@pytest.fixture(scope="module")
def fitted(tables: tuple[pa.Table, pa.Table]) -> Recommender:
    return Recommender(SMALL).fit(*tables)


def _bought(events: pa.Table, user: str) -> set[str]:
    rows = events.filter(pa.compute.equal(events["user_id"], user)).to_pylist()
    return {r["item_id"] for r in rows if r["event_type"] in {"view", "cart", "purchase"}}


def test_known_user_gets_k_new_available_items_each_with_a_reason(
    fitted: Recommender, tables: tuple[pa.Table, pa.Table]
) -> None:
    events, _ = tables
    assert fitted.report is not None and fitted.report.holdout_ndcg10 > 0
    user = max(fitted.histories, key=lambda u: len(fitted.histories[u]))
    answer = fitted.recommend(user, k=8)
    ids = [r.item_id for r in answer.items]
    assert len(ids) == 8 == len(set(ids))
    assert not set(ids) & _bought(events, user)
    assert all(r.reason for r in answer.items) and not answer.cold_start
    assert [r.score for r in answer.items] == sorted((r.score for r in answer.items), reverse=True)


def test_the_blend_beats_popularity_on_held_out_items(fitted: Recommender) -> None:
    assert fitted.report is not None
    by_source = fitted.report.holdout_by_source
    assert fitted.report.holdout_ndcg10 >= max(by_source.values()) - 1e-9
    assert fitted.report.holdout_ndcg10 > by_source["popularity"]
    assert set(by_source) == {
        "popularity", "item_knn", "profile", "transition", "als", "content", "sasrec"
    }  # fmt: skip


def test_unknown_user_and_items_get_the_cold_start_path_and_a_report(
    fitted: Recommender,
) -> None:
    answer = fitted.recommend("never-seen", ["no-such-item", "I00001"], k=5)
    assert answer.unknown_items == ["no-such-item"]
    assert not answer.cold_start and "I00001" not in [r.item_id for r in answer.items]
    cold = fitted.recommend("never-seen", k=5)
    assert cold.cold_start and len(cold.items) == 5
    assert {r.source for r in cold.items} == {"popularity"}


@pytest.mark.parametrize("k", [0, -1, 501, 2.5])
def test_k_out_of_range_is_a_clear_error(fitted: Recommender, k: object) -> None:
    with pytest.raises(InvalidInputError, match="k must be a whole number from 1 to 500"):
        fitted.recommend("x", k=k)  # type: ignore[arg-type]


def test_category_filters_one_or_several(fitted: Recommender) -> None:
    user = next(iter(fitted.histories))
    categories = [c for c in set(fitted.categories[1:]) if c][:2]
    for wanted in ([categories[0]], categories):
        answer = fitted.recommend(user, k=5, categories=wanted)
        got = {fitted.categories[fitted.items.lookup()[r.item_id]] for r in answer.items}
        assert got and got <= set(wanted)
    assert fitted.recommend(user, k=5, categories=["no-such-category"]).items == []
    with pytest.raises(InvalidInputError, match="categories is empty"):
        fitted.recommend(user, k=5, categories=[])


def test_a_new_event_changes_the_next_answer_at_once(tables: tuple[pa.Table, pa.Table]) -> None:
    rec = Recommender(replace(SMALL, sequential=False, text_model=None)).fit(*tables)
    user = next(iter(rec.histories))
    before = rec.recommend(user, k=5)
    top = before.items[0].item_id
    assert rec.observe(user, top, "view")
    after = rec.recommend(user, k=5)
    assert top not in [r.item_id for r in after.items]
    assert [r.item_id for r in after.items] != [r.item_id for r in before.items]
    assert not rec.observe(user, "no-such-item", "view")


def test_an_address_is_one_customer_in_any_case(tables: tuple[pa.Table, pa.Table]) -> None:
    rec = Recommender(replace(SMALL, sequential=False, text_model=None)).fit(*tables)
    first, second = list(rec.histories)[:2]
    rec.histories["ann@shop.com"] = rec.histories.pop(first)
    answer = rec.recommend("Ann@Shop.com", k=5)  # as typed at checkout
    assert not answer.cold_start and answer.items
    # A model trained before ids were folded holds the address as it was written.
    rec.histories["Bo@Shop.com"] = rec.histories.pop(second)
    assert rec.forget("bo@shop.com")
    assert "Bo@Shop.com" not in rec.histories
    assert not rec.forget("bo@shop.com")


def test_one_variant_per_product_and_none_of_a_product_already_bought(
    tables: tuple[pa.Table, pa.Table], tmp_path: Path
) -> None:
    """A shirt bought in M is not news in S or L: sizes and colours of one product are
    items of their own (each has its SKU), but the customer sees the product once."""
    events, items = tables
    ids = items["item_id"].to_pylist()
    # Three variants per product: I00001-I00003 are one product, I00004-I00006 the next...
    products = [f"P{n // 3}" for n in range(len(ids))]
    items = items.set_column(
        items.column_names.index("product_id"), "product_id", pa.array(products)
    )
    product = dict(zip(ids, products, strict=True))
    rec = Recommender(replace(SMALL, sequential=False)).fit(events, items)
    users = list(rec.histories)[:40]
    for user, answer in zip(users, rec.recommend_many(users, k=10), strict=True):
        shown = [product[r.item_id] for r in answer.items]
        assert len(shown) == len(set(shown)) == 10, user
        had = {product[str(rec.items.ids[c])] for c in rec.histories[user]}
        assert not had & set(shown), user
    single = rec.recommend(users[0], k=10)
    assert [r.item_id for r in single.items] == [
        r.item_id for r in rec.recommend_many(users[:1], k=10)[0].items
    ]
    similar = rec.similar_items(ids[0], k=10)
    assert product[ids[0]] not in {product[r.item_id] for r in similar}
    rec.save(tmp_path / "model")
    again = Recommender.load(tmp_path / "model")
    assert [r.item_id for r in again.recommend(users[0], k=10).items] == [
        r.item_id for r in single.items
    ]

    # Without variants the answer is what it was: the rule costs nothing there.
    plain = Recommender(replace(SMALL, sequential=False)).fit(*tables)
    assert plain._product_of is None


def test_items_shown_often_without_a_click_are_dropped(tables: tuple[pa.Table, pa.Table]) -> None:
    rec = Recommender(replace(SMALL, sequential=False, text_model=None)).fit(*tables)
    user = next(iter(rec.histories))
    top = rec.recommend(user, k=5).items[0].item_id
    for _ in range(rec.settings.max_unclicked_impressions):
        rec.observe(user, top, "impression")
    assert top not in [r.item_id for r in rec.recommend(user, k=5).items]


def test_impressions_in_the_event_log_count_too(tables: tuple[pa.Table, pa.Table]) -> None:
    events, items = tables
    rec = Recommender(replace(SMALL, sequential=False, text_model=None)).fit(events, items)
    user = next(iter(rec.histories))
    top = rec.recommend(user, k=5).items[0].item_id
    last = events["ts"].to_pylist()[-1]
    shown = pa.table(
        {
            "user_id": [user] * 3,
            "item_id": [top] * 3,
            "event_type": ["impression"] * 3,
            "ts": pa.array([last] * 3, events.schema.field("ts").type),
        }
    )
    rec2 = Recommender(replace(SMALL, sequential=False, text_model=None)).fit(
        pa.concat_tables([events, shown]), items
    )
    assert top not in [r.item_id for r in rec2.recommend(user, k=5).items]


def test_category_cap_promoted_slots_and_unavailable_items(
    tables: tuple[pa.Table, pa.Table],
) -> None:
    events, items = tables
    item_ids = items["item_id"].to_pylist()
    gone = item_ids[:60]
    available = [i not in gone for i in item_ids]
    items2 = items.set_column(
        items.schema.get_field_index("available"), "available", pa.array(available)
    )
    rec = Recommender(replace(SMALL, sequential=False, text_model=None, category_cap=2)).fit(
        events, items2
    )
    user = next(iter(rec.histories))
    answer = rec.recommend(user, k=10)
    cats = [rec.categories[rec.items.lookup()[r.item_id]] for r in answer.items]
    assert max(cats.count(c) for c in set(cats)) <= 2
    assert not {r.item_id for r in answer.items} & set(gone)
    promo = next(i for i in item_ids[60:] if i not in {r.item_id for r in answer.items})
    promoted = rec.recommend(user, k=10, promoted=[promo, gone[0]], promoted_slots=[3, 5])
    assert promoted.items[2].item_id == promo and promoted.items[2].promoted
    assert gone[0] not in [r.item_id for r in promoted.items] and len(promoted.items) == 10


def test_repurchasable_categories_may_come_back(tables: tuple[pa.Table, pa.Table]) -> None:
    events, items = tables
    base = Recommender(replace(SMALL, sequential=False, text_model=None)).fit(events, items)
    user = max(base.histories, key=lambda u: len(base.histories[u]))
    seen_categories = {base.categories[c] for c in base.histories[user]}
    again = sorted(c for c in seen_categories if c)[:1]
    rec = Recommender(
        replace(SMALL, sequential=False, text_model=None, repurchasable_categories=tuple(again))
    ).fit(events, items)
    ids = [r.item_id for r in rec.recommend(user, k=100, categories=again).items]
    seen = {str(rec.items.ids[c]) for c in rec.histories[user]}
    assert set(ids) & seen  # items bought before in that category are allowed again


def test_similar_items_and_cold_start_items_through_text(
    fitted: Recommender, tables: tuple[pa.Table, pa.Table]
) -> None:
    events, items = tables
    some = fitted.recommend(next(iter(fitted.histories)), k=1).items[0].item_id
    similar = fitted.similar_items(some, k=5)
    assert len(similar) == 5 and some not in [r.item_id for r in similar]
    with pytest.raises(NotFoundError, match="not in the recommender"):
        fitted.similar_items("no-such-item")
    # A brand-new item nobody has touched is still rankable from its text.
    row = items.slice(0, 1).to_pylist()[0]
    new = {**row, "item_id": "NEW-1", "title": row["title"] + " (new)"}
    rec = Recommender(replace(SMALL, sequential=False)).fit(
        events, pa.concat_tables([items, pa.Table.from_pylist([new], items.schema)])
    )
    assert "NEW-1" in [r.item_id for r in rec.similar_items(row["item_id"], k=5)]


def test_repeated_item_texts_are_embedded_once(
    tables: tuple[pa.Table, pa.Table], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catalogue where many products share a text (a grocery's product types) embeds
    each distinct text once, and every product gets its text's vector."""
    from retain.text.encoder import TextEncoder

    events, items = tables
    copies = items.set_column(
        items.schema.get_field_index("title"),
        "title",
        pa.array([f"type {i % 5}" for i in range(items.num_rows)]),
    ).drop_columns(["description"])
    calls: list[int] = []
    real = TextEncoder.encode

    def counted(self: TextEncoder, texts: list[str], *args: object, **kwargs: object) -> object:
        calls.append(len(texts))
        return real(self, texts, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(TextEncoder, "encode", counted)
    rec = Recommender(replace(SMALL, sequential=False, als=False))
    rec.fit(events, copies)
    texts = [str(t or "") for t in rec.texts[1:]]
    assert calls == [len(set(texts))] and len(set(texts)) < len(texts) / 2
    assert rec.similar_items(items.column("item_id")[0].as_py(), k=3)


def test_a_retrain_reads_the_item_texts_vectors_back_from_the_store(
    tables: tuple[pa.Table, pa.Table], tmp_path: Path
) -> None:
    """Nightly retrains embed only new or changed product texts; the rest come
    back from the store and the content source gets the very same vectors."""
    from retain.recommend.sources import ContentSimilarity
    from retain.text.stored_vectors import StoredVectors

    events, items = tables
    quick = replace(SMALL, sequential=False, als=False)
    with Store.open(tmp_path / "s.duckdb") as store:
        first = Recommender(quick, text_vectors=StoredVectors(store)).fit(events, items)
        cache = StoredVectors(store)
        retitled = items.set_column(
            items.schema.get_field_index("title"),
            "title",
            pa.array(["A new title", *items.column("title").to_pylist()[1:]]),
        )
        second = Recommender(quick, text_vectors=cache).fit(events, retitled)
    assert (cache.reused, cache.embedded) == (items.num_rows - 1, 1)
    before = cast(ContentSimilarity, first.sources["content"]).vectors
    after = cast(ContentSimilarity, second.sources["content"]).vectors
    codes, _ = first.items.encode([items.column("item_id")[0].as_py()])
    kept = np.ones(len(before), dtype=bool)
    kept[[0, int(codes[0])]] = False  # row 0 is padding
    np.testing.assert_allclose(after[kept], before[kept], atol=1e-6)
    assert not np.allclose(after[int(codes[0])], before[int(codes[0])])


def test_save_and_load_answer_the_same(fitted: Recommender, tmp_path: Path) -> None:
    fitted.save(tmp_path / "model")
    loaded = Recommender.load(tmp_path / "model")
    for user in list(fitted.histories)[:5]:
        a = fitted.recommend(user, k=10)
        b = loaded.recommend(user, k=10)
        assert [r.item_id for r in a.items] == [r.item_id for r in b.items]
        assert [r.reason for r in a.items] == [r.reason for r in b.items]
        np.testing.assert_allclose(
            [r.score for r in a.items], [r.score for r in b.items], rtol=1e-5
        )
    with pytest.raises(NotFoundError):
        Recommender.load(tmp_path / "nothing")


def test_a_model_saved_before_the_profile_source_loads_and_never_uses_it(
    fitted: Recommender, tmp_path: Path
) -> None:
    fitted.save(tmp_path / "model")
    meta_path = tmp_path / "model" / "recommender.json"
    meta = json.loads(meta_path.read_text("utf-8"))
    meta["blend"]["weights"].pop("profile", None)  # as a model saved by an earlier version
    meta_path.write_text(json.dumps(meta), "utf-8")
    older = Recommender.load(tmp_path / "model")
    user = max(older.histories, key=lambda u: len(older.histories[u]))
    answer = older.recommend(user, k=10)
    assert len(answer.items) == 10 and "profile" not in {r.source for r in answer.items}


def test_train_recommend_writes_every_users_list(shop: Store, tmp_path: Path) -> None:
    result = train_and_recommend(shop, tmp_path, replace(SMALL, sequential=False), k=5)
    table = shop.table(RECOMMENDATIONS_TABLE)
    assert table.num_rows == result.rows_written == 5 * result.users
    assert set(table["model_version"].to_pylist()) == {result.version}
    assert load_current(tmp_path).recommend(table["user_id"][0].as_py(), k=5).items
    assert shop.count("text_vectors") == shop.count("items")  # kept for the next retrain


def test_a_new_item_is_offered_only_to_those_whose_items_it_is_like(
    fitted: Recommender, tables: tuple[pa.Table, pa.Table]
) -> None:
    """The "new in the shop" slot needs an item alike in text, not the least unlike one.

    Nor the same product listed again under another code: its text is the
    customer's own item's, so it would win the slot on similarity alone.
    """
    events, items = tables
    user = min(fitted.histories)
    latest = str(fitted.items.ids[fitted.histories[user][-1]])  # weighs most in their profile
    row = next(r for r in items.to_pylist() if r["item_id"] == latest)
    like = {**row, "item_id": "NEW-LIKE", "title": row["title"] + " (new)"}
    unlike = {**row, "item_id": "NEW-UNLIKE", "title": "Hydraulic pump gasket kit, 40 bar",
              "description": "Spare seals for an industrial hydraulic pump."}  # fmt: skip
    twin = {**row, "item_id": "NEW-TWIN"}
    extra = pa.Table.from_pylist([like, unlike, twin], items.schema)
    rec = Recommender(replace(SMALL, sequential=False)).fit(
        events, pa.concat_tables([items, extra])
    )
    lists = rec.recommend_many(list(rec.histories), k=10)
    offered = {r.item_id for lst in lists for r in lst.items if r.source == "new"}
    assert "NEW-UNLIKE" not in offered
    mine = rec.recommend(user, k=10).items
    assert any(r.item_id == "NEW-LIKE" and r.source == "new" for r in mine), mine
