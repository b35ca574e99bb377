"""Property-based tests of the validators: whatever comes in, the books balance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retain.data import Store, ingest_arrow
from retain.data.schemas import EVENT_TYPES

NOW = datetime(2026, 6, 1, tzinfo=UTC)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

any_text = st.one_of(st.none(), st.text(max_size=30))


@SETTINGS
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "user_id": any_text,
                "item_id": any_text,
                "event_type": st.one_of(any_text, st.sampled_from(EVENT_TYPES)),
                "ts": st.one_of(any_text, st.datetimes().map(str)),
                "value": st.one_of(any_text, st.floats(allow_nan=True).map(str)),
            }
        ),
        min_size=1,
        max_size=40,
    )
)
def test_any_input_is_accounted_for_and_never_crashes(rows: list[dict[str, str | None]]) -> None:
    with Store.open(":memory:") as store:
        table = pa.Table.from_pylist(rows, schema=pa.schema([(k, pa.string()) for k in rows[0]]))
        report = ingest_arrow(store, "events", table, source="prop", now=NOW)
        assert report.accepted + report.duplicates + report.quarantined == report.rows == len(rows)
        assert store.count("events") == report.accepted
        # Everything stored obeys the rules.
        bad = store.execute(
            "SELECT count(*) FROM events WHERE user_id = '' OR value < 0 OR NOT isfinite(value) "
            "OR ts > TIMESTAMP '2026-06-01 00:05:00' OR event_type NOT IN "
            f"({', '.join(repr(e) for e in EVENT_TYPES)})"
        ).fetchall()[0][0]
        assert bad == 0


@SETTINGS
@given(
    ts=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2026, 5, 31)),
    offset_hours=st.integers(-12, 14),
    value=st.floats(min_value=0, max_value=1e9, allow_nan=False),
    kind=st.sampled_from(EVENT_TYPES),
)
def test_valid_events_round_trip_exactly(
    ts: datetime, offset_hours: int, value: float, kind: str
) -> None:
    local = ts.replace(microsecond=0)
    text = local.isoformat() + f"{offset_hours:+03d}:00"
    expected_utc = local - timedelta(hours=offset_hours)
    table = pa.table(
        {
            "event_id": ["e"],
            "user_id": ["u"],
            "item_id": ["i"],
            "event_type": [kind.upper()],
            "ts": [text],
            "value": [repr(value)],
        }
    )
    with Store.open(":memory:") as store:
        report = ingest_arrow(store, "events", table, source="prop", now=NOW)
        if expected_utc > datetime(2026, 6, 1, 0, 5):
            assert report.quarantined == 1
            return
        assert report.accepted == 1, report.reasons
        got = store.execute("SELECT ts, value, event_type FROM events").fetchall()[0]
        assert got == (expected_utc, value, kind)


@SETTINGS
@given(st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False))
def test_negative_prices_are_always_quarantined_with_the_field_named(price: float) -> None:
    table = pa.table({"item_id": ["i1"], "title": ["t"], "price": [repr(price)]})
    with Store.open(":memory:") as store:
        report = ingest_arrow(store, "items", table, source="prop", now=NOW)
        assert report.quarantined == 1
        assert next(iter(report.reasons)).startswith("price: must not be negative")
