"""The dialogue manager: one customer message in, one grounded reply out.

Each turn reads the conversation's state from the store, understands the
message (intent, slots, language, anger), moves the state and answers:

* order questions and returns go to :class:`CustomerTools`, which only ever
  sees the authenticated customer's data; a return is confirmed before it is
  started, and a missing order id is asked for;
* context carries over: "and the other order?" means an order not yet
  discussed, and a bare order id continues the last order topic;
* everything else is looked up in the knowledge base and answered from the
  article it cites; with nothing relevant the assistant says it does not know;
* a person takes over when asked, when the customer complains or is angry,
  or after two turns the assistant could not answer.

Both sides of every turn are written to ``conversations`` through ingestion,
with phone numbers and e-mail addresses masked.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pyarrow as pa

from retain.assistant.intents import IntentClassifier
from retain.assistant.knowledge import KnowledgeBase
from retain.assistant.responder import LLMBackend, grounded_answer, phrase
from retain.assistant.slots import Catalogue, extract_slots, mask_personal_data
from retain.assistant.tools import AssistantTables, CustomerTools, OrderInfo
from retain.currency import format_money
from retain.data.store import Store
from retain.data.user_ids import fold_email_id
from retain.text.chinese import to_simplified
from retain.text.language import detect_language

__all__ = ["Assistant", "Reply"]

#: Messages longer than this are read up to here (a 100 KB paste is not a question).
MAX_MESSAGE_CHARS = 2_000
#: Unanswered turns in a row before a person takes over.
MAX_FAILURES = 2

_YES = re.compile(
    r"^\s*(yes|yeah|yep|sure|ok|okay|please do|go ahead|confirm|correct|do it|是|是的|好|好的|"
    r"可以|确认|对|嗯|行)\b",
    re.IGNORECASE,
)
_NO = re.compile(
    r"^\s*(no|nope|don't|do not|cancel|stop|never mind|不|不要|不用|算了|取消|否)", re.IGNORECASE
)
_ANGRY = re.compile(
    r"\b(angry|furious|ridiculous|unacceptable|worst|scam|fed up|disgusting|terrible service|"
    r"useless|rip[- ]?off)\b|气死|垃圾|太差|骗子|愤怒|无语|坑人|太过分|"
    # As Taobao shoppers write it: cheated, fooled, "what the hell", swearing,
    # threats of a bad review, of Taobao stepping in or of blocking the shop.
    r"骗人|忽悠|坑爹|什么鬼|搞什么|凭什么|妈的|他妈|恶心|欺负|受够|差评|投诉|介入|拉黑|"
    r"太失望|很失望",
    re.IGNORECASE,
)
_OTHER = re.compile(r"\b(other|another|next|second)\b|另一|其他|别的|第二", re.IGNORECASE)
#: Order statuses as a Chinese customer reads them.
_STATUS_ZH = {
    "completed": "已完成",
    "pending": "处理中",
    "cancelled": "已取消",
    "returned": "已退货",
    "refunded": "已退款",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")


@dataclass
class Reply:
    """The assistant's answer to one message."""

    conversation_id: str
    text: str
    intent: str | None
    confidence: float
    language: str
    citations: list[str] = field(default_factory=list)
    action: dict[str, Any] | None = None
    handed_off: bool = False


