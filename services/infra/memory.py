"""How close a service is to being killed for memory: its resident memory and the limit a container
runtime set on it (Kubernetes' `resources.limits.memory`, Compose's `mem_limit`), read from its
cgroup. The intakes' receipt ledgers, the dashboard's read model and the processor's ledger all grow
with the event log, so each service exposes both (`register_memory_metrics`) and the alert
`GviMemoryHigh` compares them."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, ProcessCollector

__all__ = ["memory_limit_bytes", "register_memory_metrics"]

_CGROUP_FILES = (Path("/sys/fs/cgroup/memory.max"),  # cgroup v2
                 Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))  # cgroup v1
_UNLIMITED_V1 = 1 << 60  # v1 says "no limit" with a number near the largest page-aligned int64


def memory_limit_bytes(files: tuple[Path, ...] = _CGROUP_FILES) -> int | None:
    """The limit in bytes, or None where there is none (or no cgroup to read)."""
    for path in files:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text == "max" or not text.isdigit() or int(text) >= _UNLIMITED_V1:
            return None
        return int(text)
    return None


def register_memory_metrics(registry: CollectorRegistry) -> None:
    """`process_resident_memory_bytes` (with the other standard `process_*` metrics) and
    `gvi_memory_limit_bytes`, the container's limit (0 where there is none)."""
    ProcessCollector(registry=registry)
    Gauge("gvi_memory_limit_bytes", "The memory limit of the service's container (its cgroup); 0 where "
          "there is none.", registry=registry).set(memory_limit_bytes() or 0)
