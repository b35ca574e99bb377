"""The canonical data model every capability reads and writes.

Each input table is described once here, as data: field kinds, which fields
are required, vocabularies and bounds. The validation SQL (:mod:`sql`), the
DDL, the ingestion counts and the documentation are all derived from these
descriptions, so a rule is stated in exactly one place.

Two write modes exist, because shops send two kinds of records:

* ``append`` — facts that happened (events, orders, reviews, conversation
  turns). A record's key is written once; the same key again is a duplicate
  and is ignored, which makes re-ingesting a file harmless.
* ``upsert`` — descriptions that change (items, users, knowledge-base
  articles). A new key or a changed record is written; an identical record is
  a duplicate.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

__all__ = [
    "EVENT_TYPES",
    "EVENT_TYPE_SYNONYMS",
    "INPUT_TABLES",
    "NOT_PURCHASES",
    "ORDER_STATUSES",
    "ORDER_STATUS_MOVES",
    "ORDER_STATUS_SYNONYMS",
    "SCHEMAS",
    "Field",
    "FieldKind",
    "Lifecycle",
    "Revision",
    "TableSchema",
    "get_schema",
    "purchase_sql",
]

FieldKind = Literal[
    "id", "text", "timestamp", "number", "integer", "boolean", "json", "language", "currency"
]

_SQL_TYPES: Mapping[FieldKind, str] = MappingProxyType(
    {
        "id": "VARCHAR",
        "text": "VARCHAR",
        "language": "VARCHAR",
        "currency": "VARCHAR",
        "json": "VARCHAR",
        "timestamp": "TIMESTAMP",
        "number": "DOUBLE",
        "integer": "BIGINT",
        "boolean": "BOOLEAN",
    }
)

#: Event types Retain understands, in funnel order.
EVENT_TYPES: tuple[str, ...] = (
    "impression",
    "view",
    "click",
    "search",
    "favorite",
    "cart",
    "remove_from_cart",
    "purchase",
    "return",
)

#: Names other systems use for the same event types (compared lower-cased).
EVENT_TYPE_SYNONYMS: Mapping[str, str] = MappingProxyType(
    {
        "pv": "view",
        "page_view": "view",
        "pageview": "view",
        "detail": "view",
        "product_view": "view",
        "impressions": "impression",
        "exposure": "impression",
        "shown": "impression",
        "fav": "favorite",
        "favourite": "favorite",
        "collect": "favorite",
        "like": "favorite",
        "wishlist": "favorite",
        "add_to_cart": "cart",
        "addtocart": "cart",
        "add-to-cart": "cart",
        "cart_add": "cart",
        "remove_cart": "remove_from_cart",
        "removefromcart": "remove_from_cart",
        "buy": "purchase",
        "order": "purchase",
        "transaction": "purchase",
        "refund": "return",
    }
)

ORDER_STATUSES: tuple[str, ...] = ("completed", "pending", "cancelled", "returned", "refunded")

#: What shop systems call the same statuses (compared lower-cased): Magento,
#: WooCommerce, Shopify and marketplace exports such as Olist's. A status with
#: no clear meaning here ("unavailable") is left out: it is quarantined, and
#: ``--value status:SOURCE=STATUS`` says what it means. Shopify's
#: "partially_refunded" is a purchase that stands (part of it came back), so it
#: counts as completed; the money given back is the order's ``refunded_amount``
#: (Shopify's ``Refunded Amount``), which spend nets out from ``refunded_ts`` on.
ORDER_STATUS_SYNONYMS: Mapping[str, str] = MappingProxyType(
    {
        "complete": "completed",
        "delivered": "completed",
        "shipped": "completed",
        "fulfilled": "completed",
        "paid": "completed",
        "canceled": "cancelled",
        "cancel": "cancelled",
        "voided": "cancelled",
        "void": "cancelled",
        "failed": "cancelled",
        "return": "returned",
        "refund": "refunded",
        "processing": "pending",
        "created": "pending",
        "approved": "pending",
        "invoiced": "pending",
        "on-hold": "pending",
        "on_hold": "pending",
        "holded": "pending",
        "pending_payment": "pending",
        "awaiting_payment": "pending",
        "authorized": "pending",  # Shopify: payment authorised, not yet captured
        "authorised": "pending",
        "partially_paid": "pending",  # Shopify: a deposit paid, the rest not yet
        "partially_refunded": "completed",  # Shopify: the purchase stands
    }
)
#: Statuses of an order that is no purchase: every capability leaves these out
#: when it counts buyers, purchases or spend.
NOT_PURCHASES: tuple[str, ...] = ("cancelled", "returned", "refunded")


#: How an order's status may move on. A shop re-exports an order when its
#: status changes (delivered, then returned), so ingestion applies a move along
#: these arrows, keeps the stored status when a re-ingested older export would
#: move it back, and quarantines a pair no arrow chain links (cancelled, then
#: completed): both cannot be true of one order.
ORDER_STATUS_MOVES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "pending": ("completed", "cancelled", "returned", "refunded"),
        "completed": ("returned", "refunded"),
        "returned": ("refunded",),
    }
)


def purchase_sql(status: str = "status") -> str:
    """SQL that is true for an order that is a purchase: ``status`` is unset or not in
    :data:`NOT_PURCHASES` (for queries that do not go through the Ibis features)."""
    excluded = ", ".join(f"'{name}'" for name in NOT_PURCHASES)
    return f"({status} IS NULL OR {status} NOT IN ({excluded}))"


def stored_or_null(columns: Collection[str], name: str, table: str = "") -> str:
    """SQL for field ``name``, or NULL where the stored table lacks it: ``columns`` are
    the stored table's, and a store an older Retain wrote, opened read-only, has not
    gained the fields added since. ``table`` qualifies it (``o`` for ``o.amount``)."""
    if name not in columns:
        return "NULL"
    return f"{table}.{name}" if table else name


def net_amount_sql(columns: Collection[str], table: str = "") -> str:
    """SQL for an order's amount less what was refunded of it, as it stands now (for
    queries that do not go through the Ibis features, which read it as of a day).
    ``columns`` and ``table`` as for :func:`stored_or_null`."""
    prefix = f"{table}." if table else ""
    if "refunded_amount" not in columns:
        return f"{prefix}amount"
    return f"({prefix}amount - coalesce({prefix}refunded_amount, 0))"


CONVERSATION_ROLES: tuple[str, ...] = ("customer", "agent", "bot", "system")


@dataclass(frozen=True)
class Field:
    """One column of a canonical table.

    Attributes:
        name: Column name in the store.
        kind: How raw text is parsed and checked.
        required: A missing or empty value sends the row to quarantine.
        non_negative: Negative numbers are rejected (prices, amounts).
        choices: Allowed values after lower-casing and synonym mapping.
        synonyms: Source spellings mapped onto ``choices``.
        bounds: Inclusive numeric range, for ratings and similar.
        json_shape: For ``json`` fields, the JSON type the value must have.
        default_sql: SQL literal used when the source has no value.
        not_before: For a timestamp, the field of the same record it cannot
            precede (an order is returned after it was placed).
        not_above: For a number, the field of the same record it cannot
            exceed (a refund gives back at most what was charged).
        customer: A customer id: one shaped like an e-mail address is stored
            lower-cased (:mod:`retain.data.user_ids`).
        description: What the field means, for docs and error messages.
    """

    name: str
    kind: FieldKind
    required: bool = False
    non_negative: bool = False
    choices: tuple[str, ...] | None = None
    synonyms: Mapping[str, str] = field(default_factory=dict)
    bounds: tuple[float, float] | None = None
    json_shape: Literal["array", "object"] | None = None
    default_sql: str | None = None
    not_before: str | None = None
    not_above: str | None = None
    customer: bool = False
    description: str = ""

    @property
    def sql_type(self) -> str:
        return _SQL_TYPES[self.kind]


@dataclass(frozen=True)
class Lifecycle:
    """The one field of an append table's record that may move on later, such as
    an order's status (delivered, then returned).

    Attributes:
        field: The field that moves.
        moves: Its allowed moves, from a value to the values that may follow it.
        since: The field holding when the current value took effect. A source
            may give it; a move that ingestion applies without it is dated by
            the ingest, the moment the store learned of it. Reading the table
            as of an earlier day then sees the value held on that day (see
            :func:`retain.features.tables.is_purchase`). It is never compared
            for conflicts: an export's "updated at" changes for many reasons.
        exits: Values that end the record's standing (an order's cancelled,
            returned, refunded). A move from one exit to another (returned,
            then refunded) keeps ``since``: what an earlier day reads is when
            the record left, not when it last changed.
    """

    field: str
    moves: Mapping[str, tuple[str, ...]]
    since: str
    exits: tuple[str, ...] = ()


@dataclass(frozen=True)
class Revision:
    """Fields of an append table's record that may be rewritten later: a review's
    text and rating by its writer (a one-star review made five stars after the
    shop put things right), an order's refunded amount by the shop (a second
    partial refund).

    A later record of the same key that differs only there is an edit: the
    stored record takes the new values, dated in ``since``, and the values it
    replaces move to the ``history`` table with the span they held
    (``valid_from``, ``valid_to``), so a feature read as of an earlier day
    sees the record as it was then. A record whose values are a version
    already replaced (an older export loaded again), or whose own ``since``
    is not after the stored one, is a duplicate: it cannot undo an edit.

    Attributes:
        fields: The fields that may be rewritten (a field detected from the
            text, such as ``language``, follows the text).
        since: The field holding when the current values took effect: the
            source's, else the ingest, the moment the store learned of it.
        history: The table keeping each replaced version.
        verdicts: An output table keyed like this one whose ``label`` (a
            model's reading of the text) is kept with a replaced version,
            when it was made of that version.
    """

    fields: tuple[str, ...]
    since: str
    history: str
    verdicts: str | None = None


@dataclass(frozen=True)
class TableSchema:
    """A canonical table: its fields, key and write mode.

    Attributes:
        name: Table name in the store.
        fields: Columns in store order.
        key: Columns that identify a record.
        mode: ``append`` for facts, ``upsert`` for descriptions (module doc).
        derivable_key: When the source has no column for the key, the key is
            derived from the record's content (see :mod:`retain.data.ingest`).
        text_field: The field whose text decides ``language`` when the
            source gives none.
        item_optional_for: Event types that need no ``item_id``.
        lifecycle: For an append table, a field that may move on in a later
            record of the same key, and its allowed moves (from -> later
            values); every other field of a stored record is fixed, so a
            record that differs there is a conflict (see
            :mod:`retain.data.ingest`).
        revision: For an append table, the fields an author may rewrite in a
            later record of the same key (see :class:`Revision`).
    """

    name: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    mode: Literal["append", "upsert"]
    derivable_key: bool = False
    text_field: str | None = None
    item_optional_for: tuple[str, ...] = ()
    lifecycle: Lifecycle | None = None
    revision: Revision | None = None
    description: str = ""

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def time_field(self) -> str | None:
        """When a record happened: its first timestamp (``ts``; a profile's ``first_seen``)."""
        return next((f.name for f in self.fields if f.kind == "timestamp"), None)

    def field(self, name: str) -> Field:
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise KeyError(name)

    def ddl(self) -> str:
        """``CREATE TABLE IF NOT EXISTS`` for this schema."""
        columns = [
            f"{f.name} {f.sql_type}{' NOT NULL' if f.required or f.name in self.key else ''}"
            for f in self.fields
        ]
        columns.append(f"PRIMARY KEY ({', '.join(self.key)})")
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n  " + ",\n  ".join(columns) + "\n)"

    def history_fields(self) -> tuple[Field, ...]:
        """The fields a replaced version keeps: the key, the customer, and the
        :attr:`revision` fields (none without a revision)."""
        if self.revision is None:
            return ()
        kept = set(self.key) | set(self.revision.fields)
        return tuple(f for f in self.fields if f.name in kept or f.customer)

    def history_ddl(self) -> str | None:
        """``CREATE TABLE IF NOT EXISTS`` for the :attr:`revision` history, or None.

        A version keeps the record's key, its customer (so erasing or
        exporting a customer covers their old words too), the rewritable
        fields, the span it held and its number (1 for the first written).
        """
        revision = self.revision
        if revision is None:
            return None
        columns = [
            f"{f.name} {f.sql_type}{' NOT NULL' if f.name in self.key else ''}"
            for f in self.history_fields()
        ]
        columns += [
            "valid_from TIMESTAMP",
            "valid_to TIMESTAMP NOT NULL",
            "version INTEGER NOT NULL",
        ]
        if revision.verdicts is not None:
            columns.append("verdict BIGINT")
        columns.append(f"PRIMARY KEY ({', '.join((*self.key, 'version'))})")
        return (
            f"CREATE TABLE IF NOT EXISTS {revision.history} (\n  " + ",\n  ".join(columns) + "\n)"
        )


_ID: FieldKind = "id"

EVENTS = TableSchema(
    name="events",
    description="What users did: views, carts, purchases and the rest of the funnel.",
    fields=(
        Field("event_id", _ID, required=True, description="Unique id; makes ingestion idempotent."),
        Field("user_id", _ID, required=True, customer=True),
        Field("item_id", _ID, description="Required except for search events."),
        Field(
            "event_type",
            "text",
            required=True,
            choices=EVENT_TYPES,
            synonyms=EVENT_TYPE_SYNONYMS,
        ),
        Field("ts", "timestamp", required=True, description="When it happened (stored in UTC)."),
        Field("value", "number", non_negative=True, description="Price, quantity or dwell time."),
        Field("session_id", _ID),
    ),
    key=("event_id",),
    mode="append",
    derivable_key=True,
    item_optional_for=("search",),
)

ORDERS = TableSchema(
    name="orders",
    description="Orders with their amount; returns and cancellations are statuses, "
    "never negative amounts.",
    fields=(
        Field("order_id", _ID, required=True),
        Field("user_id", _ID, required=True, customer=True),
        Field("ts", "timestamp", required=True),
        Field("amount", "number", required=True, non_negative=True),
        Field("num_items", "integer", non_negative=True, description="Units in the order."),
        Field(
            "status",
            "text",
            choices=ORDER_STATUSES,
            synonyms=ORDER_STATUS_SYNONYMS,
            default_sql="'completed'",
            description="Defaults to completed.",
        ),
        Field(
            "items",
            "json",
            json_shape="array",
            description='JSON list: [{"item_id": .., "quantity": .., ...}].',
        ),
        Field(
            "status_ts",
            "timestamp",
            not_before="ts",
            description="When the order took its status: before it, a cancelled, returned "
            "or refunded order still counts as a purchase. Empty: the status holds from ts.",
        ),
        Field(
            "currency",
            "currency",
            description="ISO 4217 code of the amount (CNY, USD). Amounts are summed as one "
            "currency: one in another than the shop's (the currency setting), or than most "
            "of its file's, is quarantined.",
        ),
        Field(
            "refunded_amount",
            "number",
            non_negative=True,
            not_above="amount",
            description="Money given back on an order that stands (a partial refund; "
            "Shopify's Refunded Amount), at most the amount: spend counts the amount less "
            "this from refunded_ts on. A whole refund is the refunded status instead.",
        ),
        Field(
            "refunded_ts",
            "timestamp",
            not_before="ts",
            description="When the refunded amount took effect. Empty: on a first load, the "
            "refund holds from ts; on a re-export that changes it, from the ingest.",
        ),
    ),
    key=("order_id",),
    mode="append",
    derivable_key=True,
    lifecycle=Lifecycle("status", ORDER_STATUS_MOVES, since="status_ts", exits=NOT_PURCHASES),
    revision=Revision(
        fields=("refunded_amount",), since="refunded_ts", history="order_refund_versions"
    ),
)

ITEMS = TableSchema(
    name="items",
    description="The catalogue, in any language.",
    fields=(
        Field("item_id", _ID, required=True),
        Field("title", "text"),
        Field("description", "text"),
        Field("category", "text"),
        Field("brand", "text"),
        Field("price", "number", non_negative=True),
        Field("available", "boolean", default_sql="TRUE", description="Defaults to true."),
        Field("language", "language", description="Detected from the title when absent."),
        Field(
            "attributes", "json", json_shape="object", description="JSON object of anything else."
        ),
        Field(
            "product_id",
            _ID,
            description="The product this item is a variant of (a size or colour; Shopify's "
            "Handle). Recommendations show one variant per product, and none of a product "
            "the customer already has.",
        ),
    ),
    key=("item_id",),
    mode="upsert",
    text_field="title",
)

USERS = TableSchema(
    name="users",
    description="Customer profiles.",
    fields=(
        Field("user_id", _ID, required=True, customer=True),
        Field("first_seen", "timestamp"),
        Field("attributes", "json", json_shape="object"),
        Field(
            "marketing_consent",
            "boolean",
            description="Whether the customer accepts marketing (Shopify's Accepts Email "
            "Marketing): false keeps them out of coupons and messages; empty: not known.",
        ),
    ),
    key=("user_id",),
    mode="upsert",
)

REVIEWS = TableSchema(
    name="reviews",
    description="Product reviews with optional rating or human polarity label.",
    fields=(
        Field("review_id", _ID, required=True),
        Field("user_id", _ID, customer=True),
        Field("item_id", _ID),
        Field("ts", "timestamp"),
        Field("rating", "number", bounds=(1, 5)),
        Field("text", "text", required=True),
        Field("language", "language"),
        Field("label", "integer", bounds=(0, 1), description="Human polarity: 1 positive."),
        Field("category", "text", description="Product category, when the source has one."),
        Field(
            "edited_ts",
            "timestamp",
            not_before="ts",
            description="When the writer last edited the review (the source's, else when "
            "the store learned of the edit); empty: never edited.",
        ),
    ),
    key=("review_id",),
    mode="append",
    derivable_key=True,
    text_field="text",
    revision=Revision(
        fields=("rating", "text", "language", "label"),
        since="edited_ts",
        history="review_versions",
        verdicts="review_scores",
    ),
)

CONVERSATIONS = TableSchema(
    name="conversations",
    description="Customer-service conversations, one row per turn.",
    fields=(
        Field("conversation_id", _ID, required=True),
        Field("turn", "integer", required=True, non_negative=True),
        Field("user_id", _ID, customer=True),
        Field("role", "text", required=True, choices=CONVERSATION_ROLES),
        Field("text", "text", required=True),
        Field("ts", "timestamp"),
        Field("language", "language"),
    ),
    key=("conversation_id", "turn"),
    mode="append",
    text_field="text",
)

KB_ARTICLES = TableSchema(
    name="kb_articles",
    description="The shop's knowledge base: policies, FAQs, guides.",
    fields=(
        Field("article_id", _ID, required=True),
        Field("title", "text", required=True),
        Field("body", "text", required=True),
        Field("language", "language"),
        Field("tags", "json", json_shape="array", description="JSON list of strings."),
    ),
    key=("article_id",),
    mode="upsert",
    text_field="body",
)

#: Input tables by name, in the order a full load should go.
SCHEMAS: Mapping[str, TableSchema] = MappingProxyType(
    {s.name: s for s in (ITEMS, USERS, EVENTS, ORDERS, REVIEWS, CONVERSATIONS, KB_ARTICLES)}
)

#: Names accepted by ``retain ingest`` (``kb`` is short for ``kb_articles``).
INPUT_TABLES: Mapping[str, str] = MappingProxyType(
    {**{name: name for name in SCHEMAS}, "kb": "kb_articles"}
)


def get_schema(table: str) -> TableSchema:
    """The schema for an input table name or alias.

    Raises:
        KeyError: with the valid names, when ``table`` is unknown.
    """
    try:
        return SCHEMAS[INPUT_TABLES[table]]
    except KeyError:
        raise KeyError(
            f"unknown table {table!r}; expected one of: {', '.join(INPUT_TABLES)}"
        ) from None
