"""Schemathesis against the published OpenAPI spec: no request it can make gets a 5xx."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from retain.config import Settings
from retain.data import Store
from retain.serve.app import create_app
from retain.serve.keys import create_key, mint_customer_token


@pytest.fixture(scope="module")
def fuzzed(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, str]]:
    """The app over a private copy of the demo shop, and headers that pass auth."""
    folder = tmp_path_factory.mktemp("fuzz") / "data"
    shutil.copytree(demo_dir, folder)
    with Store.open(folder / "retain.duckdb") as store:
        _, key = create_key(store, "schemathesis", "admin", 1e9)
    app = create_app(Settings(data_dir=folder))
    token = mint_customer_token(app.state.retain.secret, "U00012", 1.0)
    # The API key authenticates every route but chat, which reads the customer token.
    return app, {"X-API-Key": key, "Authorization": f"Bearer {token}"}


def test_no_request_gets_a_server_error(fuzzed: tuple[Any, dict[str, str]]) -> None:
    """Every operation of /openapi.json, with generated valid and invalid inputs."""
    app, headers = fuzzed
    spec = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in spec.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_5xx(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        no_5xx()
