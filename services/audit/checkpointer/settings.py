"""The checkpointer's settings, from the environment; built once, at the edge.

`GVI_ENV` defaults to production: nothing is generated and no development file is accepted unless
`GVI_ENV=development` is asked for.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.audit.library import DEV_DATA_DIR, AuditSettings
from services.infra.operator_endpoints import ApiDocs, MetricsTokenFile
from services.infra.server_limits import ServerLimitSettings

__all__ = ["CheckpointerSettings"]


class CheckpointerSettings(AuditSettings, ServerLimitSettings):
    """`GVI_AUDIT_PUBLIC_KEYS_FILE` here: earlier keys whose checkpoints the checkpointer may resume
    from after a key rotation (its own key is always trusted)."""

    signing_key_file: Path | None = Field(None, validation_alias="GVI_AUDIT_SIGNING_KEY_FILE")
    data_dir: Path = Field(DEV_DATA_DIR, validation_alias="GVI_AUDIT_DATA_DIR")
    every_records: int = Field(1000, ge=1, le=20_000, validation_alias="GVI_AUDIT_EVERY_RECORDS")
    every_seconds: float = Field(10.0, gt=0, validation_alias="GVI_AUDIT_EVERY_SECONDS")
    verify_interval_seconds: float = Field(3600.0, ge=0, validation_alias="GVI_AUDIT_VERIFY_INTERVAL_SECONDS")
    grace_seconds: float = Field(900.0, ge=0, validation_alias="GVI_AUDIT_GRACE_SECONDS")
    host: str = Field("127.0.0.1", validation_alias="GVI_HOST")
    port: int = Field(8005, validation_alias="GVI_PORT")
    log_level: str = Field("INFO", validation_alias="GVI_LOG_LEVEL")
    metrics_token_file: MetricsTokenFile = None
    api_docs: ApiDocs = None
