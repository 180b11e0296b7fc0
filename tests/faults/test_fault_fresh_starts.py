"""Fresh starts (issue 18): a new broker, `make run`'s services, and events posted while the processor
starts. Every time, within 30 s of the last 202, the processor's live group states must equal
`gvi-audit replay` of the log.

Each start is a new broker in a directory of its own, so the processor meets topics it has never
used (its fact store's changelog is created on this start). Every service `make run` starts is
launched at once, as `make run` does (the dashboard and the audit checkpointer too: they load the
machine as they would), and the demo scenario of a new seed is posted through the three intakes as
soon as they are ready, while the processor (the slowest to start) joins its group, creates its
changelog and loads.

GVI_FAULT_FRESH_STARTS (default 10) sets how many starts, GVI_FAULT_FRESH_CLIENTS (4) how many
agency systems post at once, and GVI_FAULT_FRESH_EVENTS (1,000) how many events of its scenario each
posts. (With one client posting, no start failed in 30; with four, two in ten crashed.)
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.faults.harness import EVERY_SERVICE, INTAKES, PROCESSOR, System, count, wait_replay_equals_live
from tests.faults.posting import GIVE_UP_S, Client, Tally, event_count, scenario_requests

STARTS = count("FRESH_STARTS", 10)
CLIENTS = count("FRESH_CLIENTS", 4)
EVENTS = count("FRESH_EVENTS", 1000)
CONVERGE_S = 30.0
EVIDENCE = ("Error", "ERROR", "Traceback", "WARNING", "ledger rebuilt", "took over", "not started",
            "has not started", "exited")


def fresh_start(root: Path, seed: int) -> tuple[str | None, float]:
    """One fresh start: None if the states equal the replay within 30 s, else what went wrong (with
    the evidence); and the seconds the start took."""
    started = time.monotonic()
    with System(root) as system:
        urls = system.start_intakes(*(name for name in EVERY_SERVICE if name not in INTAKES))
        processor = system.services[PROCESSOR]
        streams = [scenario_requests(seed * 100 + n, limit=EVENTS) for n in range(CLIENTS)]
        tally = Tally()
        clients = [Client(urls, requests, tally) for requests in streams]
        for client in clients:
            client.start()
        for client in clients:
            client.join(GIVE_UP_S * 2)
        assert not tally.refusals, tally.refusals[:5]
        assert len(tally.acknowledged) == sum(map(event_count, streams)), "every event should be acknowledged"
        posted_at = time.monotonic()
        identical, said, groups = wait_replay_equals_live(system.bootstrap, CONVERGE_S)
        waited = time.monotonic() - posted_at
        if identical and groups >= 5 and processor.exit_code() is None:
            return None, time.monotonic() - started
        problem = (f"{len(tally.acknowledged)} events posted (seed {seed}); {waited:.0f}s after the last "
                   f"202: gvi-audit replay --compare-live said \"{said}\" ({groups} groups); the processor "
                   f"{'runs' if processor.exit_code() is None else f'exited with {processor.exit_code()}'}"
                   f", its /readyz answers {processor.status()}\n{system.evidence(*EVIDENCE)}")
        return problem, time.monotonic() - started


def test_every_fresh_start_reaches_the_replayed_states_within_30_s(tmp_path: Path) -> None:
    assert STARTS >= 1
    failures = []
    for n in range(STARTS):
        problem, took = fresh_start(tmp_path / f"start-{n + 1}", seed=5000 + n)
        print(f"fresh start {n + 1}/{STARTS}: {'ok' if problem is None else 'FAILED'} in {took:.0f}s")
        if problem is not None:
            failures.append(f"== fresh start {n + 1} of {STARTS}: {problem}")
    assert not failures, (f"{len(failures)} of {STARTS} fresh starts did not reach the replayed states "
                          f"within {CONVERGE_S:.0f}s:\n" + "\n".join(failures))
