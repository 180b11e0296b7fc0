"""`gvi-audit export`: the events and the derived state for evaluators, as JSON lines or CSV.

Unless the auditor's role allows personal data, every `person_ref` (wherever it appears in an event's
data) is replaced by a keyed pseudonym, `psn:` and the first 32 hex digits of HMAC-SHA256(pseudonym
key, person_ref): the same person gets the same pseudonym in every export made with the same key,
so evaluators can count and follow people without learning who they are, and without the key nobody
can test a guessed reference against it. The free-text `evidence` of membership assessments may name
people too, and is withheld.

In Kafka the person fields are sealed (`services.privacy`): `person_ref` is the person's pseudonym
and `evidence` is `[sealed]`. An export for a role that allows personal data opens them with the
partnership's key ring (`SealedValues`), so it shows them as they were posted, except for persons
whose keys were shredded, who keep their pseudonym; any other role's export pseudonymises the
pseudonyms again with its own key and withholds the evidence, as above.

Rows (one per event in log order, then one per group state): `kind` (`event` or `group_state`),
`topic`, `partition`, `offset`, `id`, `source`, `type`, `time`, `recordedtime`, `agency`, `data`
(a JSON object; in CSV, JSON text). In CSV every cell is quoted, and text a spreadsheet would run as a
formula (an id such as `=HYPERLINK(...)`) gets a leading single quote (`services.infra.spreadsheet`).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from services.audit.library.errors import ConfigError
from services.contracts import canonical_json
from services.contracts.group_state import GroupState
from services.followthrough import Fact
from services.infra.spreadsheet import spreadsheet_safe
from services.privacy.sealing import unsealed

__all__ = ["COLUMNS", "Pseudonymiser", "SealedValues", "event_rows", "load_pseudonym_key", "state_rows",
           "write_csv", "write_jsonl"]

COLUMNS = ("kind", "topic", "partition", "offset", "id", "source", "type", "time", "recordedtime", "agency",
           "data")
WITHHELD = "[withheld: may contain personal data]"


class Pseudonymiser:
    def __init__(self, key: bytes | None) -> None:
        """`key` None: personal data is shown as it is (a role that allows it)."""
        self._key = key

    def pseudonym(self, person_ref: str) -> str:
        assert self._key is not None
        return "psn:" + hmac.new(self._key, person_ref.encode(), hashlib.sha256).hexdigest()[:32]

    def clean(self, value: Any) -> Any:
        if self._key is None:
            return value
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if k == "person_ref" and isinstance(v, str):
                    out[k] = self.pseudonym(v)
                elif k == "evidence" and isinstance(v, str):
                    out[k] = WITHHELD
                else:
                    out[k] = self.clean(v)
            return out
        if isinstance(value, list):
            return [self.clean(v) for v in value]
        return value


class SealedValues:
    """The sealed attributes of the log's events, by (source, id), and the key ring's `data_key`
    that opens them: what puts a sealed event's person fields back for a role that may see them."""

    def __init__(self, records: Iterable[bytes], data_key: Callable[[str], bytes | None]) -> None:
        self._data_key = data_key
        self._sealed: dict[tuple[str, str], str] = {}
        for value in records:
            try:
                event = json.loads(value)
                if isinstance(event.get("sealed"), str):
                    self._sealed[(event["source"], event["id"])] = event["sealed"]
            except (ValueError, TypeError, KeyError, AttributeError):
                continue  # not an event: the readers skip it too

    def open(self, fact: Fact, data: dict[str, Any]) -> dict[str, Any]:
        sealed = self._sealed.get((fact.source, fact.id))
        if sealed is None:
            return data
        event = {"type": fact.type, "source": fact.source, "id": fact.id, "data": data, "sealed": sealed}
        opened: dict[str, Any] = unsealed(event, self._data_key)["data"]
        return opened


def load_pseudonym_key(path: Path | None, *, development: bool, data_dir: Path) -> bytes:
    """The pseudonym key: the configured file; in development only, one generated under `data_dir`."""
    if path is None:
        if not development:
            raise ConfigError("GVI_AUDIT_PSEUDONYM_KEY_FILE is not set: an export without personal data "
                              "needs the pseudonym key (at least 32 random bytes in a file)")
        path = data_dir / "pseudonym.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(32))
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the pseudonym key {path}: {exc}") from exc
    if len(key) < 32:
        raise ConfigError(f"the pseudonym key {path} is shorter than 32 bytes")
    return key


def _time(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def event_rows(facts: Iterable[Fact], pseudonymiser: Pseudonymiser,
               sealed: SealedValues | None = None) -> Iterator[dict[str, Any]]:
    """One row per fact; with `sealed` (a role that allows personal data) its person fields opened."""
    for f in facts:
        data = f.data.model_dump(mode="json")
        yield {"kind": "event", "topic": f.topic, "partition": f.partition, "offset": f.offset,
               "id": f.id, "source": f.source, "type": f.type, "time": _time(f.time),
               "recordedtime": _time(f.recordedtime), "agency": f.agency,
               "data": pseudonymiser.clean(data if sealed is None else sealed.open(f, data))}


def state_rows(groups: dict[str, GroupState]) -> Iterator[dict[str, Any]]:
    for group_id in sorted(groups):
        yield {"kind": "group_state", "topic": None, "partition": None, "offset": None, "id": group_id,
               "source": None, "type": None, "time": None, "recordedtime": None, "agency": None,
               "data": groups[group_id].model_dump(mode="json")}


def write_jsonl(rows: Iterable[dict[str, Any]], out: IO[bytes]) -> int:
    n = 0
    for row in rows:
        out.write(canonical_json(row) + b"\n")
        n += 1
    return n


def write_csv(rows: Iterable[dict[str, Any]], out: IO[bytes]) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.DictWriter(text, fieldnames=COLUMNS, quoting=csv.QUOTE_ALL)
    writer.writeheader()
    n = 0
    for row in rows:
        cells = {**row, "data": json.dumps(row["data"], sort_keys=True, ensure_ascii=False)}
        writer.writerow({name: spreadsheet_safe(value) for name, value in cells.items()})
        n += 1
    text.flush()
    text.detach()
    return n
