"""Loaders for public data formats, mapped onto the canonical tables.

Each format that feeds the store is registered in :data:`FORMATS` with the
table it fills; ``retain ingest TABLE FILE --format NAME`` uses it. Loaders
only parse: validation, quarantine and idempotency stay with ingestion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import pyarrow as pa

from retain.data.loaders.amazon import read_item_attributes, read_sequences
from retain.data.loaders.cdnow import read_cdnow
from retain.data.loaders.faq import read_faq
from retain.data.loaders.intents import IntentDataset, read_intents
from retain.data.loaders.online_retail import (
    read_online_retail,
    read_online_retail_customers,
    read_online_retail_items,
)
from retain.data.loaders.reviews import read_review_csv

__all__ = [
    "FORMATS",
    "IntentDataset",
    "PublicFormat",
    "read_cdnow",
    "read_faq",
    "read_intents",
    "read_item_attributes",
    "read_online_retail",
    "read_online_retail_customers",
    "read_online_retail_items",
    "read_review_csv",
    "read_sequences",
]


@dataclass(frozen=True)
class PublicFormat:
    """A public file format: the table it fills and its reader."""

    name: str
    table: str
    read: Callable[..., pa.Table]
    description: str
    #: The reader takes ``encoding=`` (a Python codec), as files from spreadsheets need.
    encodings: bool = False


FORMATS: Mapping[str, PublicFormat] = MappingProxyType(
    {
        f.name: f
        for f in (
            PublicFormat(
                "amazon-seq",
                "events",
                read_sequences,
                "user_id item_id item_id ... per line (Beauty.txt)",
            ),
            PublicFormat(
                "amazon-items",
                "items",
                read_item_attributes,
                "item2attributes.json (+ *_items.tsv beside it)",
            ),
            PublicFormat("cdnow", "orders", read_cdnow, "CDNOW master or sample log"),
            PublicFormat(
                "online-retail",
                "orders",
                read_online_retail,
                "UCI Online Retail invoice lines (one order per invoice; C = cancelled)",
            ),
            PublicFormat(
                "online-retail-customers",
                "users",
                read_online_retail_customers,
                "the UCI Online Retail file's customers (first invoice, country)",
            ),
            PublicFormat(
                "online-retail-items",
                "items",
                read_online_retail_items,
                "the UCI Online Retail file's products (stock code, title, median price)",
            ),
            PublicFormat(
                "review-csv", "reviews", read_review_csv, "cat,label,review CSV", encodings=True
            ),
            PublicFormat(
                "faq",
                "kb_articles",
                read_faq,
                "question,answer CSV, or JSON [{question, answer}] (also under 'questions')",
                encodings=True,
            ),
        )
    }
)
