"""The dashboard-over-HTTP harness (`dash`, defined beside its first tests) for every module here."""

from tests.unit.dashboard.test_dashboard_http import dash  # noqa: F401
