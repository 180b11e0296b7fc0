"""Auditing the event log (issue 5): tamper evidence, replay, reconstruction and explanation.

* `chain`, `checkpoints`, `signing`: the hash chain over each source partition's committed records,
  the signed checkpoints, the audit keys (all documented byte for byte in their docstrings);
* `checkpointer`: the service that keeps the chains (`python -m services.audit.checkpointer`);
* `verify`, `replay`, `explain`, `export`: what `gvi-audit` (`cli`) does, reading Kafka read-only;
* `command` (the console entry point) imports `cli`, which imports the commands and `sharding`;
  `shard_server` (the shards' fork server) is below all three: the imports point one way;
* `api`: what the dashboard's auditor pages call (`AuditView`).

The rules themselves are not here: replay calls `services.sanctions.domain` exactly as the
processor does.
"""
