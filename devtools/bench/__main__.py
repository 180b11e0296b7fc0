"""`python -m devtools.bench`: run every benchmark against one broker and print the tables."""

from __future__ import annotations

from devtools.bench import audit, dashboard, intake, processor
from devtools.bench.common import broker_for_bench, exit_code


def main() -> int:
    with broker_for_bench() as bootstrap:
        intake.report(intake.run_intake_bench(bootstrap))
        processor.report(processor.run_processor_bench(bootstrap))
        audit.report(audit.run_audit_bench(bootstrap))
        dashboard.report(dashboard.run_dashboard_bench(bootstrap))
    return exit_code()


if __name__ == "__main__":
    raise SystemExit(main())
