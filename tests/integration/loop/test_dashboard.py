"""The dashboard in a real browser (Debian's chromium, headless, via Playwright) against the
real stack, while two scorers serve: a live promotion appears on the timeline (drawn by the
vendored uPlot), the pin button moves the whole fleet, and the page loads nothing from any
other origin."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from arena.api.app import create_app
from arena.api.server import ApiThread
from arena.demo.fleet import Fleet
from storage.domain import ChallengerDecision, DecisionOutcome, Evaluation

from .api_fixtures import OPERATOR, console_of
from .conftest import Loop, Models

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUT = Path(__file__).resolve().parents[3] / "out"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def api_url(loop: Loop) -> Iterator[str]:
    """The API and dashboard served by uvicorn in a thread, as ``arena api`` serves them."""
    api = ApiThread(create_app(console_of(loop)), "127.0.0.1", free_port())
    assert api.start(), "the API did not start listening"
    yield api.url
    api.stop()


def record_accuracy(loop: Loop, version: int, values: list[float], role: str) -> None:
    now = datetime.now(UTC)
    loop.registry.record_evaluations(
        [Evaluation(version, "accuracy", v, 200, now, now, now, role=role) for v in values]
    )


def test_dashboard_follows_a_live_promotion_and_pins_the_fleet(
    loop: Loop, models: Models, api_url: str
) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.fail("the dashboard test needs Debian's chromium: apt-get install -y chromium")
    v1 = loop.register(models.good)
    loop.control.promote(v1.id, reason="initial", actor="test")
    record_accuracy(loop, v1.id, [0.93, 0.94], "champion")
    fleet = Fleet(loop.settings)
    fleet.start(2, trainer=False, evaluator=False)
    try:
        with playwright_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.goto(api_url + "/")
            assert page.evaluate("typeof uPlot") == "function", "the vendored chart library"
            page.fill("#token", OPERATOR)
            page.click("#token-form button")

            def fleet_serves(version: int) -> None:
                for scorer in ("scorer-1", "scorer-2"):
                    row = f'#fleet tr[data-scorer="{scorer}"][data-version="{version}"]'
                    page.wait_for_selector(row, timeout=120_000)

            fleet_serves(v1.id)
            page.wait_for_selector("#timeline .uplot canvas")
            page.wait_for_selector(f'#timeline .series[data-version="{v1.id}"]')

            # A live promotion, as the evaluator makes one: a challenger scored, then promoted.
            v2 = loop.register(models.good.clone(), parent=v1.id)
            record_accuracy(loop, v2.id, [0.97], "challenger")
            console_of(loop).decisions.record(
                ChallengerDecision(
                    v2.id,
                    v1.id,
                    DecisionOutcome.PROMOTED,
                    "promote: accuracy 0.97 vs 0.94",
                    200,
                    {"accuracy": 0.94},
                    {"accuracy": 0.97},
                    2,
                    8,
                    0.0547,
                )
            )
            loop.control.promote(v2.id, reason="challenger wins", actor="evaluator")
            record_accuracy(loop, v2.id, [0.96], "champion")

            page.wait_for_selector(f'#timeline .series[data-version="{v2.id}"]')
            page.wait_for_selector(
                f'#timeline .marker[data-kind="promote"][data-version="{v2.id}"]'
            )
            fleet_serves(v2.id)
            assert page.inner_text("#champion") == f"v{v2.id}"
            decision = page.wait_for_selector(f'#decisions tr[data-challenger="{v2.id}"]')
            assert decision is not None and "promoted" in decision.inner_text()

            page.fill("#pin-version", str(v1.id))
            page.fill("#pin-reason", "freeze from the dashboard")
            page.click("#pin-button")

            fleet_serves(v1.id)
            page.wait_for_selector(f'#timeline .marker[data-kind="pin"][data-version="{v1.id}"]')
            assert page.inner_text("#served") == f"v{v1.id}"
            assert "pinned v1 by otto" in page.inner_text("#pin")
            pin = loop.registry.active_pin()
            assert pin is not None and (pin.version_id, pin.actor) == (v1.id, "otto")
            OUT.mkdir(exist_ok=True)
            page.screenshot(path=str(OUT / "dashboard.png"), full_page=True)
            browser.close()
            elsewhere = [u for u in requested if not u.startswith(api_url + "/")]
            assert not elsewhere, f"the dashboard loaded from elsewhere: {elsewhere}"
    finally:
        fleet.stop()
    assert not fleet.errors, fleet.errors
