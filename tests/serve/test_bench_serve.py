"""`retain bench serve` runs end to end (its figures are for the benchmark, not asserted here)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from retain.artifacts import current_version
from retain.serve.bench import run_serve_benchmark


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (.ci/run installs it)")
def test_the_serve_benchmark_reports_every_phase_and_restores_the_model(
    demo_dir: Path, tmp_path: Path
) -> None:
    shop = tmp_path / "shop"
    shutil.copytree(demo_dir, shop)
    serving = current_version(shop / "models", "recommend")
    result = run_serve_benchmark(shop, seconds=2, connections=4)
    metrics = result["metrics"]
    assert set(metrics) >= {"rps", "p50_ms", "p99_ms", "errors", "errors_during_swap"}
    assert metrics["rps"] > 0 and metrics["errors"] == 0 and metrics["errors_during_swap"] == 0
    assert metrics["promotions_during_swap"] >= 1 and metrics["swaps_completed"] >= 1
    assert result["service"]["refused"] is None
    assert result["phases"]["uncached"]["requests"] > 0
    assert current_version(shop / "models", "recommend") == serving


def test_the_pages_benchmark_times_every_page_and_the_linked_ones(
    demo_dir: Path, tmp_path: Path
) -> None:
    from retain.errors import NotFoundError
    from retain.serve.page_bench import FIXED_PAGES, run_pages_benchmark

    shop = tmp_path / "shop"
    shutil.copytree(demo_dir, shop)
    result = run_pages_benchmark(shop, repeats=2)
    pages = result["pages"]
    assert set(FIXED_PAGES) < set(pages) and result["customers"] > 100
    named = ("an RFM segment", "the largest learned segment", "the largest taste segment")
    linked = [pages[name]["url"] for name in named]
    assert linked[0].startswith("/segments/rfm/") and linked[1].startswith("/segments/cluster/")
    assert linked[2].startswith("/segments/taste/")
    assert pages["the first at-risk customer"]["url"].startswith("/customers/")
    assert pages["the newest campaign"]["url"].startswith("/campaigns/C")
    for name, timed in pages.items():
        assert timed["status"] == 200, name
        assert len(timed["seconds"]) == 2 and 0 < timed["median_s"] <= timed["max_s"]
    with pytest.raises(NotFoundError, match="no store"):
        run_pages_benchmark(tmp_path / "nowhere")
