"""The container memory limit a service reports beside its resident memory (`memory_limit_bytes`)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from services.dashboard.metrics import DashboardMetrics
from services.infra.memory import memory_limit_bytes
from services.intake.metrics import IntakeMetrics
from services.sanctions.processor.metrics import ProcessorMetrics


def test_the_limit_is_read_from_cgroup_v2_or_v1_and_none_when_unlimited(tmp_path: Path) -> None:
    v2, v1 = tmp_path / "memory.max", tmp_path / "memory.limit_in_bytes"
    assert memory_limit_bytes((v2, v1)) is None, "no cgroup files: no limit"
    v2.write_text("1073741824\n")
    assert memory_limit_bytes((v2, v1)) == 1 << 30
    v2.write_text("max\n")
    assert memory_limit_bytes((v2, v1)) is None
    v2.unlink()
    v1.write_text("4294967296\n")
    assert memory_limit_bytes((v2, v1)) == 4 << 30
    v1.write_text("9223372036854771712\n")  # what cgroup v1 says when nothing is set
    assert memory_limit_bytes((v2, v1)) is None


def test_the_services_whose_memory_grows_with_the_log_expose_it_beside_their_limit() -> None:
    registries = [CollectorRegistry() for _ in range(3)]
    ProcessorMetrics(registries[0])
    DashboardMetrics(registries[1])
    IntakeMetrics(registries[2], "incidents")
    for registry in registries:
        resident = registry.get_sample_value("process_resident_memory_bytes")
        assert resident is not None and resident > 10 * 2**20, "a Python service holds more than 10 MiB"
        assert registry.get_sample_value("gvi_memory_limit_bytes") == (memory_limit_bytes() or 0)