class Assistant:
    """A shop's customer-service assistant over one store.

    Args:
        store: the shop's store (orders, kb_articles, recommendations, ...).
        nlu: a fitted intent classifier (``retain train assistant`` publishes one).
        knowledge: the knowledge base; built from ``kb_articles`` by the caller.
        catalogue: product titles for slot filling.
        llm: an optional backend that rephrases knowledge-base answers.
        log: write both sides of every turn to ``conversations``.
        tables: where conversation state, returns, hand-offs and the turn log
            go; by default the assistant's tables in ``store``.
    """

    def __init__(
        self,
        store: Store,
        nlu: IntentClassifier,
        knowledge: KnowledgeBase,
        *,
        catalogue: Catalogue | None = None,
        llm: LLMBackend | None = None,
        log: bool = True,
        today: dt.date | None = None,
        tables: AssistantTables | None = None,
    ) -> None:
        self.store = store
        self.tables = tables
        self.nlu = nlu
        self.knowledge = knowledge
        self.catalogue = catalogue
        self.llm = llm
        self.log = log
        self.today = today

    def reply(self, user_id: str, message: object, conversation_id: str | None = None) -> Reply:
        """Answer ``message`` from the authenticated customer ``user_id``.

        ``message`` may be anything a client sends: bytes that are not UTF-8,
        control characters, megabytes of text; it is cleaned, never trusted.
        A ``conversation_id`` that belongs to another customer starts a new
        conversation instead of reading theirs.
        """
        user_id = fold_email_id(user_id)  # stored as ann@shop.com when typed Ann@Shop.com
        tools = CustomerTools(self.store, user_id, self.tables)
        if not conversation_id or tools.conversation_taken(conversation_id):
            conversation_id = f"chat-{uuid.uuid4().hex[:16]}"
        state = tools.load_state(conversation_id) or _new_state()
        text, truncated = _clean(message)
        language = detect_language(text) if text else state["language"]
        if language == "und":
            language = state["language"]
        state["language"] = language
        turn = _Turn(self, tools, state, conversation_id, text, language)
        reply = turn.answer()
        if truncated:
            reply.text = phrase("truncated", language) + reply.text
        if self.log:
            self._log(tools.tables, conversation_id, user_id, state, text, reply)
            if turn.unanswered:  # what the knowledge base lacks, for the shop to write
                tools.tables.add_unanswered(
                    conversation_id, user_id, mask_personal_data(text), language, turn.off_topic
                )
        tools.save_state(conversation_id, state)  # once, after the log moved the turn counter
        return reply

    def _log(
        self,
        tables: AssistantTables,
        conversation_id: str,
        user_id: str,
        state: dict[str, Any],
        text: str,
        reply: Reply,
    ) -> None:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")
        first = int(state["turns"])
        rows = [
            (first, "customer", mask_personal_data(text) or "(empty)"),
            (first + 1, "bot", reply.text),
        ]
        state["turns"] = first + 2
        tables.log_turns(
            pa.table(
                {
                    "conversation_id": [conversation_id] * 2,
                    "turn": [r[0] for r in rows],
                    "user_id": [user_id] * 2,
                    "role": [r[1] for r in rows],
                    "text": [r[2] for r in rows],
                    "ts": [now] * 2,
                    "language": [reply.language] * 2,
                }
            ),
            source=f"assistant:{conversation_id}",
        )


def _new_state() -> dict[str, Any]:
    return {
        "language": "en",
        "turns": 0,
        "pending": None,
        "orders_discussed": [],
        "last_intent": None,
        "failures": 0,
        "handed_off": False,
    }


def _clean(message: object) -> tuple[str, bool]:
    """Text from whatever arrived: decoded, control characters dropped, length capped."""
    if isinstance(message, bytes | bytearray):
        message = bytes(message).decode("utf-8", errors="replace")
    text = _CONTROL.sub(" ", message if isinstance(message, str) else str(message or ""))
    text = " ".join(text.split())
    if len(text) > MAX_MESSAGE_CHARS:
        return text[:MAX_MESSAGE_CHARS], True
    return text, False


