"""The access-log entry of a `gvi-audit export`, written to Kafka before anything is output.

An export holds personal data (person references as they are for `auditor-personal-data`,
pseudonyms for `auditor`: pseudonymised data remain personal data), so every export is logged on the
`access-log` topic with the contract's record (`services.contracts.access`, the one the dashboard
writes): who (the auditor's name in the auditors file, the one their key authenticated), their
role, what (`audit_export`, `all`), when, whether person references were shown as they are and how
many distinct ones the export holds. The entry holds no person reference, pseudonym or evidence.

`record` returns only once Kafka has acknowledged the entry on all in-sync replicas (`acks=all`);
otherwise it raises `AccessNotLogged` and the export must show nothing. As with the dashboard, an
entry whose acknowledgement timed out may still land: the log can over-record a refused export,
never miss a written one. `explain` and `replay` need no entry: their output carries event and
group ids, never a person reference.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.audit.library.auditors import Auditor
from services.audit.library.errors import AccessNotLogged
from services.contracts.access import AccessEntry, Resource
from services.infra.kafka_security import PLAINTEXT, KafkaSecurity

__all__ = ["KafkaAccessLog", "count_person_refs", "export_entry"]

VIA = "cli"
EXPORT_ALL = "all"


def count_person_refs(rows: Iterable[dict[str, Any]]) -> int:
    """How many distinct `person_ref` values the rows hold, wherever they appear in them."""
    seen: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k == "person_ref" and isinstance(v, str):
                    seen.add(v)
                else:
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for row in rows:
        walk(row)
    return len(seen)


def export_entry(auditor: Auditor, *, person_refs: int, time: datetime,
                 access_id: str | None = None) -> AccessEntry:
    """The entry for an export of the whole log by `auditor`."""
    return AccessEntry(access_id=access_id or str(uuid.uuid4()), time=time, user=auditor.name,
                       role=auditor.role.value, resource=Resource.AUDIT_EXPORT, resource_id=EXPORT_ALL,
                       person_refs_shown=auditor.role.sees_personal_data, via=VIA, person_refs=person_refs)


class KafkaAccessLog:
    """Writes access-log entries with `acks=all` on an idempotent producer (aiokafka, as everything
    here that writes events), one producer per entry: a command writes one. The CLI is synchronous,
    so `record` runs the producer on an event loop of its own until the entry is acknowledged."""

    def __init__(self, bootstrap: str, topic: str, *, timeout_s: float,
                 security: KafkaSecurity = PLAINTEXT) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._timeout_s = timeout_s
        self._security = security

    def record(self, entry: AccessEntry) -> None:
        """Durably record `entry`, or raise `AccessNotLogged`."""
        try:
            asyncio.run(self._send(entry))
        except (KafkaError, OSError, TimeoutError) as exc:
            raise AccessNotLogged(
                f"the access log ({self._topic} at {self._bootstrap}) did not acknowledge this export's "
                f"entry ({type(exc).__name__}), so nothing was exported: an export of personal data must be "
                "logged first. Check that Kafka answers, that the topic exists and that your Kafka user may "
                "write it, then run the export again") from exc

    async def _send(self, entry: AccessEntry) -> None:
        timeout_ms = max(1000, int(self._timeout_s * 1000))
        producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap.split(","),
                                    client_id="gvi-audit-access-log", acks="all", enable_idempotence=True,
                                    linger_ms=0, request_timeout_ms=timeout_ms, **self._security.aiokafka())
        try:
            await asyncio.wait_for(producer.start(), self._timeout_s)
            await asyncio.wait_for(producer.send_and_wait(self._topic, entry.to_json(), key=entry.key()),
                                   self._timeout_s)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)
