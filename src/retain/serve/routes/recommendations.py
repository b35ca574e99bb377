"""What to show a customer next, and items like an item: answered from the
recommender held in memory, never from the store.
"""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from retain.recommend.recommender import MAX_K, RecommendationList
from retain.serve.cache import recommendation_question, recommendations_json
from retain.serve.deps import API_PREFIX, CustomerId, ReadKey, client_errors, serving_model
from retain.serve.schemas import Recommendations
from retain.serve.state import ServiceState


def router(state: ServiceState) -> APIRouter:
    """The recommendations routes over ``state``."""
    router = APIRouter(prefix=API_PREFIX)

    @router.get(
        "/users/{user_id}/recommendations",
        response_model=Recommendations,
        summary="What to show a user next (an unknown user gets the cold-start answer)",
    )
    async def user_recommendations(
        user_id: CustomerId,
        _key: ReadKey,
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
        category: Annotated[list[str] | None, Query(max_length=100)] = None,
        recent: Annotated[list[str], Query(max_length=200)] = [],  # noqa: B006 (FastAPI reads it)
        exclude: Annotated[list[str], Query(max_length=1000)] = [],  # noqa: B006
    ) -> Response:
        version, model = serving_model(state.recommender)

        def compute() -> bytes:
            with client_errors():
                answer = model.recommend(
                    user_id, recent, k, categories=category, exclude_items=exclude
                )
            return recommendations_json(answer, version)

        question = recommendation_question(k, category, recent, exclude)
        body = state.answers.get_or_compute(version, user_id, question, compute)
        return Response(body, media_type="application/json")

    @router.get(
        "/items/{item_id}/similar",
        response_model=Recommendations,
        summary="Items like this one: bought with it, after it, or described alike",
    )
    async def similar_items(
        item_id: str,
        _key: ReadKey,
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
    ) -> Response:
        version, model = serving_model(state.recommender)

        def compute() -> bytes:
            with client_errors():
                items = model.similar_items(item_id, k)
            return recommendations_json(RecommendationList(None, items, [], False), version)

        # Similar items depend on the model alone: cached under no user.
        body = state.answers.get_or_compute(version, "", ("similar", item_id, k), compute)
        return Response(body, media_type="application/json")

    return router
