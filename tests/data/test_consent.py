"""Marketing consent as it changes: the latest change wins, nothing else in a profile moves."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from retain.data import Store, ingest_file
from retain.data.consent import ConsentChange, consent_history, consent_view, record_consent
from retain.errors import InvalidInputError
from retain.privacy import erase_user, export_user
from tests.conftest import write

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def _change(user: str, consent: bool, minutes_ago: float, source: str = "esp") -> ConsentChange:
    return ConsentChange.new(
        user,
        consent,
        changed_at=NOW - dt.timedelta(minutes=minutes_ago),
        source=source,
        now=NOW,
    )


def _consent(store: Store, user: str) -> object:
    return store.execute("SELECT marketing_consent FROM users WHERE user_id = ?", [user]).fetchone()


def test_the_latest_change_wins_even_when_an_older_one_arrives_later(
    store: Store, tmp_path: Path
) -> None:
    write(
        tmp_path / "users.csv",
        "user_id,first_seen,marketing_consent,tier\nu1,2026-01-05,yes,gold\n",
    )
    ingest_file(store, "users", tmp_path / "users.csv", now=NOW)

    opted_out = record_consent(store, _change("u1", False, minutes_ago=5, source="unsubscribe"))
    assert (opted_out.marketing_consent, opted_out.applied) == (False, True)
    # A retried webhook from before the opt-out arrives late: logged, not applied.
    late = record_consent(store, _change("u1", True, minutes_ago=60, source="retry"))
    assert (late.marketing_consent, late.applied) == (False, False)
    assert late.changed_at == (NOW - dt.timedelta(minutes=5)).replace(tzinfo=None)
    assert _consent(store, "u1") == (False,)
    # The rest of the profile stays as the users file gave it.
    first_seen, attributes = store.execute("SELECT first_seen, attributes FROM users").fetchone()
    assert str(first_seen).startswith("2026-01-05") and "gold" in attributes

    history = consent_history(store, "u1")
    assert [(h["marketing_consent"], h["source"]) for h in history] == [
        (False, "unsubscribe"),
        (True, "retry"),
    ]
    assert history[0]["changed_at"] == "2026-12-07T11:55:00Z"

    back_in = record_consent(store, _change("u1", True, minutes_ago=1))
    assert (back_in.marketing_consent, back_in.applied) == (True, True)
    assert _consent(store, "u1") == (True,)


def test_a_customer_without_a_profile_gets_one_holding_the_consent(store: Store) -> None:
    record_consent(store, _change("new-customer", False, minutes_ago=0))
    assert _consent(store, "new-customer") == (False,)
    assert consent_history(store, "nobody") == []


def test_a_library_caller_reads_an_address_in_any_case(store: Store) -> None:
    record_consent(store, _change("Ann@Shop.com", False, minutes_ago=0))
    current, history = consent_view(store, "ANN@shop.COM")
    assert current is False and [h["source"] for h in history] == ["esp"]


def test_changes_are_personal_data_exported_and_erased_with_the_rest(store: Store) -> None:
    record_consent(store, _change("u2", False, minutes_ago=0))
    assert [r["source"] for r in export_user(store, "u2")["consent_log"]] == ["esp"]
    assert erase_user(store, "u2").rows_by_table["consent_log"] == 1
    assert consent_history(store, "u2") == []


@pytest.mark.parametrize(
    ("changed_at", "message"),
    [
        (dt.datetime(2026, 12, 7, 11, 0), "has no time zone"),
        (NOW + dt.timedelta(days=1), "is in the future"),
    ],
)
def test_a_change_that_could_outrank_the_truth_is_refused(
    changed_at: dt.datetime, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        ConsentChange.new("u1", False, changed_at=changed_at, now=NOW)


def test_an_empty_id_or_an_overlong_source_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="user id is required"):
        ConsentChange.new(" ", False, now=NOW)
    with pytest.raises(InvalidInputError, match="source: at most 200"):
        ConsentChange.new("u1", False, source="x" * 201, now=NOW)
