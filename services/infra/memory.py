"""The memory limit a container runtime set on this process, read from its cgroup, so that a
service can say how close it is to being killed for memory (Kubernetes' `resources.limits.memory`,
Compose's `mem_limit`)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["memory_limit_bytes"]

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
