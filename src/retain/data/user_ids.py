"""One customer, one id: e-mail addresses used as ids are compared without case.

Shops that sell to guests key a customer by the e-mail address typed at
checkout, and people (and phone keyboards, which capitalise the first
letter) type it as ``Ann@Shop.com`` one time and ``ann@shop.com`` the next.
Kept apart, one repeat buyer would look like two one-time buyers: wrong
churn risk, wrong cohorts, and a win-back coupon for a loyal customer.
Mail providers, Shopify and Mailchimp treat addresses without case, so
Retain does too: an id shaped like an e-mail address is stored lower-cased,
wherever it enters (files, the REST API, the CLI), and every lookup and
erase folds it the same way. Any other id keeps its case (``U1`` and ``u1``
may well be two customers of a system that says so).

The same rule is written twice, once for Python and once for SQL
(:func:`canonical_user_id_sql`, which ingestion applies to every record);
tests check they agree.
"""

from __future__ import annotations

import re

from retain.errors import InvalidInputError

__all__ = [
    "EMAIL_ID_PATTERN",
    "MAX_ID_CHARS",
    "canonical_user_id",
    "canonical_user_id_sql",
    "fold_email_id",
    "is_email_id",
]

#: An id that is an e-mail address: one ``@``, a dot in the domain, printable
#: ASCII only. Python and DuckDB lower-case ASCII alike, but not every other
#: letter (``İ``), so an address with one keeps its case. The same text
#: works as a Python and a DuckDB (RE2) full-match pattern.
_ATOM = r"[\x21-\x3f\x41-\x7e]+"
EMAIL_ID_PATTERN = rf"{_ATOM}@{_ATOM}\.{_ATOM}"
#: The longest id ingestion accepts (any id, not only a customer's), so every
#: stored customer can be looked up and erased.
MAX_ID_CHARS = 512

_EMAIL_ID = re.compile(EMAIL_ID_PATTERN)


def canonical_user_id(user_id: str) -> str:
    """The id as the store keeps it: an e-mail address lower-cased, anything else as given.

    Raises:
        InvalidInputError: the id is empty, blank or longer than 512 characters
            (checked before anything is read or deleted); ingestion takes
            no longer id.
    """
    if not user_id or not user_id.strip():
        raise InvalidInputError("a user id is required")
    if len(user_id) > MAX_ID_CHARS:
        raise InvalidInputError(
            f"a user id is at most {MAX_ID_CHARS} characters, got {len(user_id)}"
        )
    return fold_email_id(user_id)


def fold_email_id(user_id: str) -> str:
    """``user_id`` lower-cased when it is an e-mail address (no other check)."""
    return user_id.lower() if is_email_id(user_id) else user_id


def is_email_id(user_id: str) -> bool:
    """Whether ``user_id`` is an e-mail address, compared without case."""
    return _EMAIL_ID.fullmatch(user_id) is not None


def canonical_user_id_sql(expr: str) -> str:
    """SQL for :func:`canonical_user_id` of the (trimmed) text ``expr``, NULL kept.

    Most ids have no ``@``; for them only ``contains`` runs (``CASE`` stops at the
    first branch that holds), which keeps a million-event load as fast as before.
    """
    return (
        f"CASE WHEN NOT contains({expr}, '@') THEN {expr} "
        f"WHEN regexp_full_match({expr}, '{EMAIL_ID_PATTERN}') THEN lower({expr}) "
        f"ELSE {expr} END"
    )
