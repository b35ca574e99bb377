"""One customer: their scores, marketing consent, everything stored about them
(export), erasure, and the token that lets them chat.
"""

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from retain.data.consent import ConsentChange, consent_view, record_consent
from retain.errors import InvalidInputError, NotFoundError, StoreError
from retain.privacy import erase_user, export_user
from retain.serve.deps import (
    API_PREFIX,
    AdminKey,
    CustomerId,
    IngestKey,
    ReadKey,
    client_errors,
    plain,
    problem,
    store_errors,
)
from retain.serve.keys import mint_customer_token
from retain.serve.schemas import ConsentIn, ConsentOut, TokenOut
from retain.serve.state import ServiceState


def router(state: ServiceState) -> APIRouter:
    """The customers routes over ``state``."""
    router = APIRouter(prefix=API_PREFIX)

    @router.get("/users/{user_id}/scores", summary="Churn risk, repurchase and value of a user")
    def user_scores(user_id: CustomerId, _key: ReadKey) -> dict[str, Any]:
        with store_errors(), state.read_store() as store:
            if not store.has_table("user_scores"):
                raise problem(503, "no scores yet; run `retain train predict`")
            found = store.query_df("SELECT * FROM user_scores WHERE user_id = ?", [user_id])
        if found.empty:
            raise problem(404, f"no scores for user {user_id!r} (not a customer when scored)")
        row = found.iloc[0].to_dict()
        # The value fields are in the shop's currency; null where it names none.
        return {**{str(k): plain(v) for k, v in row.items()}, "currency": state.config.currency}

    @router.put(
        "/users/{user_id}/marketing-consent",
        response_model=ConsentOut,
        summary="Record a customer's opt-in or opt-out of marketing (ingest)",
    )
    def put_consent(user_id: CustomerId, body: ConsentIn, _key: IngestKey) -> ConsentOut:
        with client_errors():
            change = ConsentChange.new(
                user_id,
                body.consent,
                changed_at=body.changed_at,
                source=body.source,
                future_tolerance_seconds=state.config.ingest.future_tolerance_seconds,
            )
        if state.ops is not None:
            try:
                with client_errors():
                    recorded = state.ops.record_consent(change)
            except StoreError as exc:
                raise problem(503, f"{exc}; retry", {"Retry-After": "2"}) from None
        else:
            with store_errors(), state.write_store() as store, client_errors():
                recorded = record_consent(store, change)
        state.metrics.add("retain_consent_changes_total", 1)
        return ConsentOut(**asdict(recorded))

    @router.get(
        "/users/{user_id}/marketing-consent",
        summary="A customer's marketing consent and the changes reported for them",
    )
    def get_consent(user_id: CustomerId, _key: ReadKey) -> dict[str, Any]:
        with store_errors(), state.read_store() as store:
            try:
                current, history = consent_view(store, user_id, state.ops)
            except StoreError as exc:  # the shared log in PostgreSQL
                raise problem(503, f"{exc}; retry") from None
        return {"user_id": user_id, "marketing_consent": current, "history": history}

    @router.get(
        "/users/{user_id}/export",
        summary="Everything stored about a customer, by table (admin)",
    )
    def export(user_id: CustomerId, _key: AdminKey) -> dict[str, Any]:
        operational: dict[str, list[dict[str, Any]]] = {}
        if state.ops is not None:
            try:
                operational = state.ops.export_user(user_id)
            except StoreError as exc:
                raise problem(503, f"{exc}; retry") from None
        with store_errors(), state.read_store() as store:
            try:
                tables = export_user(store, user_id)
            except InvalidInputError as exc:
                raise problem(422, str(exc)) from None
            except NotFoundError as exc:
                if not operational:
                    raise problem(404, str(exc)) from None
                tables = {}
        tables.update({f"operational.{t}": rows for t, rows in operational.items()})
        return {"user_id": user_id, "tables": tables}

    @router.delete(
        "/users/{user_id}",
        summary="Erase a customer from the store and the serving models (admin)",
    )
    def erase(user_id: CustomerId, _key: AdminKey) -> dict[str, Any]:
        with store_errors(), state.write_store() as store, client_errors():
            report = erase_user(store, user_id)
        rows_by_table = dict(report.rows_by_table)
        if state.ops is not None:
            if state.replica is not None:
                state.replica.claim_erasure(user_id)  # the others erase their own copies
            try:
                for table, n in state.ops.erase_user(user_id).items():
                    rows_by_table[f"operational.{table}"] = n
            except StoreError as exc:
                raise problem(503, f"{exc}; the embedded store is erased, retry") from None
        state.forget_user(user_id)
        return {
            "request_id": report.request_id,
            "erased_at": report.erased_at.isoformat(),
            "rows": sum(rows_by_table.values()),
            "rows_by_table": rows_by_table,
            "note": "gone from the store and the serving models now; model files trained "
            "before the erase hold it until the next training",
        }

    @router.post(
        "/customers/{user_id}/token",
        response_model=TokenOut,
        summary="Mint a customer token for the chat endpoint (admin)",
    )
    def customer_token(user_id: CustomerId, _key: AdminKey) -> TokenOut:
        hours = state.config.service.token_hours
        token = mint_customer_token(state.secret, user_id, hours)
        return TokenOut(user_id=user_id, token=token, expires_in_seconds=int(hours * 3600))

    return router
