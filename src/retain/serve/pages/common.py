"""What every dashboard page shares: turning frames and figures into what a template
reads, the stored scores, and the sentences shown where data is missing.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from retain.data.store import Store

NO_ORDERS = "No orders yet: ingest orders (retain ingest orders FILE) or run `retain run`."
NO_SCORES = "No scores yet: run `retain train predict` (or `retain run`) to score customers."


def template_rows(frame: pd.DataFrame) -> list[dict[Hashable, Any]]:
    """Rows for a template, with None where pandas has NaN (which Jinja treats as true)."""
    return [
        {key: (None if isinstance(v, float) and v != v else v) for key, v in row.items()}
        for row in frame.to_dict("records")
    ]


def figure_json(figure: go.Figure) -> str:
    """Figure JSON for ``Plotly.newPlot`` in the page."""
    figure.update_layout(margin={"l": 40, "r": 10, "t": 40, "b": 40}, height=360)
    return str(figure.to_json())


def stored_scores(store: Store) -> pd.DataFrame | None:
    """The last scoring run's ``user_scores``, or None before the first."""
    if not store.has_table("user_scores"):
        return None
    return store.query_df("SELECT * FROM user_scores")
