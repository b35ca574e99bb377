"""API keys with roles, and signed customer tokens for the chat endpoint.

A key is shown once, when it is made: ``rtn_<key id>_<secret>``. The store
keeps only the key id, its role, its rate and a SHA-256 of the secret (the
secret is 32 random bytes, so a fast hash is enough: there is nothing to
guess), so a copy of the store cannot be used to call the service.

Roles: ``read`` (recommendations, scores, review scoring), ``ingest``
(``POST /v1/events``), ``admin`` (everything, including minting customer
tokens and promoting models). Customer tokens are HMAC-signed
``<user id>.<expiry>`` strings: the chat endpoint acts for the customer a
valid token names and for no one else, whatever the message says.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from retain.data.store import Store
from retain.errors import InvalidInputError, NotFoundError, StoreLockedError

__all__ = [
    "ROLES",
    "ApiKey",
    "KeyRing",
    "Role",
    "allows",
    "create_key",
    "digest_secret",
    "key_reader",
    "list_keys",
    "load_secret",
    "mint_customer_token",
    "new_key_parts",
    "read_customer_token",
    "revoke_key",
    "validate_key_request",
]

Role = Literal["read", "ingest", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)

KEYS_TABLE = "api_keys"
_PREFIX = "rtn"
KEYS_DDL = f"""CREATE TABLE IF NOT EXISTS {KEYS_TABLE} (
  key_id VARCHAR PRIMARY KEY,
  name VARCHAR NOT NULL,
  role VARCHAR NOT NULL,
  secret_sha256 VARCHAR NOT NULL,
  rate_per_second DOUBLE NOT NULL,
  created_at TIMESTAMP NOT NULL,
  revoked_at TIMESTAMP
)"""


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    key_id: str
    name: str
    role: Role
    rate_per_second: float
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None


#: Opens the store for one read (the service's per-request opener).
OpenStore = Callable[[], AbstractContextManager[Store]]
#: Live keys by id: (secret digest, key); None when they cannot be read now.
KeyReader = Callable[[], "dict[str, tuple[str, ApiKey]] | None"]


def allows(role: Role, needed: Role) -> bool:
    """Whether a key of ``role`` may call an endpoint that needs ``needed``."""
    return role == "admin" or role == needed


def digest_secret(secret: str) -> str:
    """What is stored of a key's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def validate_key_request(name: str, role: str, rate_per_second: float) -> Role:
    """The role, checked; InvalidInputError for an unknown role, an empty name or a rate <= 0."""
    if role not in ROLES:
        raise InvalidInputError(f"unknown role {role!r}; expected one of: {', '.join(ROLES)}")
    if not name.strip():
        raise InvalidInputError("a key needs a name (who or what uses it)")
    if not rate_per_second > 0:
        raise InvalidInputError(f"rate_per_second must be > 0, got {rate_per_second}")
    return role


def new_key_parts() -> tuple[str, str, str]:
    """A fresh (key id, secret, full key string)."""
    key_id = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    return key_id, secret, f"{_PREFIX}_{key_id}_{secret}"


def create_key(store: Store, name: str, role: str, rate_per_second: float) -> tuple[ApiKey, str]:
    """Make a key; returns it and the full key string, which is never stored.

    Raises:
        InvalidInputError: unknown role, empty name or a rate that is not positive.
    """
    checked = validate_key_request(name, role, rate_per_second)
    key_id, secret, full = new_key_parts()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with store.transaction() as con:
        con.execute(KEYS_DDL)
        con.execute(
            f"INSERT INTO {KEYS_TABLE} VALUES (?, ?, ?, ?, ?, ?, NULL)",
            [key_id, name.strip(), role, digest_secret(secret), rate_per_second, now],
        )
    key = ApiKey(key_id, name.strip(), checked, rate_per_second, now)
    return key, full