@dataclass
class _Turn:
    """One message being answered; mutates the conversation state."""

    assistant: Assistant
    tools: CustomerTools
    state: dict[str, Any]
    conversation_id: str
    text: str
    language: str
    #: The knowledge base had nothing for this message; the intent model called it off-topic.
    unanswered: bool = False
    off_topic: bool = False

    @cached_property
    def read(self) -> str:
        """The message as understood: Traditional Chinese read as Simplified.

        The hand-off and the log keep ``text`` as the customer wrote it.
        """
        return to_simplified(self.text)

    def _reply(self, text: str, intent: str | None, confidence: float, **extra: Any) -> Reply:
        return Reply(self.conversation_id, text, intent, confidence, self.language, **extra)

    def answer(self) -> Reply:
        if self.state["handed_off"]:
            return self._reply(phrase("handed_off", self.language), None, 1.0, handed_off=True)
        if not self.text:
            return self._reply(phrase("empty", self.language), None, 0.0)
        prediction = self.assistant.nlu.predict([self.read])[0]
        slots = extract_slots(
            self.read,
            catalogue=self.assistant.catalogue,
            today=self.assistant.today or dt.date.today(),
        )
        pending = self.state.get("pending")
        if pending:
            follow = self._continue(pending, slots.order_ids)
            if follow is not None:
                return follow
        intent, confidence = prediction.intent, prediction.confidence
        if _ANGRY.search(self.read):
            return self._hand_off("angry", confidence)
        if intent is None or intent in ("shop_question", "greeting", "thanks"):
            # A bare order id, or "and the other one?", continues the last order topic.
            last = self.state.get("last_intent")
            if last in ("order_status", "start_return") and (
                slots.order_ids or _OTHER.search(self.read)
            ):
                intent = last
        if intent == "human_agent":
            return self._hand_off("asked for a person", confidence)
        if intent == "complaint":
            return self._hand_off("complaint", confidence)
        self.state["last_intent"] = intent
        if intent == "order_status":
            return self._order_status(slots.order_ids, confidence)
        if intent == "start_return":
            return self._start_return(slots.order_ids, confidence)
        if intent == "recommend":
            return self._recommend(confidence)
        if intent in ("greeting", "thanks"):
            self.state["failures"] = 0
            return self._reply(phrase(intent, self.language), intent, confidence)
        return self._knowledge(intent, confidence)

    # -- pending questions --------------------------------------------------

    def _continue(self, pending: dict[str, Any], order_ids: list[str]) -> Reply | None:
        """Answer a pending confirmation or missing order id; None when the customer moved on."""
        self.state["pending"] = None
        if pending["await"] == "confirm":
            if _YES.search(self.read):
                return self._do_return(pending["order_id"])
            if _NO.search(self.read):
                return self._reply(phrase("return_cancelled", self.language), "start_return", 1.0)
            return None
        if pending["await"] == "order_id" and order_ids:
            return self._start_return(order_ids, 1.0)
        return None

    # -- actions ------------------------------------------------------------

    def _order_status(self, order_ids: list[str], confidence: float) -> Reply:
        discussed: list[str] = self.state["orders_discussed"]
        if order_ids:
            order = self.tools.order(order_ids[0])
            if order is None:
                text = phrase("order_not_found", self.language, order=order_ids[0])
                return self._reply(text, "order_status", confidence)
        else:
            orders = self.tools.orders()
            if not orders:
                return self._reply(phrase("no_orders", self.language), "order_status", confidence)
            if _OTHER.search(self.read) and discussed:
                fresh = [o for o in orders if o.order_id not in discussed]
                if not fresh:
                    text = phrase("no_other_order", self.language)
                    return self._reply(text, "order_status", confidence)
                order = fresh[0]
            else:
                order = orders[0]
        if order.order_id not in discussed:
            discussed.append(order.order_id)
        self.state["failures"] = 0
        return self._reply(
            self._describe(order),
            "order_status",
            confidence,
            action={"tool": "order_status", "order_id": order.order_id},
        )

    def _describe(self, order: OrderInfo) -> str:
        items = order.num_items or 1
        if self.language == "zh":
            count = f"{items} 件商品"
        else:
            count = f"{items} item{'s' if items != 1 else ''}"
        text = phrase(
            "order_status",
            self.language,
            order=order.order_id,
            date=order.ts.date().isoformat(),
            amount=format_money(order.amount, order.currency),
            items=count,
            status=_STATUS_ZH.get(order.status, order.status)
            if self.language == "zh"
            else order.status,
        )
        if order.refunded:  # the sum only: a refund loaded without its date has none to tell
            refunded = format_money(order.refunded, order.currency)
            text += phrase("order_refunded_part", self.language, refunded=refunded)
        if order.return_requested:
            text += phrase("order_return_pending", self.language)
        return text

    def _start_return(self, order_ids: list[str], confidence: float) -> Reply:
        self.state["failures"] = 0
        if not order_ids:
            orders = self.tools.orders(limit=5)
            if not orders:
                return self._reply(phrase("no_orders", self.language), "start_return", confidence)
            returnable = [o for o in orders if self.tools.returnable(o)]
            if len(returnable) == 1:
                return self._confirm(returnable[0], confidence)
            self.state["pending"] = {"await": "order_id"}
            listing = ", ".join(o.order_id for o in orders)
            text = phrase("which_order_return", self.language, orders=listing)
            return self._reply(text, "start_return", confidence)
        order = self.tools.order(order_ids[0])
        if order is None:
            text = phrase("order_not_found", self.language, order=order_ids[0])
            return self._reply(text, "start_return", confidence)
        if not self.tools.returnable(order):
            pending = ", return already requested" if order.return_requested else ""
            if self.language == "zh" and pending:
                pending = "，已申请过退货"
            text = phrase(
                "return_not_possible",
                self.language,
                order=order.order_id,
                status=order.status,
                pending=pending,
            )
            return self._reply(text, "start_return", confidence)
        return self._confirm(order, confidence)

    def _confirm(self, order: OrderInfo, confidence: float) -> Reply:
        self.state["pending"] = {"await": "confirm", "order_id": order.order_id}
        if order.order_id not in self.state["orders_discussed"]:
            self.state["orders_discussed"].append(order.order_id)
        amount = format_money(order.amount, order.currency)
        text = phrase("confirm_return", self.language, order=order.order_id, amount=amount)
        return self._reply(text, "start_return", confidence)

    def _do_return(self, order_id: str) -> Reply:
        request = self.tools.start_return(order_id, self.conversation_id)
        if request is None:
            return self._start_return([order_id], 1.0)
        policy = self.assistant.knowledge.search(
            "return policy 退货政策", k=1, language=self.language
        )
        policy_text = grounded_answer("return", policy[0], 200) if policy else ""
        text = phrase(
            "return_started", self.language, request=request, order=order_id, policy=policy_text
        )
        return self._reply(
            text.strip(),
            "start_return",
            1.0,
            action={"tool": "start_return", "order_id": order_id, "request_id": request},
            citations=[policy[0].article.article_id] if policy else [],
        )

    def _recommend(self, confidence: float) -> Reply:
        self.state["failures"] = 0
        found = self.tools.recommendations()
        if not found:
            return self._reply(phrase("no_recommendations", self.language), "recommend", confidence)
        names = ", ".join(title for _, title, _ in found)
        return self._reply(
            phrase("recommendations", self.language, items=names),
            "recommend",
            confidence,
            action={"tool": "recommend", "item_ids": [item for item, _, _ in found]},
        )

    def _knowledge(self, intent: str | None, confidence: float) -> Reply:
        passages = self.assistant.knowledge.search(self.read, k=3, language=self.language)
        if not passages:
            self.unanswered, self.off_topic = True, intent is None
            self.state["failures"] += 1
            if self.state["failures"] >= MAX_FAILURES:
                return self._hand_off("not understood twice", confidence)
            return self._reply(phrase("unknown", self.language), intent, confidence)
        self.state["failures"] = 0
        best = passages[0]
        answer = None
        if self.assistant.llm is not None:
            answer = self.assistant.llm.rephrase(self.text, passages[:2], self.language)
        text = phrase(
            "kb_answer",
            self.language,
            answer=answer or grounded_answer(self.read, best),
            title=best.article.title,
            article=best.article.article_id,
        )
        return self._reply(
            text, intent or "shop_question", confidence, citations=[best.article.article_id]
        )

    def _hand_off(self, reason: str, confidence: float) -> Reply:
        self.state["handed_off"] = True
        self.state["pending"] = None
        handoff = self.tools.hand_off(self.conversation_id, reason, mask_personal_data(self.text))
        key = "handoff_angry" if reason in ("angry", "complaint") else "handoff"
        return self._reply(
            phrase(key, self.language),
            "human_agent",
            confidence,
            action={"tool": "hand_off", "handoff_id": handoff, "reason": reason},
            handed_off=True,
        )
