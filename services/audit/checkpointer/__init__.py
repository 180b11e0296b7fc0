"""The audit checkpointer, a service (`python -m services.audit.checkpointer`, port 8005): it keeps a
hash chain over every committed record of the source topics and the access log and publishes signed
checkpoints of them (`service`; the chains and checkpoints themselves are `services.audit.library`'s).

* `service`: the chaining and verification threads, the HTTP app (`create_app`) and `main`;
* `chains`: one session of the chain thread: the chained topics followed with `services.infra.feed`,
  the checkpoints owed published with aiokafka;
* `keeper`: which partition owes a checkpoint, without Kafka;
* `metrics`, `settings`: its Prometheus metrics and its settings from the environment.
"""

from __future__ import annotations

from services.audit.checkpointer.service import Checkpointer, create_app, load_key, main
from services.audit.checkpointer.settings import CheckpointerSettings

__all__ = ["Checkpointer", "CheckpointerSettings", "create_app", "load_key", "main"]
