"""The audit library: the hash chains and signed checkpoints, reading, verifying, replaying,
explaining and exporting the event log. The checkpointer (`services.audit.checkpointer`), `gvi-audit`
(`services.audit.cli`) and the dashboard's auditor pages import what `__all__` names, from here.

* `chain`, `checkpoints`, `signing`: the hash chain over each source partition's committed records,
  the signed checkpoints, the audit keys (all documented byte for byte in their docstrings;
  `python -m services.audit.library.signing new FILE` makes a signing key);
* `kafka_log`, `readers`, `decoding`: reading the log (assign + seek, no consumer group), in one
  process or in several reader processes, and decoding its events into facts;
* `verify`: the chains recomputed and every checkpoint checked;
* `replay`: every group's state from the log by the rules, as of a time and as known at a time;
* `explain`, `export`: the rules and inputs behind a group's cases; events and states for evaluators;
* `auditors`, `access`: who may audit, and the access-log entry an export writes first;
* `api`: `AuditView`, what the dashboard's auditor pages read;
* `settings`: what the checkpointer's and `gvi-audit`'s settings share; `errors`: one hierarchy.

The rules themselves are not here: replay calls `services.followthrough` exactly as the
processor does.
"""

from __future__ import annotations

from services.audit.library.access import KafkaAccessLog, count_person_refs, export_entry
from services.audit.library.api import AuditSnapshot, AuditView, PartitionCheckpoints
from services.audit.library.auditors import Auditor, Role, load_auditors
from services.audit.library.chain import ChainState, LogRecord, RecordLike
from services.audit.library.checkpoints import Checkpoint, VerificationRecord, checkpoint_key, make_checkpoint
from services.audit.library.errors import (
    AccessDenied,
    AccessNotLogged,
    AuditError,
    BrokerUnreachable,
    ConfigError,
    NotFound,
)
from services.audit.library.explain import explain_group, render_text
from services.audit.library.export import (
    Pseudonymiser,
    SealedValues,
    event_rows,
    load_pseudonym_key,
    state_rows,
    write_csv,
    write_jsonl,
)
from services.audit.library.kafka_log import LogReader, quiet_client_logs
from services.audit.library.readers import default_readers, read_batches
from services.audit.library.replay import (
    Cut,
    ReplayStats,
    bulk,
    first_difference,
    live_document,
    read_facts,
    replay_facts,
    state_lines,
)
from services.audit.library.settings import DEV_DATA_DIR, AuditSettings, chained_topics, default_source_topics
from services.audit.library.signing import (
    PublicKeys,
    SigningKey,
    generate_key_file,
    load_public_keys,
    load_signing_key,
)
from services.audit.library.verify import Problem, VerificationReport, load_checkpoints, verify_log

__all__ = [
    "DEV_DATA_DIR",
    "AccessDenied",
    "AccessNotLogged",
    "AuditError",
    "AuditSettings",
    "AuditSnapshot",
    "AuditView",
    "Auditor",
    "BrokerUnreachable",
    "ChainState",
    "Checkpoint",
    "ConfigError",
    "Cut",
    "KafkaAccessLog",
    "LogReader",
    "LogRecord",
    "NotFound",
    "PartitionCheckpoints",
    "Problem",
    "Pseudonymiser",
    "PublicKeys",
    "RecordLike",
    "ReplayStats",
    "Role",
    "SealedValues",
    "SigningKey",
    "VerificationRecord",
    "VerificationReport",
    "bulk",
    "chained_topics",
    "checkpoint_key",
    "count_person_refs",
    "default_readers",
    "default_source_topics",
    "event_rows",
    "explain_group",
    "export_entry",
    "first_difference",
    "generate_key_file",
    "live_document",
    "load_auditors",
    "load_checkpoints",
    "load_pseudonym_key",
    "load_public_keys",
    "load_signing_key",
    "make_checkpoint",
    "quiet_client_logs",
    "read_batches",
    "read_facts",
    "render_text",
    "replay_facts",
    "state_lines",
    "state_rows",
    "verify_log",
    "write_csv",
    "write_jsonl",
]
