"""The broker SIGKILLed under 16 posting agency systems, then restarted (issue 18): no acknowledged event
may be lost, none may be in the log twice, and the intakes must accept again within 10 s of the
broker being ready.

Each client posts the demo scenario of its own seed (its events a day at a time, batches and single
events), retrying a 503 every 0.5 s with the same events, as the README tells agency systems to. The
broker is killed once the clients have been posting for a while, stays down a few seconds, and is
started again on the same ports and data; the clients post on for a while, then stop.

GVI_FAULT_CLIENTS (16), GVI_FAULT_BROKER_DOWN_S (5) and GVI_FAULT_POST_S (8, before the kill and
again after the restart) set the load.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults.harness import System, count, source_records, summary, wait_until
from tests.faults.posting import GIVE_UP_S, Client, Tally, scenario_requests

CLIENTS = count("CLIENTS", 16)
DOWN_S = count("BROKER_DOWN_S", 5)
POST_S = count("POST_S", 8)
FIRST_202_S = 10.0
EVIDENCE = ("ERROR", "Error", "WARNING", "Traceback")


@pytest.mark.xfail(strict=False, reason=(
    "issue 18, open: about one run in two, a transaction the intake answered 503 for is committed by "
    "the broker after its restart, beside the client's retry, so the event is in its topic twice "
    "(consumers deduplicate by (source, id); the intake needs to resolve an in-doubt commit first)"))
def test_a_broker_killed_under_load_loses_and_duplicates_no_acknowledged_event(tmp_path: Path) -> None:
    with System(tmp_path) as system:
        urls = system.start_intakes()
        tally = Tally()
        clients = [Client(urls, scenario_requests(7000 + n, window="day"), tally) for n in range(CLIENTS)]
        for client in clients:
            client.start()
        try:
            time.sleep(POST_S)
            before_kill = len(tally.acknowledged)
            killed_at = time.monotonic()
            system.broker.kill()
            time.sleep(DOWN_S)
            restarting_at = time.monotonic()
            system.broker.start()
            ready_at = time.monotonic()
            first_202 = wait_until(lambda: tally.first_accepted_after(ready_at), FIRST_202_S + 20)
            time.sleep(POST_S)
        finally:
            for client in clients:
                client.halt.set()
            for client in clients:
                client.join(GIVE_UP_S + 60)
        found = source_records(system.bootstrap)
        evidence = system.evidence(*EVIDENCE)

    acknowledged = tally.acknowledged
    after_restart = len(acknowledged) - before_kill
    report = (f"{CLIENTS} clients, {len(acknowledged)} events acknowledged ({before_kill} before the "
              f"kill, {after_restart} after), answers {tally.statuses()}; broker down "
              f"{restarting_at - killed_at:.1f}s, ready {ready_at - restarting_at:.1f}s after its restart "
              f"began; the log holds {summary(found)}")
    print(report)
    # not vacuous: real load on both sides of the outage, and every answer one a client can act on
    assert before_kill >= 500 and after_restart >= 100, f"too little load to mean anything: {report}"
    assert not tally.refusals, f"answers other than 200/202/503: {tally.refusals[:5]}\n{report}"

    problems = []
    lies = tally.accepted_between(killed_at + 1, restarting_at)
    if lies:
        problems.append(f"{len(lies)} requests were answered 202 while the only broker was down")
    if first_202 is None or first_202 - ready_at > FIRST_202_S:
        after = "never" if first_202 is None else f"{first_202 - ready_at:.1f}s"
        problems.append(f"the first 202 came {after} after the broker was ready (at most {FIRST_202_S:.0f}s)")
    missing = {key: receipt for key, receipt in acknowledged.items()
               if (receipt["topic"], receipt["partition"], receipt["offset"]) not in found.get(key, [])}
    if missing:
        problems.append(f"{len(missing)} acknowledged events are not in the log where their receipt says, "
                        f"e.g. {list(missing.items())[:3]}")
    duplicated = {key: places for key, places in found.items() if len(places) > 1}
    if duplicated:
        problems.append(f"{len(duplicated)} events are in the log more than once, as (topic, partition, "
                        f"offset): {sorted(duplicated.items())[:5]}")
    unacknowledged = set(found) - set(acknowledged)
    if unacknowledged:
        problems.append(f"{len(unacknowledged)} events are in the log that no client was told were accepted, "
                        f"e.g. {sorted(unacknowledged)[:3]}")
    assert not problems, "\n".join([*problems, report, evidence])
