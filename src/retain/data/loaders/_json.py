"""Reading a JSON document with an error that names the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from retain.errors import InvalidInputError

__all__ = ["read_json_object"]


def read_json_object(path: Path, expected: str) -> dict[str, Any]:
    """The JSON object in ``path``.

    Raises:
        InvalidInputError: the file is not JSON, or not an object; ``expected``
            says what the object should hold.
    """
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidInputError(f"{path}: expected an object of {expected}")
    return value
