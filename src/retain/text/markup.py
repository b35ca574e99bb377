"""Plain text out of the HTML shop systems store descriptions and help articles in.

Shopify's product export has ``Body (HTML)``, and help-centre exports hold
articles as HTML. Fed as they are, ``<p>``, ``<li>`` and ``&nbsp;`` become
words to the text encoder and to keyword search, and the assistant would
quote markup to a customer. Text without markup is returned unchanged, so
plain catalogues read exactly as before.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["plain_text"]

#: A tag (``<p>``, ``</li>``, ``<br/>``) or a character reference (``&amp;``, ``&#39;``).
_MARKUP = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?>|&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")

#: Tags that end a line of text where they open or close.
_BREAKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li",
        "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
        "ul",
    }
)  # fmt: skip
#: Tags whose content is never text a reader sees.
_HIDDEN = frozenset({"script", "style", "template", "noscript", "head"})


class _Text(HTMLParser):
    """Collects the visible text, one line per block, list items marked with a dash."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BREAKS:
            self.parts.append("\n- " if tag == "li" else "\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(self._hidden - 1, 0)
        elif tag in _BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def plain_text(text: str) -> str:
    """``text`` with HTML tags removed, character references decoded and blocks on
    lines of their own; text without markup comes back unchanged.

    ``<p>Soft <b>cotton</b>&nbsp;tee</p><ul><li>S</li><li>M</li></ul>`` reads
    ``Soft cotton tee\\n- S\\n- M``. A lone ``<`` or ``&`` (``price < 10``,
    ``R&D``) is not markup and stays.
    """
    if not _MARKUP.search(text):
        return text
    parser = _Text()
    parser.feed(text)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line and line != "-")
