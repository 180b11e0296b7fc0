"""`make bench`'s verdict: every target printed PASS or FAIL, and the command fails when one failed."""

from __future__ import annotations

import pytest

from devtools.bench import common
from devtools.bench.common import Figure, exit_code, print_table

FIGURE = Figure("replay", 60_000.0, float("nan"), float("nan"), 130_000.0, float("nan"), float("nan"))


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "_FAILED", [])


def test_a_failed_target_fails_the_command_and_is_listed_at_the_end(
        capsys: pytest.CaptureFixture[str]) -> None:
    print_table("Audit", [FIGURE], [("replay >= 50% of the raw read (46.2%)", False),
                                    ("replay >= 20,000 events/s", True),
                                    ("replay --in-one-process: 34.0% of the raw read", None)])
    print_table("Intake", [FIGURE], [("batch intake >= 50% of the raw producer", True)])
    assert exit_code() == 1
    out = capsys.readouterr().out
    assert "[FAIL] replay >= 50% of the raw read (46.2%)" in out
    assert "[info] replay --in-one-process: 34.0% of the raw read" in out
    assert out.rstrip().endswith("1 target(s) not met:\n  replay >= 50% of the raw read (46.2%)")


def test_the_command_succeeds_when_every_target_is_met(capsys: pytest.CaptureFixture[str]) -> None:
    print_table("Audit", [FIGURE], [("replay >= 20,000 events/s", True), ("for information", None)])
    assert exit_code() == 0
    assert "every target met" in capsys.readouterr().out


def test_the_audit_s_figure_is_the_pair_with_the_median_ratio() -> None:
    from devtools.bench.audit import median_pair

    # (raw read seconds, replay seconds): ratios 48%, 55%, 52%, in the order run
    pairs = [(7.2, 15.0), (7.7, 14.0), (7.28, 14.0)]
    assert median_pair(pairs) == (7.28, 14.0)
    assert median_pair(pairs[:1]) == (7.2, 15.0)
