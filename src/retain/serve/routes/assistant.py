"""The customer-service assistant: a customer's chat turn, and the hand-offs
and unanswered questions the shop's people work through.
"""

from contextlib import ExitStack
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Security
from fastapi.security import HTTPAuthorizationCredentials

from retain.serve.deps import API_PREFIX, BEARER, AdminKey, problem, store_errors
from retain.serve.keys import read_customer_token
from retain.serve.schemas import ChatIn, ChatOut, HandoffOut, UnansweredOut
from retain.serve.state import ServiceState


def router(state: ServiceState) -> APIRouter:
    """The assistant routes over ``state``."""
    router = APIRouter(prefix=API_PREFIX)

    @router.post("/chat", response_model=ChatOut, summary="One customer message to the assistant")
    def chat(
        body: ChatIn,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
    ) -> ChatOut:
        user_id = read_customer_token(state.secret, bearer.credentials) if bearer else None
        if user_id is None:
            raise problem(
                401,
                "chat needs a valid customer token (Authorization: Bearer …), minted by "
                "POST /v1/customers/{id}/token",
                {"WWW-Authenticate": "Bearer"},
            )
        return ChatOut(**customer_reply(state, user_id, body.message, body.conversation_id))

    @router.get(
        "/handoffs",
        response_model=list[HandoffOut],
        summary="Conversations the assistant handed to a person, newest first (admin)",
    )
    def handoffs(
        _key: AdminKey,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        state_filter: Annotated[
            Literal["open", "all"], Query(alias="state", description="open: not yet closed")
        ] = "open",
        order: Annotated[
            Literal["newest", "urgent"],
            Query(description="urgent: valuable and at-risk customers first"),
        ] = "newest",
    ) -> list[dict[str, Any]]:
        with store_errors():
            return state.handoff_queue(
                limit, include_closed=state_filter == "all", urgent_first=order == "urgent"
            )

    @router.get(
        "/assistant/unanswered",
        response_model=list[UnansweredOut],
        summary="Questions the knowledge base had no answer for, grouped by meaning, "
        "most asked first (admin)",
    )
    def unanswered(
        _key: AdminKey,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        days: Annotated[
            int | None, Query(ge=1, le=3650, description="Only the last N days")
        ] = None,
    ) -> list[dict[str, Any]]:
        with store_errors():
            return state.unanswered_questions(limit, days=days)

    @router.post(
        "/handoffs/{handoff_id}/close",
        response_model=HandoffOut,
        summary="Mark a hand-off done: it leaves the open queue (admin)",
    )
    def close_handoff(handoff_id: str, _key: AdminKey) -> dict[str, Any]:
        with store_errors(), state.assistant_tables() as tables:
            if not tables.close_handoff(handoff_id):
                raise problem(404, f"no open hand-off {handoff_id!r}")
            (closed,) = tables.handoffs(1, include_closed=True, handoff_id=handoff_id)
        return closed

    return router


def customer_reply(
    state: ServiceState, user_id: str, message: str, conversation_id: str | None
) -> dict[str, Any]:
    """One assistant turn for ``user_id`` (shared by the API and the dashboard preview)."""
    current = state.assistant.serving
    if current is None:
        raise problem(503, "no assistant model is trained yet; run `retain train assistant`")
    # With PostgreSQL the conversations live there (every replica continues
    # them, and a turn's writes commit together); the store is then only read.
    with store_errors(), ExitStack() as stack:
        tables = None
        if state.ops is not None:
            tables = stack.enter_context(state.ops.assistant_tables())
        opened = state.read_store() if tables is not None else state.write_store()
        store = stack.enter_context(opened)
        assistant = current[1].assistant(store, llm=state.llm, tables=tables)
        reply = assistant.reply(user_id, message, conversation_id)
    return {
        "conversation_id": reply.conversation_id,
        "text": reply.text,
        "intent": reply.intent,
        "citations": reply.citations,
        "handed_off": reply.handed_off,
    }
