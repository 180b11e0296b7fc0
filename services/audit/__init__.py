"""Auditing the event log (issue 5): tamper evidence, replay, reconstruction and explanation.

* `library`: the hash chains and signed checkpoints, the audit keys, reading, verifying, replaying,
  explaining and exporting the log, and `AuditView`; its `__all__` is what the other two and the
  dashboard import;
* `checkpointer`: the service that keeps the chains (`python -m services.audit.checkpointer`);
* `cli`: `gvi-audit` (verify, replay, explain, export), reading Kafka read-only.

The imports point one way: `checkpointer` and `cli` import `library`, which imports neither.
"""
