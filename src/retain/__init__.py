"""Retain: an AI-powered user-retention platform for e-commerce."""

from retain.errors import RetainError

__all__ = ["RetainError", "__version__"]

__version__ = "0.1.0"
