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
                                    ("verify: 74.0% of the raw read", None)])
    print_table("Intake", [FIGURE], [("batch intake >= 50% of the raw producer", True)])
    assert exit_code() == 1
    out = capsys.readouterr().out
    assert "[FAIL] replay >= 50% of the raw read (46.2%)" in out
    assert "[info] verify: 74.0% of the raw read" in out
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


def test_the_interleaved_workload_is_the_same_events_in_time_order_with_every_group_active_at_once() -> None:
    from devtools.bench.processor import history, interleaved

    contiguous, live = list(history(30, 40)), list(interleaved(30, 40))
    assert sorted(e["id"] for e in contiguous) == sorted(e["id"] for e in live)
    times = [e["time"] for e in live]
    assert times == sorted(times)
    first_day = {e["data"]["group_id"] for e in live[:30]}
    assert len(first_day) == 30  # each group's first event before any group's second
    assert [e["time"] for e in contiguous] != sorted(e["time"] for e in contiguous)


def test_the_processor_s_targets_are_issue_18_s() -> None:
    from devtools.bench.processor import Backlog, Result, Shape, targets

    latency = Figure("202 -> group-state @200/s", 200, 14, 240, 200, 0.5, 4)
    shapes = [Shape(1000, 100, "contiguous", 12_000, 130_000),
              Shape(1000, 100, "interleaved", 8_100, 120_000)]
    verdicts = dict(targets(Result(shapes, Backlog(1_000_000, 170, 140_000, 100, 2.3), latency)))
    assert list(verdicts.values()) == [True, True, True, True, True, None, None]
    slow = [Shape(1000, 100, "contiguous", 12_000, 130_000), Shape(1000, 100, "interleaved", 7_900, 120_000)]
    late = Figure("202 -> group-state @200/s", 200, 14, 260, 200, 0.5, 4)
    stalled = Backlog(1_000_000, 190, 140_000, 114, 60.1)  # a restart's health check went unanswered
    verdicts = dict(targets(Result(slow, stalled, late)))
    assert list(verdicts.values()) == [False, True, False, False, False, None, None]
    small = dict(targets(Result(shapes, Backlog(10_000, 5, 140_000, 3, 0.1), latency)))
    assert list(small.values())[3] is None  # a smaller backlog is shown, not judged


def test_the_sealing_workload_spreads_first_sightings_evenly_and_repeats_only_persons_already_named() -> None:
    import random

    from devtools.bench.sealing import first_sightings, person_sequence

    persons = person_sequence(2000, 500, random.Random(7))
    firsts = first_sightings(persons)
    assert len(set(persons)) == 500 and sum(firsts) == 500
    assert [sum(firsts[lo:lo + 250]) for lo in range(0, 2000, 250)] == [63, 62, 63, 62, 63, 62, 63, 62]
    assert first_sightings(["a", "b", "a", "c", "b"]) == [True, True, False, True, False]
    assert len(set(person_sequence(10, 500, random.Random(7)))) == 10  # a pool larger than the run


def test_the_sealing_target_is_the_ratio_of_p99s_and_the_split_is_information() -> None:
    from devtools.bench.sealing import Row, Stats, targets

    def row(sealed_p99: float) -> Row:
        return Row(8, 500, Stats(5000, 600, 11, sealed_p99, 6.6, 690), Stats(5000, 650, 9, 50, 7.2, 600),
                   Stats(500, 60, 15, 49, 6.6), Stats(4500, 540, 10, 45, 6.6))

    assert row(57.5).p99_ratio == 1.15
    verdicts = targets([row(57.5), row(57.6)])
    assert [ok for _, ok in verdicts] == [True, False, None, None]
    assert "sealed 57.6 ms, group-only 50.0 ms (1.15x" in verdicts[1][0]
    assert "first sightings (500 of 5000 sealed events, pool of 500)" in verdicts[2][0]
    assert "requests per transaction: sealed 6.6, group-only 7.2" in verdicts[2][0]
    assert "intake CPU per request: sealed 690 us, group-only 600 us" in verdicts[2][0]


def test_the_sealing_target_is_judged_on_the_run_with_the_median_ratio() -> None:
    from devtools.bench.sealing import Row, Stats, _median_run, targets

    def run(sealed_p99: float) -> Row:
        return Row(8, 500, Stats(5000, 600, 11, sealed_p99, 6.6, 690), Stats(5000, 650, 9, 50, 7.2, 600),
                   Stats(500, 60, 15, 49, 6.6), Stats(4500, 540, 10, 45, 6.6))

    judged = _median_run([run(63.0), run(52.0), run(55.0)])  # one run's pause does not decide
    assert judged.p99_ratio == 1.1 and judged.run_ratios == (1.26, 1.04, 1.1)
    [(text, ok), *_] = targets([judged])
    assert ok is True and "(1.10x, the median run of 1.26 1.04 1.10)" in text
    [(_, ok), *_] = targets([_median_run([run(63.0), run(52.0), run(60.0)])])
    assert ok is False


def test_a_paced_sealing_run_counts_latency_from_when_each_event_was_due() -> None:
    """A paced client whose connection is still busy when the next event is due counts the wait:
    against an intake that takes 50 ms per answer, events due every 10 ms queue up, and their
    latencies grow and overlap, where an unpaced client's follow one another within the run."""
    import asyncio

    from devtools.bench.sealing import _post_each

    async def slow_intake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            await reader.readexactly(length)
            await asyncio.sleep(0.05)
            writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}")

    async def run(rate: float | None) -> tuple[float, list[float]]:
        server = await asyncio.start_server(slow_intake, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await _post_each(f"http://127.0.0.1:{port}", [{"n": i} for i in range(5)], 1, rate)

    (unpaced_run, unpaced), (paced_run, paced) = asyncio.run(run(None)), asyncio.run(run(100.0))
    assert sum(unpaced) <= unpaced_run  # one connection: each latency ends before the next begins
    assert sum(paced) > 2 * paced_run  # counted from when due, they overlap while they queue
    assert paced == sorted(paced) and paced[-1] >= 0.2  # the 5th, due at 40 ms, answered after 250
