"""Stored learned segments: what the pages, the CLI and the API read, stable across retrains."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from retain.artifacts import list_versions
from retain.data import Store
from retain.data.ingest import ingest_file
from retain.demo import DEMO_FILES, generate_demo_shop
from retain.errors import InvalidInputError
from retain.features.customer import FeatureTables, customer_features
from retain.retention.cluster_training import (
    CUSTOMERS_TABLE,
    load_clusters,
    stored_clusters,
    stored_members,
    train_segments,
)
from retain.retention.members import segment_members


def test_training_stores_the_segments_everyone_reads_and_a_retrain_keeps_them(
    tmp_path: Path,
) -> None:
    generate_demo_shop(tmp_path / "demo", seed=3, n_users=400)
    models = tmp_path / "models"
    with Store.open(tmp_path / "retain.duckdb") as store:
        with pytest.raises(InvalidInputError, match="no orders yet"):
            train_segments(store, models)
        assert stored_clusters(store) is None
        for name, table in DEMO_FILES.items():
            ingest_file(store, table, tmp_path / "demo" / name)
        first = train_segments(store, models)
        assert first.carried == [] and len(first.clusters) >= 3
        members = store.query_df(f"SELECT * FROM {CUSTOMERS_TABLE}")
        assert set(members.model_version) == {first.version}
        assert sum(c.customers for c in first.clusters) == len(members) == members.user_id.nunique()
        stored = stored_clusters(store)
        assert stored is not None and stored.version == first.version
        assert stored.clusters == first.clusters and stored.as_of == first.as_of
        # The published model assigns exactly as stored.
        tables = FeatureTables.from_store(store)
        features = tables.fetch(customer_features(tables, first.as_of))
        assigned = load_clusters(models).assign(features)
        assert dict(zip(assigned.user_id, assigned.cluster, strict=True)) == dict(
            zip(members.user_id, members.cluster, strict=True)
        )
        # The members page lists the stored members of the stored number.
        biggest = first.clusters[0]
        listed = segment_members(store, "cluster", str(biggest.label))
        assert listed is not None
        assert set(listed.customers.user_id) == set(stored_members(store, biggest.label))
        assert biggest.description[:10].lower() in listed.about.lower()
        # Retrained on the same data: the same segments keep the same numbers.
        again = train_segments(store, models)
        assert again.carried == sorted(c.label for c in first.clusters)
        assert [(c.label, c.customers) for c in again.clusters] == [
            (c.label, c.customers) for c in first.clusters
        ]
        # Two weeks earlier (other customers, other values) most numbers still carry over.
        earlier = train_segments(store, models, as_of=first.as_of - dt.timedelta(days=14))
        assert earlier.as_of < first.as_of and earlier.carried
        assert len(list_versions(models, "segments")) >= 2
