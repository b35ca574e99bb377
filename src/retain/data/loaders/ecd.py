"""Customer turns of the E-commerce Dialogue Corpus (ECD, Taobao customer service, Chinese).

ECD files hold one response candidate per line:
``label<TAB>utterance_1<TAB>...<TAB>utterance_n<TAB>response``, the utterances
word-segmented with spaces, customer and agent turns alternating from the
customer's. Each context appears once per candidate, so the conversations are
read from the lines labelled 1. Only benchmarks read it (``retain bench
assistant --format ecd``): what matters there is what real shoppers write,
so the reader returns the customer's turns, each once, in file order.
"""

from __future__ import annotations

from pathlib import Path

from retain.errors import InvalidInputError

__all__ = ["read_ecd_turns"]

#: The files of the corpus's sample, in the order they are read from a folder.
_FILES = ("train.txt", "test.txt")


def read_ecd_turns(path: str | Path) -> list[str]:
    """The distinct customer turns of an ECD file, or of a folder's ``train.txt`` and ``test.txt``.

    Word-segmentation spaces are removed ("快递 发 哪家" -> "快递发哪家"), as a
    customer typed them.

    Raises:
        InvalidInputError: no such file, not UTF-8, or a line whose label is not
            0 or 1 or that has no context before its response (the line is named).
    """
    source = Path(path)
    if source.is_dir():
        files = [source / name for name in _FILES if (source / name).is_file()]
        if not files:
            raise InvalidInputError(f"{source} holds neither {' nor '.join(_FILES)}")
    elif source.is_file():
        files = [source]
    else:
        raise InvalidInputError(f"no such file or folder: {source}")
    turns: dict[str, None] = {}
    for file in files:
        for context in _contexts(file):
            for utterance in context[0::2]:
                text = "".join(utterance.split())
                if text:
                    turns[text] = None
    return list(turns)


def _contexts(file: Path) -> list[list[str]]:
    """Each distinct context of the true responses in ``file``."""
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        problem = f"{exc.reason} at byte {exc.start}"
        raise InvalidInputError(f"{file}: not UTF-8 text ({problem})") from exc
    seen: dict[tuple[str, ...], None] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if fields[0] not in ("0", "1"):
            raise InvalidInputError(f"{file}:{number}: label must be 0 or 1, got {fields[0]!r}")
        if len(fields) < 3:
            raise InvalidInputError(
                f"{file}:{number}: expected label, at least one utterance and a response, "
                f"separated by tabs; got {len(fields)} field(s)"
            )
        if fields[0] == "1":
            seen[tuple(fields[1:-1])] = None
    return [list(context) for context in seen]
