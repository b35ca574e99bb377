"""The data layer: canonical schemas, validation, ingestion and the store."""

from retain.data.ingest import IngestReport, ingest_arrow, ingest_file
from retain.data.schemas import EVENT_TYPES, SCHEMAS, TableSchema, get_schema
from retain.data.store import Store

__all__ = [
    "EVENT_TYPES",
    "SCHEMAS",
    "IngestReport",
    "Store",
    "TableSchema",
    "get_schema",
    "ingest_arrow",
    "ingest_file",
]
