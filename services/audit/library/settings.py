"""What the checkpointer's and `gvi-audit`'s settings share (each subclasses `AuditSettings`:
`services.audit.checkpointer.settings`, `services.audit.cli.settings`), and the chained topics.

`GVI_ENV` defaults to production: nothing is generated and no development file is accepted unless
`GVI_ENV=development` is asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.contracts import ACCESS_LOG_TOPIC, AUDIT_CHECKPOINTS_TOPIC, DATA_PROTECTION_TOPIC, SOURCE_TOPICS
from services.infra.kafka_security import KafkaClientSettings

__all__ = ["DEV_DATA_DIR", "AuditSettings", "chained_topics", "default_source_topics"]

DEV_DATA_DIR = Path("var/audit")
"""Where development mode keeps the generated signing key (and its .pub) and pseudonym key."""


def default_source_topics() -> str:
    return ",".join(spec.name for spec in SOURCE_TOPICS)


def chained_topics(source_topics: list[str], access_log_topic: str,
                   data_protection_topic: str | None = None) -> list[str]:
    """The topics the checkpointer chains and `verify` checks: every source topic, then the access
    log, so that a deleted or altered record of who read or exported personal data is found too,
    then the data-protection topic (erasures and requests), when given."""
    extra = [access_log_topic, *([data_protection_topic] if data_protection_topic else [])]
    return [*source_topics, *(t for t in dict.fromkeys(extra) if t not in source_topics)]


class AuditSettings(KafkaClientSettings):
    """What the checkpointer's and `gvi-audit`'s settings share: the broker, the topics, the keys."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    env: Literal["development", "production"] = Field("production", validation_alias="GVI_ENV")
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    source_topics: str = Field(default_factory=default_source_topics,
                               validation_alias="GVI_AUDIT_SOURCE_TOPICS")
    checkpoint_topic: str = Field(AUDIT_CHECKPOINTS_TOPIC, validation_alias="GVI_AUDIT_CHECKPOINT_TOPIC")
    access_log_topic: str = Field(ACCESS_LOG_TOPIC, min_length=1,
                                  validation_alias="GVI_AUDIT_ACCESS_LOG_TOPIC")
    public_keys_file: Path | None = Field(None, validation_alias="GVI_AUDIT_PUBLIC_KEYS_FILE")
    data_protection_topic: str = Field(DATA_PROTECTION_TOPIC, min_length=1,
                                       validation_alias="GVI_AUDIT_DATA_PROTECTION_TOPIC")

    @property
    def topics(self) -> list[str]:
        """The source topics: what replay, explain and export read."""
        return [t.strip() for t in self.source_topics.split(",") if t.strip()]

    @property
    def chained_topics(self) -> list[str]:
        """What the hash chains and checkpoints cover: the source topics, the access log and the
        data-protection topic."""
        return chained_topics(self.topics, self.access_log_topic, self.data_protection_topic)

    @property
    def development(self) -> bool:
        return self.env == "development"
