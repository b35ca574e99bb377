"""The exceptions Retain raises.

One root, :class:`RetainError`, so a caller can catch everything Retain raises
in one clause; each subclass also inherits the builtin a caller would expect
(``ValueError`` for bad input, ``LookupError`` for a missing thing), so code
written against plain Python conventions keeps working. Messages say what was
expected, what came, and how to fix it; the CLI and the API show them verbatim.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConvergenceError",
    "InvalidInputError",
    "NotFittedError",
    "NotFoundError",
    "RetainError",
    "StoreError",
    "StoreLockedError",
]


class RetainError(Exception):
    """Root of every error Retain raises on purpose."""


class InvalidInputError(RetainError, ValueError):
    """Input that cannot be used as given (a file, a parameter, a record)."""


class ConfigError(RetainError, ValueError):
    """A setting is missing, malformed or contradicts another one."""


class NotFoundError(RetainError, LookupError):
    """A named thing (file, table, user, model version) does not exist."""


class NotFittedError(RetainError, ValueError, AttributeError):
    """An estimator was used before ``fit`` was called."""


class ConvergenceError(RetainError, RuntimeError):
    """An optimiser did not reach a usable solution."""


class StoreError(RetainError, RuntimeError):
    """The store cannot be opened or written as asked."""


class StoreLockedError(StoreError):
    """Another process holds the embedded store's write lock."""
