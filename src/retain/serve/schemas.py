"""The request and response bodies of the ``/v1`` API."""

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from retain.retention.segments import MOVES_DAYS

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
