"""``POST /v1/reviews/score``: review texts scored with their aspects."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from retain.serve.deps import API_PREFIX, ReadKey, serving_model
from retain.serve.schemas import ReviewScores, ReviewsIn
from retain.serve.state import ServiceState


def router(state: ServiceState) -> APIRouter:
    """The reviews routes over ``state``."""
    router = APIRouter(prefix=API_PREFIX)

    @router.post("/reviews/score", response_model=ReviewScores, summary="Score review texts")
    def score_reviews(body: ReviewsIn, _key: ReadKey) -> JSONResponse:
        version, model = serving_model(state.sentiment)
        scores = model.score(body.texts)
        aspects = model.aspects(body.texts)
        out = [
            {
                "label": s.label,
                "p_positive": s.p_positive,
                "confidence": s.confidence,
                "language": s.language,
                "note": s.note,
                "aspects": [a.as_dict() for a in found],
            }
            for s, found in zip(scores, aspects, strict=True)
        ]
        return JSONResponse(
            {"model_version": version, "scores": out, "model_note": model.training_note}
        )

    return router
