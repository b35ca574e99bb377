"""The ``/v1`` REST API: thin routes over the capability packages.

Authentication: an API key in ``X-API-Key`` (or ``Authorization: Bearer``)
with a role (``read``, ``ingest``, ``admin``) and a request rate; the chat
endpoint takes a customer token instead (``Authorization: Bearer``), minted
by an admin key, and acts for that customer only. Errors are JSON
``{"detail": ...}`` with the matching 4xx; the service never answers a
client's mistake with a 5xx.

The hot paths (recommendations, similar items) answer from the model held in
memory and never touch the store; ``POST /v1/events`` commits through the
same validated, idempotent ingestion as ``retain ingest`` and feeds accepted
events into the serving recommender at once, so the next answer reflects
them without a retrain.
"""

import datetime as dt
import math
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Security
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, StringConstraints

from retain.artifacts import list_versions, promote, rollback
from retain.data.consent import ConsentChange, consent_view, record_consent
from retain.data.summary import latest_order_day
from retain.data.user_ids import canonical_user_id
from retain.errors import InvalidInputError, NotFoundError, StoreError, StoreLockedError
from retain.features.customer import FeatureTables
from retain.privacy import erase_user, export_user
from retain.recommend.recommender import MAX_K, RecommendationList
from retain.retention.analytics import cohort_retention, retention_curve, segment_matrix
from retain.retention.campaign import build_campaign, campaign_rows, campaign_summaries
from retain.retention.members import find_segment, list_segments
from retain.retention.segments import MOVES_DAYS
from retain.retention.tracking import experiment_report
from retain.serve.cache import recommendation_question, recommendations_json
from retain.serve.intake import intake_events
from retain.serve.keys import ApiKey, Role, allows, mint_customer_token, read_customer_token
from retain.serve.live import LiveModel
from retain.serve.operational import pull_consent
from retain.serve.state import ServiceState

__all__ = ["api_router", "customer_reply", "metrics_text"]

_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key: rtn_…")
_BEARER = HTTPBearer(auto_error=False, description="An API key, or a customer token for chat")

JsonValue = str | int | float | bool | None
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class EventBatch(BaseModel):
    """Events in the canonical ``events`` fields (``event_id``, ``user_id``, ``item_id``,
    ``event_type``, ``ts``, ``value``, ``session_id``); send ``event_id`` so retries are
    harmless and the recommender sees the event at once."""

    events: list[dict[FieldName, JsonValue]] = Field(min_length=1)


class RecordError(BaseModel):
    index: int = Field(description="Position of the record in the batch, from 0.")
    reasons: list[str]


class EventsAccepted(BaseModel):
    received: int
    accepted: int
    duplicates: int
    quarantined: int
    errors: list[RecordError]
    ignored_fields: list[str]
    erased: int = Field(
        0, description="Events of customers erased on request, dated before the erase: not stored."
    )


class RecommendedItem(BaseModel):
    item_id: str
    score: float
    reason: str
    source: str
    promoted: bool = False


class Recommendations(BaseModel):
    user_id: str | None
    model_version: str
    items: list[RecommendedItem]
    unknown_items: list[str]
    cold_start: bool


class ReviewsIn(BaseModel):
    texts: list[str] = Field(min_length=1, max_length=1000)


class AspectOut(BaseModel):
    aspect: str
    polarity: str
    p_positive: float
    evidence: str


class ReviewScoreOut(BaseModel):
    label: int | None = Field(description="1 positive, 0 negative, None: nothing to score.")
    p_positive: float | None
    confidence: float | None
    language: str
    note: str | None
    aspects: list[AspectOut]


class ReviewScores(BaseModel):
    model_version: str
    scores: list[ReviewScoreOut]
    model_note: str | None = Field(
        None, description="Set when the model learned from too few distinct reviews to trust."
    )


class ChatIn(BaseModel):
    message: str = Field(max_length=200_000)
    conversation_id: str | None = Field(None, max_length=100)


