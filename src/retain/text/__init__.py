"""Text understanding shared by every capability: sentence encoders."""

from retain.text.encoder import DEFAULT_MODEL, TextEncoder, load_encoder

__all__ = ["DEFAULT_MODEL", "TextEncoder", "load_encoder"]
