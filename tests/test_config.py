"""Settings: defaults, TOML file, environment, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from retain.config import Settings, get_settings
from retain.errors import ConfigError


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for key in (
        "RETAIN_DATA_DIR",
        "RETAIN_STORE_URL",
        "RETAIN_CONFIG",
        "RETAIN_INGEST__BATCH_SIZE",
    ):
        monkeypatch.delenv(key, raising=False)
    get_settings.cache_clear()


def test_defaults(tmp_path: Path) -> None:
    s = Settings()
    assert s.data_dir == Path("retain-data") and s.ingest.batch_size == 100_000
    assert s.resolved_store_url == f"duckdb:///{tmp_path / 'retain-data' / 'retain.duckdb'}"


def test_file_then_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "retain.toml").write_text('data_dir = "from-file"\n[ingest]\nbatch_size = 500\n')
    assert Settings().data_dir == Path("from-file") and Settings().ingest.batch_size == 500
    monkeypatch.setenv("RETAIN_INGEST__BATCH_SIZE", "700")
    assert Settings().ingest.batch_size == 700


def test_invalid_values_name_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETAIN_INGEST__BATCH_SIZE", "0")
    with pytest.raises(
        ConfigError, match=r"ingest.batch_size: Input should be greater than or equal to 1"
    ):
        get_settings()


def test_example_file_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).resolve().parents[1] / "retain.example.toml"
    monkeypatch.setenv("RETAIN_CONFIG", str(example))
    assert Settings().ingest.future_tolerance_seconds == 300
