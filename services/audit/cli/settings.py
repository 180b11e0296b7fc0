"""`gvi-audit`'s settings, from the environment; built once, at the edge.

`GVI_ENV` defaults to production: no development file is accepted unless `GVI_ENV=development` is
asked for.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.audit.library import AuditSettings
from services.privacy.settings import PersonalDataSettings

__all__ = ["AuditCliSettings"]


class AuditCliSettings(AuditSettings, PersonalDataSettings):
    """`GVI_AUDIT_PUBLIC_KEYS_FILE` here: the keys the auditor trusts (in development, the generated
    `var/audit/signing-key.pub` when unset). `GVI_PERSONAL_DATA_MASTER_KEY_FILE`: only an export by
    a role that allows personal data needs it, to open the sealed person fields."""

    auditors_file: Path | None = Field(None, validation_alias="GVI_AUDITORS_FILE")
    auditor_key: str | None = Field(None, validation_alias="GVI_AUDITOR_KEY")
    pseudonym_key_file: Path | None = Field(None, validation_alias="GVI_AUDIT_PSEUDONYM_KEY_FILE")
    window_days: int = Field(365, ge=1, validation_alias="GVI_WINDOW_DAYS")
