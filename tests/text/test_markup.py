"""Descriptions and help articles exported as HTML read as the text a shopper sees."""

from __future__ import annotations

import pyarrow as pa
import pytest

from retain.assistant.service import load_knowledge
from retain.data import Store, ingest_arrow
from retain.recommend.recommender import item_texts
from retain.text.markup import plain_text


@pytest.mark.parametrize(
    ("html", "text"),
    [
        (
            "<p>Soft <b>cotton</b>&nbsp;tee</p><ul><li>S</li><li>M</li></ul>",
            "Soft cotton tee\n- S\n- M",
        ),
        ('<div class="x">退货政策：<br>30天内可退</div>', "退货政策：\n30天内可退"),
        ("<style>p{color:red}</style><script>track()</script><p>Hi</p>", "Hi"),
        ("It&rsquo;s 50 PCS (&plusmn; 2%)", "It\u2019s 50 PCS (\u00b1 2%)"),
    ],
)
def test_markup_is_read_as_the_text_a_shopper_sees(html: str, text: str) -> None:
    assert plain_text(html) == text


@pytest.mark.parametrize("text", ["price < 10 & R&D", "x<5 and y>3", "Plain\n\ntext  kept"])
def test_text_without_markup_is_left_alone(text: str) -> None:
    assert plain_text(text) == text


def test_an_html_description_and_an_html_help_article_lose_their_markup(
    tmp_path: object,
) -> None:
    items = pa.table(
        {
            "item_id": ["S1"],
            "title": ["Linen shirt"],
            "description": ["<p>Breathable <strong>linen</strong>.</p><ul><li>Slim fit</li></ul>"],
        }
    )
    assert item_texts(items) == ["Linen shirt | Breathable linen.\n- Slim fit"]
    with Store.open(":memory:") as store:
        article = {
            "article_id": ["returns"],
            "title": ["Returns &amp; refunds"],
            "body": ["<h2>Returns</h2><p>Send it back within <b>30 days</b>.</p>"],
            "language": ["en"],
        }
        ingest_arrow(store, "kb_articles", pa.table(article), source="help-centre")
        (loaded,) = load_knowledge(store, None).articles
    assert (loaded.title, loaded.body) == (
        "Returns & refunds",
        "Returns\nSend it back within 30 days.",
    )
