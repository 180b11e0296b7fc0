"""The processor SIGKILLed twice within 20 s while events keep coming (issue 18): after each kill the
restarted worker must serve within 15 s (its `/readyz` 200, and a group registered after the kill in
`group-state`), and in the end its states must equal `gvi-audit replay`, every alert the rules hold
must be raised, no alert record repeated, and no alert withdrawn by the restarted worker only to be
raised again when it reads the events it had handled before the kill.

The restart is immediate, on the same port and data directory, as a supervisor (systemd, Kubernetes)
would restart it. One agency system posts the demo scenario throughout, a request every 50 ms, so that
each kill interrupts batches in flight; the rest is posted at full speed once the second restart is
serving.

GVI_FAULT_SECOND_KILL_S (10) sets when the second kill comes, counted from the first.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.faults.harness import (
    PROCESSOR,
    ServiceProcess,
    System,
    alert_count,
    consumer_group,
    count,
    duplicate_alert_records,
    has_group,
    raised_alerts,
    wait_replay_equals_live,
    wait_until,
)
from tests.faults.posting import Client, Tally, post_all, probe_group, scenario_requests
from tests.processor_support import alerts_held_now, flapping_alerts

SECOND_KILL_S = count("SECOND_KILL_S", 10)
SERVING_S = 15.0
CONVERGE_S = 90.0
EVIDENCE = ("Error", "ERROR", "WARNING", "Traceback", "ledger rebuilt", "took over", "publishing",
            "source partitions", "==== start")


def serving_after_kill(system: System, processor: ServiceProcess, notifications: str
                       ) -> tuple[float | None, str]:
    """Kill the processor, restart it at once, and measure when it serves again: (seconds from the kill
    until `/readyz` is 200 and a group registered after the kill is in `group-state`, or None if that
    took over SERVING_S; what was seen)."""
    killed_at = time.monotonic()
    processor.kill()
    processor.start()
    group_id = probe_group(notifications)
    ready = wait_until(lambda: processor.status() == 200 or processor.exit_code() is not None, SERVING_S)
    reflected = ready and wait_until(lambda: has_group(system.bootstrap, group_id),
                                     max(0.0, killed_at + SERVING_S - time.monotonic()), interval=0.5)
    took = time.monotonic() - killed_at
    seen = (f"after {took:.1f}s: /readyz {processor.status()}, exit code {processor.exit_code()}, "
            f"probe group {group_id} {'in' if reflected else 'not in'} group-state; "
            f"{consumer_group(system.bootstrap)}")
    ok = bool(ready) and processor.exit_code() is None and bool(reflected) and took <= SERVING_S
    return (took if ok else None), seen


def test_a_processor_killed_twice_serves_within_15_s_and_ends_equal_to_the_replay(tmp_path: Path) -> None:
    with System(tmp_path) as system:
        urls = system.start_intakes()
        requests = scenario_requests(9001)
        third = len(requests) // 3
        post_all(urls, requests[:third])
        processor = system.start(PROCESSOR)
        identical, said, _ = wait_replay_equals_live(system.bootstrap, CONVERGE_S)
        assert identical, f"before any kill: {said}\n{system.evidence(*EVIDENCE)}"
        alerts_before = alert_count(system.bootstrap)

        tally = Tally()
        trickle = Client(urls, requests[third:2 * third], tally, pause_s=0.05)
        trickle.start()
        first_kill = time.monotonic()
        first, first_seen = serving_after_kill(system, processor, urls["notifications"])
        time.sleep(max(0.0, first_kill + SECOND_KILL_S - time.monotonic()))
        between = time.monotonic() - first_kill
        second, second_seen = serving_after_kill(system, processor, urls["notifications"])
        trickle.halt.set()
        trickle.join(240)
        rest = [*requests[third + trickle.posted:]]
        post_all(urls, rest, tally)
        identical, said, groups = wait_replay_equals_live(system.bootstrap, CONVERGE_S)
        repeats = duplicate_alert_records(system.bootstrap)
        flapping = flapping_alerts(system.bootstrap)
        unraised = alerts_held_now(system.bootstrap) - raised_alerts(system.bootstrap)
        alerts_after = alert_count(system.bootstrap)
        evidence = system.evidence(*EVIDENCE)

    report = (f"kills {between:.1f}s apart; first kill: {first_seen}; second kill: {second_seen}; "
              f"{len(tally.acknowledged)} events posted during and after the kills ({trickle.posted} "
              f"requests while killing); alert records {alerts_before} before the kills, {alerts_after} "
              "at the end")
    print(report)
    assert alerts_before > 0 and groups >= 5, f"the scenario should raise alerts and make groups: {report}"
    assert trickle.posted > 0 and not tally.refusals, f"{tally.refusals[:3]}\n{report}"
    problems = []
    if first is None:
        problems.append(f"not serving within {SERVING_S:.0f}s of the first kill ({first_seen})")
    if second is None:
        problems.append(f"not serving within {SERVING_S:.0f}s of the second kill ({second_seen})")
    if not identical:
        problems.append(f"{CONVERGE_S:.0f}s after the last event, gvi-audit replay --compare-live said: "
                        f"{said}")
    if unraised:
        problems.append(f"{len(unraised)} alerts that the rules hold over the log are not raised")
    if repeats:
        problems.append(f"{len(repeats)} alert records repeat the record before them for the same alert, "
                        f"e.g. {repeats[:2]}")
    if flapping:
        problems.append(f"{len(flapping)} alerts were withdrawn by a take-over correction and raised "
                        f"again as they were, e.g. {flapping[:3]}")
    assert not problems, "\n".join([*problems, report, evidence])
