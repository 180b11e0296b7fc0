"""Settings of the stream processor, from the environment; built once, in the composition root."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.infra.kafka_security import KafkaClientSettings
from services.infra.operator_endpoints import MetricsTokenFile
from services.infra.server_limits import ServerLimitSettings

__all__ = ["ProcessorSettings"]


class ProcessorSettings(KafkaClientSettings, ServerLimitSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    env: Literal["development", "production"] = Field("production", validation_alias="GVI_ENV")
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    data_dir: Path = Field(Path("var/processor"), validation_alias="GVI_PROCESSOR_DATA_DIR")
    host: str = Field("127.0.0.1", validation_alias="GVI_HOST")
    port: int = Field(8004, ge=0, le=65535, validation_alias="GVI_PORT")
    app_id: str = Field("gvi-processor", pattern=r"^[A-Za-z0-9._-]+$", validation_alias="GVI_PROCESSOR_ID",
                        description="This worker's own name: its consumer group, fact-store topics and "
                                    "data. Every worker of a processor needs its own.")
    cluster: str = Field("gvi-processor", pattern=r"^[A-Za-z0-9._-]+$",
                         validation_alias="GVI_PROCESSOR_CLUSTER",
                         description="The name the workers of one processor share: they divide the "
                                     "publishing of group-state partitions in the consumer group "
                                     "<cluster>-publishers.")
    window_days: int = Field(365, ge=1, le=3650, validation_alias="GVI_WINDOW_DAYS")
    stall_days: int = Field(14, ge=1, le=365, validation_alias="GVI_STALL_DAYS")
    risk_days: int = Field(
        90, ge=1, le=3650, validation_alias="GVI_RETALIATION_RISK_DAYS",
        description="A retaliation-risk alert is withdrawn this many days after its incident, or "
                    "after the group's latest violence if later (docs/rules.md, Alerts).")
    stall_check_seconds: float = Field(60.0, gt=0, le=3600, validation_alias="GVI_STALL_CHECK_SECONDS")
    max_pending_seconds: float = Field(
        30.0, gt=0, le=3600, validation_alias="GVI_PROCESSOR_MAX_PENDING_SECONDS",
        description="Not ready when an output has waited longer for the broker's acknowledgement, or "
                    "a handled record for its offset to be committed.")
    broker_timeout_seconds: float = Field(
        15.0, ge=3, le=600, validation_alias="GVI_PROCESSOR_BROKER_TIMEOUT_SECONDS",
        description="Not ready when the broker has not answered for longer (asked every second).")
    liveness_seconds: float = Field(
        120.0, gt=0, le=3600, validation_alias="GVI_PROCESSOR_LIVENESS_SECONDS",
        description="Not alive (restart me) when an output has waited longer for an acknowledgement "
                    "while the broker answers.")
    session_timeout_seconds: float = Field(
        10.0, ge=6, le=300, validation_alias="GVI_PROCESSOR_SESSION_TIMEOUT_SECONDS",
        description="Kafka session timeout of the worker's consumers: how long a dead worker's "
                    "partitions wait before another member may take them.")
    replication_factor: int = Field(1, ge=1, le=7, validation_alias="GVI_TOPIC_REPLICATION_FACTOR")
    log_level: str = Field("INFO", validation_alias="GVI_LOG_LEVEL")
    metrics_token_file: MetricsTokenFile = None
