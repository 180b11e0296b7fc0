"""The data-protection checks of `gvi-audit verify`: pure functions over the records read, and one
entry point the audit calls (`protection_findings`) with its own reader.

- `erased_but_live`: every pseudonym a `PersonsErased` record lists has no live claim in the key
  topic (the erasure was carried out). A record younger than `PENDING` is left alone: the erasure
  writes it first and shreds just after.
- `overdue`: every person whose retention deadline (`services.privacy.retention`) passed more than
  the grace period ago (the job runs daily) has been shredded.

The other records (requests, and the rewraps' `KeysRewrapped`) are read and left alone. Neither
check needs the master key: whether a pseudonym has a live claim is read from the claims
themselves, which a key ring holds whatever key it was built with (it only unwraps with it).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from services.contracts.protection import DataProtectionRecord, PersonsErased
from services.contracts.topics import PERSON_KEYS_TOPIC
from services.privacy.claims import MasterKey
from services.privacy.kafka_io import events_of, protection_records_of
from services.privacy.keys import KeyRing
from services.privacy.retention import RetentionPolicy, deadlines, due
from services.privacy.settings import RetentionSettings

__all__ = ["PENDING", "Finding", "audit_findings", "claims_ring", "erased_but_live", "overdue",
           "protection_findings"]

PENDING = timedelta(minutes=10)
"""How long an erasure record may precede the shredding it announces."""

_SHOWN = 5


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    topic: str
    detail: str


def claims_ring(records: Iterable[Any]) -> KeyRing:
    """The claims of the key topic's `records` (objects with `key` and `value`), in order. Built
    with a throwaway master key: it answers which claims are live, never whose they are."""
    ring = KeyRing(MasterKey(secrets.token_bytes(32)))
    for record in records:
        if record.key is not None:
            ring.apply(record.key.decode(errors="replace"), record.value)
    return ring


def _listed(pseudonyms: Sequence[str]) -> str:
    more = len(pseudonyms) - _SHOWN
    return ", ".join(pseudonyms[:_SHOWN]) + (f" and {more} more" if more > 0 else "")


def erased_but_live(records: Iterable[DataProtectionRecord], ring: KeyRing, now: datetime, *,
                    topic: str) -> list[Finding]:
    found = []
    for record in records:
        if not isinstance(record, PersonsErased) or now - record.time < PENDING:
            continue
        live = [p for p in record.pseudonyms if ring.claims_of([p])]
        if live:
            found.append(Finding(
                "not_erased", topic,
                f"record {record.record_id} ({record.basis.value}, case {record.case_number or '-'}) "
                f"erased {len(record.pseudonyms)} claim(s), but {len(live)} still have a live key: "
                f"{_listed(live)}; run the erasure again (gvi-privacy erase or retention)"))
    return found


def overdue(by_pseudonym: Mapping[str, datetime], ring: KeyRing, now: datetime,
            grace: timedelta) -> list[Finding]:
    late = [p for p in due(by_pseudonym, now - grace) if ring.claims_of([p])]
    if not late:
        return []
    oldest = by_pseudonym[late[0]].isoformat()
    return [Finding("retention_overdue", PERSON_KEYS_TOPIC,
                    f"{len(late)} person(s) still have a live key although their retention deadline "
                    f"passed more than {grace.total_seconds() / 86400:g} day(s) ago (the oldest on "
                    f"{oldest}): {_listed(late)}; is the retention job (gvi-privacy retention) running?")]


def protection_findings(read: Callable[[list[str]], Iterable[Iterable[Any]]], source_topics: Sequence[str], *,
                        data_protection_topic: str, now: datetime, policy: RetentionPolicy,
                        grace: timedelta) -> list[Finding]:
    """Both checks, reading with `read(topics)` (batches of records with `key` and `value`; a
    topic that does not exist reads as empty)."""
    ring = claims_ring(r for batch in read([PERSON_KEYS_TOPIC]) for r in batch)
    records = protection_records_of([r for batch in read([data_protection_topic]) for r in batch])
    events = events_of([r for batch in read(list(source_topics)) for r in batch], naming_persons=True)
    return [*erased_but_live(records, ring, now, topic=data_protection_topic),
            *overdue(deadlines(events, policy), ring, now, grace)]


def audit_findings(read: Callable[[list[str]], Iterable[Iterable[Any]]], source_topics: Sequence[str], *,
                   data_protection_topic: str, now: datetime | None = None) -> list[Finding]:
    """`protection_findings` with the retention settings of the environment (the retention job's:
    `GVI_RETENTION_*`), as `gvi-audit verify` runs it."""
    try:
        settings = RetentionSettings()
    except ValidationError as exc:
        return [Finding("config", data_protection_topic,
                        f"the retention settings (GVI_RETENTION_*) are invalid: {exc.errors()[0]['msg']}")]
    return protection_findings(read, source_topics, data_protection_topic=data_protection_topic,
                               now=now or datetime.now(UTC), policy=settings.retention_policy(),
                               grace=timedelta(days=settings.retention_grace_days))
