"""`python -m devtools.bench`: run every benchmark, each against a fresh broker of its own, and print
the tables; exits 1 if any target was not met (see `common.exit_code`).

Each gets its own broker because what one leaves in the topics changes what another measures: the
dashboard would load the audit's million events, and the processor would start its latency run
behind the intake benchmark's backlog."""

from __future__ import annotations

from devtools.bench import audit, dashboard, intake, processor, sealing
from devtools.bench.common import broker_for_bench, exit_code


def main() -> int:
    with broker_for_bench() as bootstrap:
        intake.report(intake.run_intake_bench(bootstrap))
    with broker_for_bench() as bootstrap:
        sealing.report(sealing.run_sealing_bench(bootstrap))
    with broker_for_bench() as bootstrap:
        processor.report(processor.run_processor_bench(bootstrap))
    with broker_for_bench() as bootstrap:
        audit.report(audit.run_audit_bench(bootstrap))
    with broker_for_bench() as bootstrap:
        dashboard.report(dashboard.run_dashboard_bench(bootstrap))
    return exit_code()


if __name__ == "__main__":
    raise SystemExit(main())
