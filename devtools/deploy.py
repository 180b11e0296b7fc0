"""Generated deployment files: `python -m devtools.deploy prometheusrule` prints the Prometheus
Operator's PrometheusRule made from deploy/prometheus/alerts.yml (the single source of the alert
rules), for deploy/kubernetes/monitoring/prometheusrule.yaml."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ALERTS", "main", "prometheus_rule"]

ALERTS = Path(__file__).resolve().parent.parent / "deploy" / "prometheus" / "alerts.yml"

_HEADER = """\
# The alert rules of deploy/prometheus/alerts.yml for the Prometheus Operator. Generated from that
# file; tests/unit/test_deploy.py fails when the two differ. Regenerate with:
#   python -m devtools.deploy prometheusrule > deploy/kubernetes/monitoring/prometheusrule.yaml
"""


def prometheus_rule(alerts: Path = ALERTS) -> dict[str, Any]:
    groups = yaml.safe_load(alerts.read_text())["groups"]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "gvi", "labels": {"app.kubernetes.io/part-of": "gvi-follow-through"}},
        "spec": {"groups": groups},
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["prometheusrule"]:
        print("usage: python -m devtools.deploy prometheusrule", file=sys.stderr)
        return 2
    sys.stdout.write(_HEADER + yaml.safe_dump(prometheus_rule(), sort_keys=False, width=100))
    return 0


if __name__ == "__main__":
    sys.exit(main())
