"""How the assistant words its answers: templates by default, optionally a language model.

Everything about orders, returns and recommendations is worded by templates
from the tools' results, so no order fact is ever made up. A configured
OpenAI-compatible backend (vLLM, Ollama, llama.cpp server, ...) may only
rephrase knowledge-base passages; its answer is kept only when every number in
it appears in those passages, otherwise the templated answer stands.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from retain.assistant.knowledge import Passage, tokenize
from retain.config import AssistantConfig

__all__ = ["PHRASES", "LLMBackend", "grounded_answer", "phrase"]

#: Message key -> (English, Chinese).
PHRASES: dict[str, tuple[str, str]] = {
    "empty": ("Please type your question.", "请输入您的问题。"),
    "greeting": ("Hello! How can I help you today?", "您好！请问有什么可以帮您？"),
    "thanks": ("You're welcome. Anything else I can do?", "不客气，还有其他可以帮您的吗？"),
    "no_orders": ("I can't find any orders on your account.", "您的账户下没有找到订单。"),
    "order_not_found": (
        "I can't find order {order} on your account. Please check the number.",
        "您的账户下没有找到订单 {order}，请核对订单号。",
    ),
    "order_status": (
        "Order {order} from {date} ({amount}, {items}) is {status}.",
        "订单 {order}（{date}，金额 {amount}，{items}）的状态是：{status}。",
    ),
    "order_return_pending": (
        " A return has been requested for it.",
        " 该订单已申请退货。",
    ),
    "order_refunded_part": (
        " {refunded} of it has been refunded.",
        " 其中 {refunded} 已退款。",
    ),
    "no_other_order": (
        "I found no other orders on your account.",
        "您的账户下没有其他订单了。",
    ),
    "which_order_return": (
        "Which order would you like to return? Your recent orders: {orders}.",
        "请问您要退哪个订单？您最近的订单：{orders}。",
    ),
    "confirm_return": (
        "Shall I start a return for order {order} ({amount})? Please answer yes or no.",
        "要为订单 {order}（金额 {amount}）申请退货吗？请回复“是”或“否”。",
    ),
    "return_started": (
        "Done: return {request} for order {order} is requested. {policy}",
        "已为订单 {order} 提交退货申请 {request}。{policy}",
    ),
    "return_not_possible": (
        "Order {order} cannot be returned here (status: {status}{pending}). "
        "I can connect you with a colleague if you like.",
        "订单 {order} 无法在这里申请退货（状态：{status}{pending}）。"
        "需要的话我可以为您转接人工客服。",
    ),
    "return_cancelled": ("OK, I have not started a return.", "好的，没有申请退货。"),
    "recommendations": ("You might like: {items}.", "为您推荐：{items}。"),
    "no_recommendations": (
        "I have no personal suggestions for you yet; our best sellers are on the home page.",
        "暂时没有为您准备个性化推荐，可以先看看首页的热销商品。",
    ),
    "kb_answer": (
        "{answer} (Source: {title} [{article}])",
        "{answer}（来源：{title} [{article}]）",
    ),
    "unknown": (
        "Sorry, I don't know the answer to that. "
        "Would you like me to connect you with a colleague?",
        "抱歉，这个问题我无法回答。需要为您转接人工客服吗？",
    ),
    "handoff": (
        "I'm connecting you with a colleague now; they will see this conversation.",
        "正在为您转接人工客服，客服会看到我们的对话记录。",
    ),
    "handoff_angry": (
        "I'm sorry about this. I'm connecting you with a colleague right away.",
        "非常抱歉给您带来不好的体验，马上为您转接人工客服。",
    ),
    "handed_off": (
        "A colleague has this conversation and will reply here shortly.",
        "人工客服已接手，请稍候。",
    ),
    "truncated": (
        "(Your message was very long; I read the first part.) ",
        "（您的消息太长，我只读取了前面的部分。）",
    ),
}


def phrase(key: str, language: str, **values: object) -> str:
    """The template ``key`` in ``language`` ('zh' or anything else for English)."""
    english, chinese = PHRASES[key]
    return (chinese if language == "zh" else english).format(**values)


def grounded_answer(query: str, passage: Passage, max_chars: int = 400) -> str:
    """The passage's sentences that best match the query, in the article's order."""
    body = passage.article.body.strip()
    if len(body) <= max_chars:
        return body
    sentences = [s.strip() for s in re.split(r"(?<=[.!?。！？])\s*", body) if s.strip()]
    terms = set(tokenize(query))
    ranked = sorted(range(len(sentences)), key=lambda i: -len(terms & set(tokenize(sentences[i]))))
    keep: list[int] = []
    for i in ranked:
        if sum(len(sentences[j]) for j in keep) + len(sentences[i]) > max_chars and keep:
            break
        keep.append(i)
    return " ".join(sentences[i] for i in sorted(keep))


_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


@dataclass(frozen=True)
class LLMBackend:
    """An OpenAI-compatible chat-completions server that rephrases passages."""

    base_url: str
    model: str
    api_key: str | None = None
    timeout: float = 10.0

    @classmethod
    def from_config(cls, config: AssistantConfig) -> LLMBackend | None:
        """The backend the settings configure, or None (templates only)."""
        if not config.llm_url:
            return None
        return cls(config.llm_url, config.llm_model, config.llm_api_key)

    def rephrase(self, question: str, passages: Sequence[Passage], language: str) -> str | None:
        """A reworded answer from ``passages``, or None when the server fails or adds facts."""
        context = "\n\n".join(f"[{p.article.article_id}] {p.article.body}" for p in passages)
        reply_language = "Chinese" if language == "zh" else "English"
        return self.grounded(
            "You are a shop's customer-service assistant. Answer only from the passages. "
            "Do not add numbers, dates, prices or promises that the passages do not state. "
            f"Answer in {reply_language}, in at most three sentences.",
            f"Passages:\n{context}\n\nQuestion: {question}",
            allowed=context,
        )

    def grounded(self, system: str, user: str, *, allowed: str) -> str | None:
        """The server's answer, or None when it fails or states a number ``allowed`` lacks."""
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
        }
        request = urllib.request.Request(
            self.base_url.rstrip("/") + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read())["choices"][0]["message"]["content"]
        except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError, TypeError):
            return None
        if not isinstance(answer, str) or not answer.strip():
            return None
        numbers = set(_NUMBER.findall(allowed))
        if any(n not in numbers for n in _NUMBER.findall(answer)):
            return None  # a number the sources do not state: keep the templated text
        return answer.strip()
