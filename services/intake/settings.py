"""Settings of an intake service, from the environment; built once, in the composition root."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.infra.kafka_security import KafkaClientSettings
from services.infra.operator_endpoints import ApiDocs, MetricsTokenFile
from services.infra.server_limits import ServerLimitSettings
from services.privacy.settings import PersonalDataSettings

__all__ = ["IntakeSettings"]


class IntakeSettings(KafkaClientSettings, ServerLimitSettings, PersonalDataSettings):
    """`GVI_ENV` defaults to production: development mode (public dev keys) must be asked for."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    env: Literal["development", "production"] = Field("production", validation_alias="GVI_ENV")
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    agencies_file: Path = Field(validation_alias="GVI_AGENCIES_FILE")
    host: str = Field("127.0.0.1", validation_alias="GVI_HOST")
    port: int | None = Field(None, validation_alias="GVI_PORT")
    publish_timeout_seconds: float = Field(5.0, gt=0, le=60,
                                           validation_alias="GVI_PUBLISH_TIMEOUT_SECONDS")
    publish_lanes: int = Field(4, ge=1, le=32, validation_alias="GVI_PUBLISH_LANES")
    publish_concurrent_transactions: int = Field(
        1, ge=1, le=32, validation_alias="GVI_PUBLISH_CONCURRENT_TRANSACTIONS")
    max_batch_events: int = Field(1000, ge=1, le=10_000, validation_alias="GVI_MAX_BATCH_EVENTS")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, validation_alias="GVI_MAX_BODY_BYTES")
    log_level: str = Field("INFO", validation_alias="GVI_LOG_LEVEL")
    metrics_token_file: MetricsTokenFile = None
    api_docs: ApiDocs = None
