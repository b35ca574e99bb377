"""Labelled utterances for intent recognition.

Two layouts: CSV ``text,category`` (Banking77), one file per split; and JSON
``{"train": [[text, intent], ...], "val": ..., "test": ...,
"oos_train": ..., "oos_val": ..., "oos_test": ...}`` (the CLINC150 layout),
where the ``oos_*`` lists hold out-of-scope utterances.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from retain.data.loaders._json import read_json_object
from retain.errors import InvalidInputError

__all__ = ["IntentDataset", "Utterance", "read_intents"]

Utterance = tuple[str, str]
_SPLITS = ("train", "val", "test", "oos_train", "oos_val", "oos_test")


@dataclass(frozen=True)
class IntentDataset:
    """Utterances per split; ``oos_*`` hold out-of-scope examples."""

    train: list[Utterance] = field(default_factory=list)
    val: list[Utterance] = field(default_factory=list)
    test: list[Utterance] = field(default_factory=list)
    oos_train: list[Utterance] = field(default_factory=list)
    oos_val: list[Utterance] = field(default_factory=list)
    oos_test: list[Utterance] = field(default_factory=list)

    @property
    def intents(self) -> list[str]:
        """The in-scope intent names, sorted."""
        return sorted({label for split in (self.train, self.val, self.test) for _, label in split})

    @property
    def has_oos(self) -> bool:
        return bool(self.oos_train or self.oos_val or self.oos_test)


def read_intents(path: str | Path, *, test: str | Path | None = None) -> IntentDataset:
    """Read a CSV or JSON intent file; ``test`` adds a separate CSV test split.

    Raises:
        InvalidInputError: with the split and position of the first bad entry.
    """
    source = Path(path)
    if not source.is_file():
        raise InvalidInputError(f"no such file: {source}")
    is_json = source.suffix.lower() == ".json"
    data = _read_json(source) if is_json else {"train": _read_csv(source)}
    if test is not None:
        if data.get("test"):
            raise InvalidInputError(f"{source} already has a test split; do not pass --test")
        data["test"] = _read_csv(Path(test))
    return IntentDataset(**data)


#: (text, label) column pairs a CSV may use: Bitext's
#: (``flags,utterance,category,intent``, whose ``category`` is a coarse group), then Banking77's.
_CSV_COLUMNS = (("utterance", "intent"), ("text", "category"))


def _read_csv(path: Path) -> list[Utterance]:
    out: list[Utterance] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        columns = next((c for c in _CSV_COLUMNS if set(c) <= set(header)), None)
        if columns is None:
            raise InvalidInputError(
                f"{path}: expected columns text and category (or utterance and intent), "
                f"got {', '.join(header)}"
            )
        text_column, label_column = columns
        for row in reader:
            text = (row.get(text_column) or "").strip()
            label = (row.get(label_column) or "").strip()
            if not text or not label:
                raise InvalidInputError(
                    f"{path}:{reader.line_num}: empty {text_column} or {label_column} in {row!r}"
                )
            out.append((text, label))
    return out


def _read_json(path: Path) -> dict[str, list[Utterance]]:
    raw = read_json_object(path, "split name -> [text, intent] lists")
    unknown = sorted(set(raw) - set(_SPLITS))
    if unknown:
        raise InvalidInputError(
            f"{path}: unknown split(s) {', '.join(unknown)}; expected {', '.join(_SPLITS)}"
        )
    if not raw.get("train"):
        raise InvalidInputError(f"{path}: the train split is missing or empty")
    out: dict[str, list[Utterance]] = {}
    for split, entries in raw.items():
        if not isinstance(entries, list):
            raise InvalidInputError(f"{path}: {split} must be a list of [text, intent] pairs")
        pairs = []
        for i, entry in enumerate(entries):
            ok = (
                isinstance(entry, list)
                and len(entry) == 2
                and all(isinstance(x, str) and x.strip() for x in entry)
            )
            if not ok:
                raise InvalidInputError(
                    f"{path}: {split}[{i}] must be [text, intent] with non-empty strings, "
                    f"got {entry!r}"[:300]
                )
            pairs.append((entry[0].strip(), entry[1].strip()))
        out[split] = pairs
    return out