def revoke_key(store: Store, key_id: str) -> None:
    """Revoke a key; the service refuses it from its next key refresh on.

    Raises:
        NotFoundError: no live key has this id.
    """
    store.execute(KEYS_DDL)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    found = store.execute(
        f"UPDATE {KEYS_TABLE} SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL "
        "RETURNING key_id",
        [now, key_id],
    ).fetchall()
    if not found:
        raise NotFoundError(f"no live API key with id {key_id!r} (see `retain keys list`)")


def list_keys(store: Store) -> list[ApiKey]:
    """Every key, newest first, revoked ones included."""
    if not store.has_table(KEYS_TABLE):
        return []
    rows = store.execute(
        f"SELECT key_id, name, role, rate_per_second, created_at, revoked_at FROM {KEYS_TABLE} "
        "ORDER BY created_at DESC"
    ).fetchall()
    return [ApiKey(*row) for row in rows]


def _live_digests(store: Store) -> dict[str, tuple[str, ApiKey]]:
    if not store.has_table(KEYS_TABLE):
        return {}
    rows = store.execute(
        f"SELECT key_id, name, role, rate_per_second, created_at, secret_sha256 "
        f"FROM {KEYS_TABLE} WHERE revoked_at IS NULL"
    ).fetchall()
    return {row[0]: (row[5], ApiKey(*row[:5])) for row in rows}


class KeyRing:
    """The service's in-memory view of the live keys.

    Checking a key costs one dictionary lookup and one hash, never a store
    query: the store is read once on first use, then again by the service's
    watcher thread every ``refresh_seconds`` (so a new or revoked key takes
    effect within that time), never on a request's path.
    """

    def __init__(self, read: KeyReader, refresh_seconds: float = 5.0) -> None:
        self._read = read
        self.refresh_seconds = refresh_seconds
        self._keys: dict[str, tuple[str, ApiKey]] = {}
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Re-read the live keys now (the previous set stays if the store is busy)."""
        with self._lock:
            fresh = self._read()
            if fresh is not None:
                self._keys = fresh
            self._loaded_at = time.monotonic()

    def refresh_if_due(self) -> None:
        if self._loaded_at is None or time.monotonic() - self._loaded_at >= self.refresh_seconds:
            self.refresh()

    def check(self, presented: str) -> ApiKey | None:
        """The live key ``presented`` is, or None."""
        if self._loaded_at is None:
            self.refresh_if_due()
        parts = presented.split("_", 2)
        if len(parts) != 3 or parts[0] != _PREFIX:
            return None
        entry = self._keys.get(parts[1])
        if entry is None or not hmac.compare_digest(entry[0], digest_secret(parts[2])):
            return None
        return entry[1]


def key_reader(open_store: OpenStore) -> KeyReader:
    """A :class:`KeyRing` reader over ``open_store``; it answers None while the store is busy."""

    def read() -> dict[str, tuple[str, ApiKey]] | None:
        try:
            with open_store() as store:
                return _live_digests(store)
        except NotFoundError:
            return {}
        except StoreLockedError:
            return None

    return read


def load_secret(data_dir: Path, configured: str | None) -> bytes:
    """The customer-token signing secret: the configured one, else one kept on disk."""
    if configured:
        return configured.encode()
    path = data_dir / "service.secret"
    if not path.is_file():
        data_dir.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(".tmp")
        staging.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        staging.chmod(0o600)
        staging.replace(path)
    return path.read_text(encoding="utf-8").strip().encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())


def mint_customer_token(secret: bytes, user_id: str, hours: float) -> str:
    """A token that lets its bearer chat as ``user_id`` for ``hours``."""
    if not user_id:
        raise InvalidInputError("a customer token needs a user id")
    expires = int(time.time() + hours * 3600)
    payload = f"{_b64(user_id.encode())}.{expires}"
    return f"{payload}.{_sign(secret, payload)}"


def read_customer_token(secret: bytes, token: str) -> str | None:
    """The user id a valid, unexpired token names, or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(parts[2], _sign(secret, payload)):
        return None
    try:
        expires = int(parts[1])
        user = base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)).decode()
    except ValueError:
        return None
    return user if expires > time.time() and user else None
