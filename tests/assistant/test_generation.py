"""The optional OpenAI-compatible backend: used when it answers from the passages, else not.

A real HTTP server on 127.0.0.1 speaks the chat-completions protocol, so the
client's request and its fallbacks are exercised end to end.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from retain.assistant.dialogue import Assistant
from retain.assistant.knowledge import Article, Passage
from retain.assistant.responder import LLMBackend

PASSAGE = Passage(
    Article("kb-refunds-en", "Refunds", "Refunds arrive within 5 to 7 business days.", "en"),
    1.0,
    1.0,
    0.9,
)


class _Server(ThreadingHTTPServer):
    answer = ""
    requests: list[dict[str, object]]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), **body}
        )
        payload = json.dumps({"choices": [{"message": {"content": self.server.answer}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.requests = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()


def _backend(srv: _Server) -> LLMBackend:
    return LLMBackend(f"http://127.0.0.1:{srv.server_address[1]}/v1", "tiny", api_key="k")


def test_a_grounded_rewording_is_used(server: _Server) -> None:
    server.answer = "Your refund should arrive in 5 to 7 business days."
    answer = _backend(server).rephrase("when is my refund", [PASSAGE], "en")
    assert answer == server.answer
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer k"
    assert request["model"] == "tiny" and "5 to 7" in json.dumps(request["messages"])


def test_an_answer_with_an_invented_number_is_dropped(server: _Server) -> None:
    server.answer = "Your refund arrives in 2 days and you get a 10% bonus."
    assert _backend(server).rephrase("when is my refund", [PASSAGE], "en") is None


def test_an_unreachable_server_falls_back() -> None:
    backend = LLMBackend("http://127.0.0.1:9/v1", "tiny", timeout=1.0)
    assert backend.rephrase("when is my refund", [PASSAGE], "en") is None


def test_the_assistant_words_kb_answers_through_the_backend(
    server: _Server, assistant: Assistant
) -> None:
    server.answer = "Refunds go back to your original payment method within 5 to 7 business days."
    assistant.llm = _backend(server)
    reply = assistant.reply("alice", "when will I get my refund?")
    assert server.answer in reply.text and reply.citations == ["kb-refunds-en"]
    # Order facts never go through the backend.
    status = assistant.reply("alice", "where is my order O000101")
    assert "O000101" in status.text and len(server.requests) == 1
