"""Data directories for the dashboard tests: a full demo shop, an empty one, a one-day one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from retain.data import Store
from retain.data.ingest import ingest_arrow
from retain.main_job import run_main_job
from retain.recommend import RecommendSettings


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``make run``'s result plus one campaign: what a new user sees."""
    folder = tmp_path_factory.mktemp("demo-data")
    with Store.open(folder / "retain.duckdb") as store:
        # Includes a first campaign with a holdout; the recommender skips its
        # SASRec here (tests/recommend covers it).
        run_main_job(store, folder, seed=7, recommend_settings=RecommendSettings(sequential=False))
    return folder


@pytest.fixture(scope="session")
def empty_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("empty-data")
    Store.open(folder / "retain.duckdb").close()
    return folder


@pytest.fixture(scope="session")
def one_day_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shop with one day of orders and nobody returning yet."""
    folder = tmp_path_factory.mktemp("one-day-data")
    with Store.open(folder / "retain.duckdb") as store:
        orders = pa.table(
            {
                "order_id": ["a", "b", "c"],
                "user_id": ["u1", "u2", "u3"],
                "ts": ["2025-05-01 10:00", "2025-05-01 11:00", "2025-05-01 12:00"],
                "amount": [10.0, 20.0, 30.0],
            }
        )
        ingest_arrow(store, "orders", orders, source="one-day", now=dt.datetime(2030, 1, 1))
    return folder
