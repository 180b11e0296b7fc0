"""The one setting every service that seals or opens personal data shares (the master key file),
the retention periods, and the settings of `gvi-privacy`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.contracts.topics import DATA_PROTECTION_TOPIC, SOURCE_TOPIC_NAMES
from services.infra.kafka_security import KafkaClientSettings
from services.privacy.claims import DEV_MASTER_KEY_FILE, MasterKey, MasterKeyError
from services.privacy.keys import KeyRing
from services.privacy.retention import RetentionPolicy

__all__ = ["PersonalDataSettings", "PrivacySettings", "RetentionSettings"]


class PersonalDataSettings(BaseSettings):
    """`GVI_PERSONAL_DATA_MASTER_KEY_FILE`: the master key (base64 of 32 random bytes; make one with
    `gvi-privacy new-master-key`). Required outside development mode, where the documented
    development key is the default and refused elsewhere.

    `GVI_PERSONAL_DATA_PREVIOUS_MASTER_KEY_FILES`: while the master key is rotated (docs/operations.md),
    the other master keys to read claims with, comma-separated files checked like the current one.
    New claims are always wrapped by the current key; `key_ring` holds both."""

    personal_data_master_key_file: Path | None = Field(
        None, validation_alias="GVI_PERSONAL_DATA_MASTER_KEY_FILE")
    personal_data_previous_master_key_files: str | None = Field(
        None, validation_alias="GVI_PERSONAL_DATA_PREVIOUS_MASTER_KEY_FILES")

    def _development(self) -> bool:
        return getattr(self, "env", "production") == "development"

    def master_key(self) -> MasterKey:
        development = self._development()
        path = self.personal_data_master_key_file
        if path is None:
            if not development:
                raise MasterKeyError("GVI_PERSONAL_DATA_MASTER_KEY_FILE is required outside development "
                                     "mode: the key that person data is sealed with")
            path = DEV_MASTER_KEY_FILE
        return MasterKey.from_file(path, development=development)

    def previous_master_keys(self) -> list[MasterKey]:
        """The previous master keys, in the order given (none unless a rotation is under way)."""
        text = self.personal_data_previous_master_key_files or ""
        paths = [Path(part.strip()) for part in text.split(",") if part.strip()]
        return [MasterKey.from_file(path, development=self._development()) for path in paths]

    def key_ring(self) -> KeyRing:
        """An empty key ring with the current master key and the previous ones."""
        return KeyRing(self.master_key(), previous=self.previous_master_keys())


class RetentionSettings(BaseSettings):
    """How long person-level data is kept (`services.privacy.retention`): read by the retention job
    (`gvi-privacy retention`) and by `gvi-audit verify`, which must agree on the deadlines.

    The defaults are placeholders, not advice: six months after a membership assessment expires
    (long enough to see whether the partnership renews it; an expired, unrenewed assessment is the
    first thing that must go) and five years after any other event naming a person (a sanction's
    or warning's typical record-keeping period). Each partnership sets its own in its data
    protection impact assessment."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    retention_membership_months: int = Field(12, ge=0, le=1200,
                                             validation_alias="GVI_RETENTION_MEMBERSHIP_MONTHS")
    retention_person_years: int = Field(5, ge=0, le=100, validation_alias="GVI_RETENTION_PERSON_YEARS")
    retention_grace_days: float = Field(2.0, ge=0, validation_alias="GVI_RETENTION_GRACE_DAYS")

    def retention_policy(self) -> RetentionPolicy:
        return RetentionPolicy(self.retention_membership_months, self.retention_person_years)


class PrivacySettings(PersonalDataSettings, RetentionSettings, KafkaClientSettings):
    """`gvi-privacy`: the master key, the retention periods and the Kafka connection."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True,
                                      hide_input_in_errors=True)

    env: Literal["development", "production"] = Field("production", validation_alias="GVI_ENV")
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    source_topics: str = Field(",".join(SOURCE_TOPIC_NAMES), validation_alias="GVI_PRIVACY_SOURCE_TOPICS")
    data_protection_topic: str = Field(DATA_PROTECTION_TOPIC, min_length=1,
                                       validation_alias="GVI_DATA_PROTECTION_TOPIC")

    @property
    def topics(self) -> list[str]:
        return [t.strip() for t in self.source_topics.split(",") if t.strip()]
