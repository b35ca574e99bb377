"""What each dashboard page shows, computed from the store.

Pure functions from an open store to plain dicts and Plotly figures, so the
pages are testable without a browser and the web layer stays thin. Every
function copes with a shop that has no data yet: it returns ``empty`` with a
sentence saying what is missing instead of raising. One module per page (or
family of pages); :mod:`retain.serve.pages.common` holds what they share.
"""

from retain.serve.pages.campaigns import campaign_page, campaigns_page, experiments_page
from retain.serve.pages.cohorts import cohorts_page
from retain.serve.pages.customers import at_risk_page, customer_page
from retain.serve.pages.overview import overview_page
from retain.serve.pages.recommendations import recommendations_page
from retain.serve.pages.reviews import reviews_page
from retain.serve.pages.segments import segment_page, segments_page

__all__ = [
    "at_risk_page",
    "campaign_page",
    "campaigns_page",
    "cohorts_page",
    "customer_page",
    "experiments_page",
    "overview_page",
    "recommendations_page",
    "reviews_page",
    "segment_page",
    "segments_page",
]
