"""The one setting every service that seals or opens personal data shares: the master key file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from services.privacy.keys import DEV_MASTER_KEY_FILE, MasterKey, MasterKeyError

__all__ = ["PersonalDataSettings"]


class PersonalDataSettings(BaseSettings):
    """`GVI_PERSONAL_DATA_MASTER_KEY_FILE`: the master key (base64 of 32 random bytes; make one with
    `gvi-privacy new-master-key`). Required outside development mode, where the documented
    development key is the default and refused elsewhere."""

    personal_data_master_key_file: Path | None = Field(
        None, validation_alias="GVI_PERSONAL_DATA_MASTER_KEY_FILE")

    def master_key(self) -> MasterKey:
        development = getattr(self, "env", "production") == "development"
        path = self.personal_data_master_key_file
        if path is None:
            if not development:
                raise MasterKeyError("GVI_PERSONAL_DATA_MASTER_KEY_FILE is required outside development "
                                     "mode: the key that person data is sealed with")
            path = DEV_MASTER_KEY_FILE
        return MasterKey.from_file(path, development=development)