class ChatOut(BaseModel):
    conversation_id: str
    text: str
    intent: str | None
    citations: list[str]
    handed_off: bool


class TurnOut(BaseModel):
    turn: int
    role: str
    text: str
    ts: dt.datetime | None


class HandoffOut(BaseModel):
    handoff_id: str
    conversation_id: str
    user_id: str | None
    reason: str
    last_message: str | None
    created_at: dt.datetime
    closed_at: dt.datetime | None = None
    turns: list[TurnOut] = Field(description="The conversation so far (personal data masked).")
    urgency: float = Field(
        0.0, description="1 for a valuable customer plus 0.5 for one at risk of leaving."
    )
    standing: list[str] = Field(
        default_factory=list, description="Why the customer matters, from user_scores."
    )


class UnansweredOut(BaseModel):
    question: str = Field(description="The most asked wording (personal data masked).")
    variants: list[str] = Field(description="Other wordings of the same question (up to 5).")
    wordings: int = Field(description="How many distinct wordings the group holds.")
    language: str | None
    off_topic: bool = Field(description="The intent model took it for off-topic.")
    asked: int
    customers: int
    last_asked: dt.datetime


class TokenOut(BaseModel):
    user_id: str
    token: str
    expires_in_seconds: int


class ConsentIn(BaseModel):
    """A change of marketing consent, as an email provider's webhook reports it."""

    consent: bool = Field(description="True: the customer accepts marketing; false: opted out.")
    changed_at: dt.datetime | None = Field(
        None,
        description="When the customer changed it, with a time zone; default: now. The latest "
        "change by this time wins, so a late or retried webhook cannot undo a newer one.",
    )
    source: str | None = Field(
        None, max_length=200, description="Where it came from, e.g. 'mailchimp unsubscribe'."
    )


class ConsentOut(BaseModel):
    user_id: str
    marketing_consent: bool
    changed_at: dt.datetime
    applied: bool = Field(description="False when a later change was already recorded.")


class CampaignIn(BaseModel):
    budget: float = Field(gt=0, le=1e9, description="Most the campaign may cost (expected).")
    holdout: float | None = Field(
        None, gt=0, lt=1, description="Share held out as control: the campaign is an experiment."
    )
    segment: str | None = Field(
        None,
        max_length=100,
        description="Only this segment's customers: an RFM segment name, or with kind "
        "'cluster' (behaviour) or 'taste' a learned segment's number.",
    )
    kind: Literal["rfm", "cluster", "taste"] = "rfm"
    moved_from: str | None = Field(
        None,
        max_length=100,
        description="With an RFM segment: only those who were in this RFM segment `days` "
        "days before the last order ('not a customer yet': first-time buyers since).",
    )
    days: int = Field(MOVES_DAYS, ge=1, le=3650)
    actions: list[Annotated[str, StringConstraints(max_length=100)]] | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Plan with only these actions (names from GET /v1/campaign-actions), e.g. "
        "the coupons alone for a win-back; unset: every action.",
    )


class PromoteIn(BaseModel):
    version: str = Field(min_length=1, max_length=64)


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=detail, headers=headers)


