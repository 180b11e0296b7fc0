"""The dashboard says when its feed stops hearing from the broker (issue 18): /readyz, metrics, the
live stream and every page ("stale since HH:MM")."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from services.dashboard.freshness import FeedFreshness
from tests.unit.dashboard.test_dashboard_http import Harness


def test_a_feed_is_stale_once_the_broker_has_not_answered_for_the_bound() -> None:
    freshness = FeedFreshness(stale_after=15)
    assert freshness.stale_since(1000) is None  # not started: a dashboard without a feed
    freshness.started(100)
    assert freshness.stale_since(115) is None
    assert freshness.stale_since(116) == 100  # never answered: counted from the start
    freshness.contact(120)
    assert freshness.stale_since(135) is None
    assert freshness.stale_since(136) == 120


def test_each_change_of_staleness_is_reported_once() -> None:
    freshness = FeedFreshness(stale_after=15)
    freshness.started(0)
    freshness.contact(0)
    assert freshness.change(10) is None
    assert freshness.change(20) == (True, 0)
    assert freshness.change(25) is None
    freshness.contact(30)
    assert freshness.change(31) == (False, None)
    assert freshness.change(32) is None


def _stale(dash: Harness) -> None:
    app_dash = dash.client.app.state.dashboard  # type: ignore[attr-defined]
    app_dash.freshness.started(dash.clock().timestamp())
    app_dash.feed_contact()
    dash.clock.now += timedelta(minutes=5)


def test_readyz_says_stale_since_when_the_feed_stops_hearing_from_the_broker(dash: Harness) -> None:
    assert dash.client.get("/readyz").status_code == 200
    contact = dash.clock()
    _stale(dash)
    answer = dash.client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "stale"
    assert answer.json()["since"] == contact.isoformat()
    metrics = dash.client.get("/metrics").text
    assert "gvi_dashboard_feed_stale 1.0" in metrics


def test_traffic_readiness_excludes_freshness_so_stale_pages_are_still_served(dash: Harness) -> None:
    """Kubernetes routes by `/readyz?exclude=fresh`: in a Kafka outage every replica is stale, and
    the page saying "stale since" is worth more than the ingress's 503."""
    contact = dash.clock()
    _stale(dash)
    assert dash.client.get("/readyz").status_code == 503
    answer = dash.client.get("/readyz", params={"exclude": "fresh"})
    assert answer.status_code == 200
    assert answer.json() == {"status": "ready", "stale_since": contact.isoformat()}
    assert dash.client.get("/readyz", params={"exclude": "loaded"}).status_code == 422


def test_every_page_says_stale_since_in_stockholm_time_without_javascript(dash: Harness) -> None:
    dash.login("operator")
    assert 'class="live stale"' not in dash.client.get("/").text
    contact = dash.clock()
    _stale(dash)
    page = dash.client.get("/").text
    local = contact.astimezone(ZoneInfo("Europe/Stockholm")).strftime("%H:%M")
    assert f"Stale since {local}" in page
    assert 'class="live stale"' in page
    dash.client.cookies.set("gvi_lang", "sv")
    assert f"Inaktuellt sedan {local}" in dash.client.get("/cases").text


def test_open_pages_are_told_when_the_feed_goes_stale_and_when_it_hears_again(dash: Harness) -> None:
    app_dash = dash.client.app.state.dashboard  # type: ignore[attr-defined]
    sent: list[bytes] = []
    app_dash.hub.publish = sent.append
    app_dash.freshness.started(dash.clock().timestamp())
    app_dash.feed_contact()
    app_dash.check_feed()
    assert sent == []
    dash.clock.now += timedelta(seconds=16)
    app_dash.check_feed()
    app_dash.check_feed()
    assert len(sent) == 1 and sent[0].startswith(b"event: stale\ndata: {\"since\":")
    app_dash.feed_contact()
    app_dash.check_feed()
    assert sent[1] == b"event: fresh\ndata: {}\n\n"