async def _authenticate(
    request: Request,
    api_key: Annotated[str | None, Security(_API_KEY)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
) -> ApiKey:
    state: ServiceState = request.app.state.retain
    presented = api_key or (bearer.credentials if bearer is not None else None)
    if not presented:
        raise _problem(
            401,
            "an API key is required: send it in the X-API-Key header",
            {"WWW-Authenticate": "Bearer"},
        )
    key = state.keys.check(presented)
    if key is None:
        raise _problem(
            401, "this API key is not valid (unknown or revoked)", {"WWW-Authenticate": "Bearer"}
        )
    wait = state.limiter.take(key.key_id, key.rate_per_second)
    if wait > 0:
        raise _problem(
            429,
            f"rate limit of {key.rate_per_second:g} requests/s for key {key.key_id} reached",
            {"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return key


def _needs(role: Role) -> Callable[[ApiKey], Awaitable[ApiKey]]:
    # async: FastAPI runs a plain function dependency on a worker thread, which
    # costs more than the check itself on the hot path.
    async def check(key: Annotated[ApiKey, Depends(_authenticate)]) -> ApiKey:
        if not allows(key.role, role):
            raise _problem(403, f"this needs a key with the {role} role; this one is {key.role}")
        return key

    return check


ReadKey = Annotated[ApiKey, Depends(_needs("read"))]
IngestKey = Annotated[ApiKey, Depends(_needs("ingest"))]
AdminKey = Annotated[ApiKey, Depends(_needs("admin"))]


async def _customer_id(user_id: Annotated[str, Path()]) -> str:
    """The ``{user_id}`` of a path as the store keeps it (an e-mail address lower-cased)."""
    try:
        return canonical_user_id(user_id)
    except InvalidInputError as exc:
        raise _problem(422, f"user_id: {exc}") from None


#: A ``{user_id}`` path parameter, folded like every stored customer id, so
#: ``/v1/users/Ann@Shop.com/scores`` finds ``ann@shop.com``.
CustomerId = Annotated[str, Depends(_customer_id)]


def api_router(state: ServiceState) -> APIRouter:
    """The ``/v1`` routes over ``state``."""
    router = APIRouter(prefix="/v1")

    def serving(live: LiveModel[Any]) -> tuple[str, Any]:
        current = live.serving
        if current is None:
            hint = f"retain train {live.kind}"
            raise _problem(503, f"no {live.kind} model is trained yet; run `{hint}`")
        return current

    @router.post(
        "/events",
        response_model=EventsAccepted,
        summary="Add a batch of behaviour events (idempotent by event_id)",
    )
    def post_events(batch: EventBatch, key: IngestKey) -> JSONResponse:
        limit = state.config.service.max_events_per_batch
        if len(batch.events) > limit:
            raise _problem(
                413, f"{len(batch.events):,} events in one batch; the limit is {limit:,}"
            )
        source = f"api/{key.key_id}/{uuid.uuid4().hex}"
        try:
            report = intake_events(state, batch.events, source)
        except StoreLockedError:
            raise _problem(
                503, "the store is busy (a training run); retry the batch", {"Retry-After": "2"}
            ) from None
        except StoreError as exc:
            raise _problem(503, f"{exc}; retry the batch", {"Retry-After": "2"}) from None
        except InvalidInputError as exc:
            raise _problem(422, str(exc)) from None
        state.feed(report.fresh)
        state.metrics.add("retain_events_accepted_total", report.accepted)
        state.metrics.add("retain_events_duplicate_total", report.duplicates)
        state.metrics.add("retain_events_quarantined_total", report.quarantined)
        body = EventsAccepted(
            received=report.received,
            accepted=report.accepted,
            duplicates=report.duplicates,
            quarantined=report.quarantined,
            errors=[RecordError(index=i, reasons=r.split("; ")) for i, r in report.errors],
            ignored_fields=report.ignored_fields,
            erased=report.erased,
        )
        status = 422 if report.quarantined == report.received else 200
        return JSONResponse(body.model_dump(), status_code=status)

    @router.get(
        "/users/{user_id}/recommendations",
        response_model=Recommendations,
        summary="What to show a user next (an unknown user gets the cold-start answer)",
    )
    async def user_recommendations(
        user_id: CustomerId,
        _key: ReadKey,
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
        category: Annotated[list[str] | None, Query(max_length=100)] = None,
        recent: Annotated[list[str], Query(max_length=200)] = [],  # noqa: B006 (FastAPI reads it)
        exclude: Annotated[list[str], Query(max_length=1000)] = [],  # noqa: B006
    ) -> Response:
        version, model = serving(state.recommender)

        def compute() -> bytes:
            with _client_errors():
                answer = model.recommend(
                    user_id, recent, k, categories=category, exclude_items=exclude
                )
            return recommendations_json(answer, version)

        question = recommendation_question(k, category, recent, exclude)
        body = state.answers.get_or_compute(version, user_id, question, compute)
        return Response(body, media_type="application/json")

    @router.get(
        "/items/{item_id}/similar",
        response_model=Recommendations,
        summary="Items like this one: bought with it, after it, or described alike",
    )
    async def similar_items(
        item_id: str,
        _key: ReadKey,
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
    ) -> Response:
        version, model = serving(state.recommender)

        def compute() -> bytes:
            with _client_errors():
                items = model.similar_items(item_id, k)
            return recommendations_json(RecommendationList(None, items, [], False), version)

        # Similar items depend on the model alone: cached under no user.
        body = state.answers.get_or_compute(version, "", ("similar", item_id, k), compute)
        return Response(body, media_type="application/json")

    @router.get("/users/{user_id}/scores", summary="Churn risk, repurchase and value of a user")
    def user_scores(user_id: CustomerId, _key: ReadKey) -> dict[str, Any]:
        with _store_errors(), state.read_store() as store:
            if not store.has_table("user_scores"):
                raise _problem(503, "no scores yet; run `retain train predict`")
            found = store.query_df("SELECT * FROM user_scores WHERE user_id = ?", [user_id])
        if found.empty:
            raise _problem(404, f"no scores for user {user_id!r} (not a customer when scored)")
        row = found.iloc[0].to_dict()
        # The value fields are in the shop's currency; null where it names none.
        return {**{str(k): _plain(v) for k, v in row.items()}, "currency": state.config.currency}

    @router.put(
        "/users/{user_id}/marketing-consent",
        response_model=ConsentOut,
        summary="Record a customer's opt-in or opt-out of marketing (ingest)",
    )
    def put_consent(user_id: CustomerId, body: ConsentIn, _key: IngestKey) -> ConsentOut:
        with _client_errors():
            change = ConsentChange.new(
                user_id,
                body.consent,
                changed_at=body.changed_at,
                source=body.source,
                future_tolerance_seconds=state.config.ingest.future_tolerance_seconds,
            )
        if state.ops is not None:
            try:
                with _client_errors():
                    recorded = state.ops.record_consent(change)
            except StoreError as exc:
                raise _problem(503, f"{exc}; retry", {"Retry-After": "2"}) from None
        else:
            with _store_errors(), state.write_store() as store, _client_errors():
                recorded = record_consent(store, change)
        state.metrics.add("retain_consent_changes_total", 1)
        return ConsentOut(**asdict(recorded))

    @router.get(
        "/users/{user_id}/marketing-consent",
        summary="A customer's marketing consent and the changes reported for them",
    )
    def get_consent(user_id: CustomerId, _key: ReadKey) -> dict[str, Any]:
        with _store_errors(), state.read_store() as store:
            try:
                current, history = consent_view(store, user_id, state.ops)
            except StoreError as exc:  # the shared log in PostgreSQL
                raise _problem(503, f"{exc}; retry") from None
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
                raise _problem(503, f"{exc}; retry") from None
        with _store_errors(), state.read_store() as store:
            try:
                tables = export_user(store, user_id)
            except InvalidInputError as exc:
                raise _problem(422, str(exc)) from None
            except NotFoundError as exc:
                if not operational:
                    raise _problem(404, str(exc)) from None
                tables = {}
        tables.update({f"operational.{t}": rows for t, rows in operational.items()})
        return {"user_id": user_id, "tables": tables}

    @router.delete(
        "/users/{user_id}",
        summary="Erase a customer from the store and the serving models (admin)",
    )
    def erase(user_id: CustomerId, _key: AdminKey) -> dict[str, Any]:
        with _store_errors(), state.write_store() as store, _client_errors():
            report = erase_user(store, user_id)
        rows_by_table = dict(report.rows_by_table)
        if state.ops is not None:
            if state.replica is not None:
                state.replica.claim_erasure(user_id)  # the others erase their own copies
            try:
                for table, n in state.ops.erase_user(user_id).items():
                    rows_by_table[f"operational.{table}"] = n
            except StoreError as exc:
                raise _problem(503, f"{exc}; the embedded store is erased, retry") from None
        state.forget_user(user_id)
        return {
            "request_id": report.request_id,
            "erased_at": report.erased_at.isoformat(),
            "rows": sum(rows_by_table.values()),
            "rows_by_table": rows_by_table,
            "note": "gone from the store and the serving models now; model files trained "
            "before the erase hold it until the next training",
        }

    @router.post("/reviews/score", response_model=ReviewScores, summary="Score review texts")
    def score_reviews(body: ReviewsIn, _key: ReadKey) -> JSONResponse:
        version, model = serving(state.sentiment)
        scores = model.score(body.texts)
        aspects = model.aspects(body.texts)
        out = [
            {
                "label": s.label,
                "p_positive": s.p_positive,
                "confidence": s.confidence,
                "language": s.language,
                "note": s.note,
                "aspects": [a.as_dict() for a in found],
            }
            for s, found in zip(scores, aspects, strict=True)
        ]
        return JSONResponse(
            {"model_version": version, "scores": out, "model_note": model.training_note}
        )

    @router.post(
        "/customers/{user_id}/token",
        response_model=TokenOut,
        summary="Mint a customer token for the chat endpoint (admin)",
    )
    def customer_token(user_id: CustomerId, _key: AdminKey) -> TokenOut:
        hours = state.config.service.token_hours
        token = mint_customer_token(state.secret, user_id, hours)
        return TokenOut(user_id=user_id, token=token, expires_in_seconds=int(hours * 3600))

    @router.post("/chat", response_model=ChatOut, summary="One customer message to the assistant")
    def chat(
        body: ChatIn,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
    ) -> ChatOut:
        user_id = read_customer_token(state.secret, bearer.credentials) if bearer else None
        if user_id is None:
            raise _problem(
                401,
                "chat needs a valid customer token (Authorization: Bearer …), minted by "
                "POST /v1/customers/{id}/token",
                {"WWW-Authenticate": "Bearer"},
            )
        return ChatOut(**customer_reply(state, user_id, body.message, body.conversation_id))

    @router.get(
        "/handoffs",
        response_model=list[HandoffOut],
        summary="Conversations the assistant handed to a person, newest first (admin)",
    )
    def handoffs(
        _key: AdminKey,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        state_filter: Annotated[
            Literal["open", "all"], Query(alias="state", description="open: not yet closed")
        ] = "open",
        order: Annotated[
            Literal["newest", "urgent"],
            Query(description="urgent: valuable and at-risk customers first"),
        ] = "newest",
    ) -> list[dict[str, Any]]:
        with _store_errors():
            return state.handoff_queue(
                limit, include_closed=state_filter == "all", urgent_first=order == "urgent"
            )

    @router.get(
        "/assistant/unanswered",
        response_model=list[UnansweredOut],
        summary="Questions the knowledge base had no answer for, grouped by meaning, "
        "most asked first (admin)",
    )
    def unanswered(
        _key: AdminKey,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        days: Annotated[
            int | None, Query(ge=1, le=3650, description="Only the last N days")
        ] = None,
    ) -> list[dict[str, Any]]:
        with _store_errors():
            return state.unanswered_questions(limit, days=days)

    @router.post(
        "/handoffs/{handoff_id}/close",
        response_model=HandoffOut,
        summary="Mark a hand-off done: it leaves the open queue (admin)",
    )
    def close_handoff(handoff_id: str, _key: AdminKey) -> dict[str, Any]:
        with _store_errors(), state.assistant_tables() as tables:
            if not tables.close_handoff(handoff_id):
                raise _problem(404, f"no open hand-off {handoff_id!r}")
            (closed,) = tables.handoffs(1, include_closed=True, handoff_id=handoff_id)
        return closed

    @router.post("/campaigns", summary="Plan a campaign within a budget (admin)")
    def create_campaign(body: CampaignIn, _key: AdminKey) -> dict[str, Any]:
        if body.moved_from is not None and body.segment is None:
            raise _problem(422, "moved_from narrows a segment: give segment too")
        try:
            actions = state.config.campaign.to_actions(body.actions)
        except ValueError as exc:
            raise _problem(422, f"actions: {exc}") from None
        with _store_errors(), state.write_store() as store:
            if state.ops is not None:
                pull_consent(state.ops, store)  # an opt-out through any replica counts now
            audience, audience_name = None, None
            if body.segment is not None:
                with _client_errors():
                    found = find_segment(
                        store, body.kind, body.segment, moved_from=body.moved_from, days=body.days
                    )
                audience = set(found.customers.user_id.astype(str))
                audience_name = found.title
            result = build_campaign(
                store,
                body.budget,
                holdout=body.holdout,
                audience=audience,
                audience_name=audience_name,
                actions=actions,
                currency=state.config.currency,
                require_consent=state.config.campaign.require_consent,
            )
        return {
            "campaign_id": result.campaign_id,
            "customers": len(result.plan),
            "customers_considered": result.customers_considered,
            "expected_cost": result.expected_cost,
            "expected_net_value": result.expected_net_value,
            "experiment": result.experiment,
            "uplift_learned": result.uplift_learned,
            "without_picks": result.without_picks,
            "without_consent": result.without_consent,
            "bought_since_scored": result.bought_since_scored,
            "scored_as_of": result.scored_as_of.isoformat() if result.scored_as_of else None,
        }

    @router.get(
        "/campaign-actions",
        summary="What a campaign may do: the shop's configured actions, or the built-in ones",
    )
    def campaign_actions(_key: ReadKey) -> dict[str, Any]:
        config = state.config.campaign
        return {
            "configured": config.actions is not None,
            "currency": state.config.currency,
            "actions": [asdict(a) for a in config.to_actions()],
        }

    @router.get("/campaigns", summary="Planned campaigns, newest first")
    def campaigns(_key: ReadKey) -> list[dict[str, Any]]:
        with _store_errors(), state.read_store() as store:
            frame = campaign_summaries(store)
        return [{str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]

    @router.get(
        "/campaigns/{campaign_id}",
        summary="One campaign's customers, each with an action and the reason (JSON or CSV)",
    )
    def campaign(
        campaign_id: str,
        _key: ReadKey,
        format: Annotated[Literal["json", "csv"], Query()] = "json",
    ) -> Any:
        with _store_errors(), state.read_store() as store:
            frame = campaign_rows(store, campaign_id)
        if frame is None:
            raise _problem(404, f"no campaign {campaign_id!r} (see GET /v1/campaigns)")
        if format == "csv":
            return Response(
                frame.to_csv(index=False),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{campaign_id}.csv"'},
            )
        rows = [{str(k): _plain(v) for k, v in r.items()} for r in frame.to_dict("records")]
        return {"campaign_id": campaign_id, "customers": rows}

    @router.get(
        "/experiments/{name}",
        summary="Treatment against control at D7/D30/D90: repurchase and revenue, with 95% CIs",
    )
    def experiment(name: str, _key: ReadKey) -> dict[str, Any]:
        with _store_errors(), state.read_store() as store, _client_errors():
            results = experiment_report(store, name)
        horizons = [
            {
                "days": r.days,
                "ready": r.ready,
                "ends": r.ends.isoformat(),
                "repurchase": _finite(asdict(r.repurchase)) if r.repurchase else None,
                "revenue": _finite(asdict(r.revenue)) if r.revenue else None,
            }
            for r in results
        ]
        return {"experiment": name, "horizons": horizons}

    @router.get(
        "/segments/{kind}",
        summary="Every RFM, behaviour or taste segment with its size and what sets it apart",
    )
    def segments(kind: Literal["rfm", "cluster", "taste"], _key: ReadKey) -> dict[str, Any]:
        with _store_errors(), state.read_store() as store, _client_errors():
            listed = list_segments(store, kind)
        if listed is None:
            raise _problem(
                503,
                "no orders yet"
                if kind == "rfm"
                else f"no {kind} segments are stored yet: "
                "run `retain train segments` (or `retain run`)",
            )
        rows = [
            {str(k): _plain(v) for k, v in r.items()} for r in listed.segments.to_dict("records")
        ]
        return {
            "kind": kind,
            "as_of": listed.as_of.isoformat(),
            "model_version": listed.model_version,
            "segments": rows,
        }

    @router.get(
        "/segments/{kind}/{name}/customers",
        summary="Every customer of an RFM, behaviour or taste segment, most value at stake first",
    )
    def segment_customers(
        kind: Literal["rfm", "cluster", "taste"],
        name: Annotated[str, Path(max_length=100)],
        _key: ReadKey,
        format: Literal["json", "csv"] = "json",
        moved_from: Annotated[
            str | None,
            Query(
                alias="from",
                max_length=100,
                description="Only those in this RFM segment `days` days before the last order "
                "('not a customer yet': first-time buyers since).",
            ),
        ] = None,
        days: Annotated[int, Query(ge=1, le=3650)] = MOVES_DAYS,
    ) -> Any:
        with _store_errors(), state.read_store() as store, _client_errors():
            found = find_segment(store, kind, name, moved_from=moved_from, days=days)
        if format == "csv":
            return Response(
                found.customers.to_csv(index=False),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="segment.csv"'},
            )
        rows = [
            {str(k): _plain(v) for k, v in r.items()} for r in found.customers.to_dict("records")
        ]
        return {
            "kind": kind,
            "segment": name,
            "from": moved_from,
            "about": found.about,
            "as_of": found.as_of.isoformat(),
            "customers": rows,
        }

    @router.get(
        "/retention/curves",
        summary="Retention and revenue-per-customer (LTV) curves, overall or per segment",
    )
    def retention_curves(
        _key: ReadKey,
        period: Literal["month", "week"] = "month",
        by: Annotated[
            str | None,
            Query(
                max_length=64,
                description="'rfm' (today's RFM segment), 'cluster' or 'taste' (the stored "
                "learned segment), 'first_category' or a customer attribute, e.g. channel",
            ),
        ] = None,
    ) -> dict[str, Any]:
        with _store_errors(), state.read_store() as store, _client_errors():
            day = latest_order_day(store)
            if day is None:
                return {
                    "as_of": None,
                    "period": period,
                    "by": by,
                    "currency": state.config.currency,
                    "curves": [],
                }
            tables = FeatureTables.from_store(store)
            matrix = (
                segment_matrix(tables, day, by, period)
                if by is not None
                else tables.fetch(cohort_retention(tables, day, period))
            )
        curve = retention_curve(matrix)
        columns = ["period_index", "retention", "revenue_per_customer", "customers", "cohorts"]
        parts = curve.groupby("segment", sort=True) if by is not None else [(None, curve)]
        return {
            "as_of": day.isoformat(),
            "period": period,
            "by": by,
            "currency": state.config.currency,
            "curves": [
                {"segment": name, "points": part[columns].to_dict("records")}
                for name, part in parts
            ],
        }

    @router.get("/models", summary="Serving model versions, stored versions and refusals")
    def models(_key: ReadKey) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for live in state.watcher.models:
            current = live.serving
            out[live.kind] = {
                "serving": current[0] if current else None,
                "swaps": live.swaps,
                "loading": live.loading,
                "recent_load_seconds": list(live.load_seconds),
                "refused": (
                    {"version": live.refused.version, "reason": live.refused.reason}
                    if live.refused
                    else None
                ),
                "stored": [
                    {"version": v.version, "current": v.current, "created_at": v.created_at}
                    for v in list_versions(live.root, live.kind)
                ],
            }
        return out

    def live_model(kind: str) -> LiveModel[Any]:
        for live in state.watcher.models:
            if live.kind == kind:
                return live
        known = ", ".join(m.kind for m in state.watcher.models)
        raise _problem(404, f"unknown model kind {kind!r}; expected one of: {known}")

    @router.post("/models/{kind}/promote", summary="Serve a stored version (admin)")
    def promote_model(kind: str, body: PromoteIn, _key: AdminKey) -> dict[str, Any]:
        live = live_model(kind)
        with _client_errors():
            promote(live.root, kind, body.version)
        return _swap_outcome(live, body.version)

    @router.post("/models/{kind}/rollback", summary="Serve the previous version (admin)")
    def rollback_model(kind: str, _key: AdminKey) -> dict[str, Any]:
        live = live_model(kind)
        try:
            version = rollback(live.root, kind)
        except NotFoundError as exc:
            raise _problem(409, str(exc)) from None
        return _swap_outcome(live, version)

    return router


def customer_reply(
    state: ServiceState, user_id: str, message: str, conversation_id: str | None
) -> dict[str, Any]:
    """One assistant turn for ``user_id`` (shared by the API and the dashboard preview)."""
    current = state.assistant.serving
    if current is None:
        raise _problem(503, "no assistant model is trained yet; run `retain train assistant`")
    # With PostgreSQL the conversations live there (every replica continues
    # them, and a turn's writes commit together); the store is then only read.
    with _store_errors(), ExitStack() as stack:
        tables = None
        if state.ops is not None:
            tables = stack.enter_context(state.ops.assistant_tables())
        opened = state.read_store() if tables is not None else state.write_store()
        store = stack.enter_context(opened)
        assistant = current[1].assistant(store, llm=state.llm, tables=tables)
        reply = assistant.reply(user_id, message, conversation_id)
    return {
        "conversation_id": reply.conversation_id,
        "text": reply.text,
        "intent": reply.intent,
        "citations": reply.citations,
        "handed_off": reply.handed_off,
    }


@contextmanager
def _client_errors() -> Iterator[None]:
    """Maps what a request asked wrongly onto 422 (bad input) and 404 (no such thing)."""
    try:
        yield
    except InvalidInputError as exc:
        raise _problem(422, str(exc)) from None
    except NotFoundError as exc:
        raise _problem(404, str(exc)) from None


@contextmanager
def _store_errors() -> Iterator[None]:
    """Maps a busy or missing store onto 503 answers."""
    try:
        yield
    except StoreLockedError:
        raise _problem(
            503, "the store is busy (a training run); retry", {"Retry-After": "2"}
        ) from None
    except NotFoundError as exc:
        raise _problem(503, str(exc)) from None
    except StoreError as exc:
        raise _problem(503, f"{exc}; retry", {"Retry-After": "2"}) from None


def _swap_outcome(live: LiveModel[Any], version: str) -> dict[str, Any]:
    live.poll()
    current = live.serving
    refused = live.refused if live.refused and live.refused.version == version else None
    return {
        "kind": live.kind,
        "current": version,
        "serving": current[0] if current else None,
        "refused": refused.reason if refused else None,
    }


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    """A flat dict with NaN and infinities as None (JSON has no such numbers)."""
    return {k: _plain(v) for k, v in values.items()}


def _plain(value: Any) -> Any:
    """A JSON-ready copy of one pandas cell (NaN -> None, timestamps -> ISO text)."""
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:
        value = value.tolist()  # a list column (pandas may hand it over as an array)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "item"):
        return _plain(value.item())
    return value


def metrics_text(state: ServiceState) -> PlainTextResponse:
    """``/metrics``: request counters and latencies, events, and the serving models."""
    for stale in [g for g in state.metrics.gauges if g[0] == "retain_model_serving"]:
        del state.metrics.gauges[stale]
    for live in state.watcher.models:
        current = live.serving
        labels = f'kind="{live.kind}",version="{current[0] if current else ""}"'
        state.metrics.gauges[("retain_model_serving", labels)] = 1.0 if current else 0.0
        state.metrics.gauges[("retain_model_swaps", f'kind="{live.kind}"')] = live.swaps
        state.metrics.gauges[("retain_model_refused", f'kind="{live.kind}"')] = (
            1.0 if live.refused else 0.0
        )
    return PlainTextResponse(
        state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
