"""Settings of the dashboard, from the environment; built once, in the composition root."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from services.audit.library import DEV_DATA_DIR, default_source_topics
from services.contracts import AUDIT_CHECKPOINTS_TOPIC
from services.infra.kafka_security import KafkaClientSettings
from services.infra.operator_endpoints import ApiDocs, MetricsTokenFile
from services.infra.server_limits import ServerLimitSettings
from services.privacy.settings import PersonalDataSettings

__all__ = ["DEFAULT_PORT", "DashboardSettings"]

DEFAULT_PORT = 8000


class DashboardSettings(KafkaClientSettings, ServerLimitSettings, PersonalDataSettings):
    """`GVI_ENV` defaults to production: development mode (the public dev users) must be asked for.

    `GVI_SESSION_SECRET` signs session cookies and bearer tokens. Unset, every process draws a random
    one at start: nothing guessable, but sessions and tokens then end with the process and are not
    shared between replicas; set it (at least 32 characters, from a secret store) to keep them.

    The auditors' pages check the checkpointer's signatures with `GVI_AUDIT_PUBLIC_KEYS_FILE` (the same
    file `gvi-audit` takes); without it they show the access log but no verification or checkpoint.
    `GVI_AUDIT_CHECKPOINT_TOPIC` and `GVI_AUDIT_SOURCE_TOPICS` as for the checkpointer.

    `GVI_LOGIN_*` bound what a login attempt may cost (`services/dashboard/login.py` says how they
    combine): scrypt runs at most `GVI_LOGIN_HASH_CONCURRENCY` at a time, at most
    `GVI_LOGIN_MAX_PENDING` attempts are admitted at once (then 503), and failures back off
    exponentially per (address, user name) and per address (429), and per user name only by a delay.
    Behind a reverse proxy, `GVI_FORWARDED_ALLOW_IPS` names the proxies whose `X-Forwarded-For` is
    believed; without it every client behind the proxy shares the proxy's address and its limits.

    Data entry (`forms.py`): `GVI_DATA_ENTRY_KEYS_FILE` holds the API keys of the agencies whose users
    enter events through the dashboard's forms (a secret; unset, no form can be used: 503); the
    forms post to the intake that owns each type, at `GVI_INCIDENTS_URL`, `GVI_NOTIFICATIONS_URL` and
    `GVI_SANCTIONS_URL`, waiting at most `GVI_DATA_ENTRY_TIMEOUT_SECONDS` for an answer.

    `GVI_PERSONAL_DATA_MASTER_KEY_FILE` (`PersonalDataSettings`): the master key the person keys of
    `person-keys` are unwrapped with, to show the roles that see person references the references
    and evidence the intakes sealed.

    `GVI_PUBLIC_MIN_CELL` is the public statistics' suppression threshold (`readmodel/public.py`),
    `GVI_PUBLIC_CACHE_SECONDS` how long a cache may keep their answers.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    env: Literal["development", "production"] = Field("production", validation_alias="GVI_ENV")
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    users_file: Path = Field(validation_alias="GVI_USERS_FILE")
    host: str = Field("127.0.0.1", validation_alias="GVI_HOST")
    port: int = Field(DEFAULT_PORT, validation_alias="GVI_PORT")
    stall_days: int = Field(14, ge=1, le=365, validation_alias="GVI_STALL_DAYS")
    session_secret: str | None = Field(None, min_length=32, validation_alias="GVI_SESSION_SECRET")
    session_minutes: int = Field(8 * 60, ge=1, le=7 * 24 * 60, validation_alias="GVI_SESSION_MINUTES")
    token_minutes: int = Field(60, ge=1, le=24 * 60, validation_alias="GVI_TOKEN_MINUTES")
    access_log_timeout_seconds: float = Field(5.0, gt=0, le=60,
                                              validation_alias="GVI_ACCESS_LOG_TIMEOUT_SECONDS")
    sse_heartbeat_seconds: float = Field(10.0, gt=0, le=120, validation_alias="GVI_SSE_HEARTBEAT_SECONDS")
    stale_after_seconds: float = Field(15.0, ge=3, le=3600,
                                       validation_alias="GVI_DASHBOARD_STALE_AFTER_SECONDS",
                                       description="The feed is stale (readyz 503, pages say so) when the "
                                                   "broker has not answered it for longer.")
    log_level: str = Field("INFO", validation_alias="GVI_LOG_LEVEL")
    metrics_token_file: MetricsTokenFile = None
    api_docs: ApiDocs = None
    audit_public_keys_file: Path | None = Field(None, validation_alias="GVI_AUDIT_PUBLIC_KEYS_FILE")
    audit_checkpoint_topic: str = Field(AUDIT_CHECKPOINTS_TOPIC,
                                        validation_alias="GVI_AUDIT_CHECKPOINT_TOPIC")
    audit_source_topics: str = Field(default_factory=default_source_topics,
                                     validation_alias="GVI_AUDIT_SOURCE_TOPICS")
    audit_cache_seconds: float = Field(5.0, ge=0, le=300, validation_alias="GVI_AUDIT_CACHE_SECONDS")
    audit_timeout_seconds: float = Field(10.0, gt=0, le=120, validation_alias="GVI_AUDIT_TIMEOUT_SECONDS")
    forwarded_allow_ips: str | None = Field(None, min_length=1, validation_alias="GVI_FORWARDED_ALLOW_IPS")
    login_hash_concurrency: int = Field(2, ge=1, le=16, validation_alias="GVI_LOGIN_HASH_CONCURRENCY")
    login_max_pending: int = Field(64, ge=1, le=10_000, validation_alias="GVI_LOGIN_MAX_PENDING")
    login_address_in_flight: int = Field(4, ge=1, le=1000, validation_alias="GVI_LOGIN_ADDRESS_IN_FLIGHT")
    login_free_failures_pair: int = Field(5, ge=1, le=1000, validation_alias="GVI_LOGIN_FREE_FAILURES_PAIR")
    login_free_failures_address: int = Field(20, ge=1, le=10_000,
                                             validation_alias="GVI_LOGIN_FREE_FAILURES_ADDRESS")
    login_free_failures_user: int = Field(20, ge=1, le=10_000,
                                          validation_alias="GVI_LOGIN_FREE_FAILURES_USER")
    login_backoff_base_seconds: float = Field(1.0, gt=0, le=60,
                                              validation_alias="GVI_LOGIN_BACKOFF_BASE_SECONDS")
    login_backoff_max_seconds: float = Field(900.0, gt=0, le=86_400,
                                             validation_alias="GVI_LOGIN_BACKOFF_MAX_SECONDS")
    login_user_delay_max_seconds: float = Field(10.0, ge=0, le=60,
                                                validation_alias="GVI_LOGIN_USER_DELAY_MAX_SECONDS")
    login_forget_seconds: float = Field(3600.0, gt=0, le=7 * 86_400,
                                        validation_alias="GVI_LOGIN_FORGET_SECONDS")
    login_tracked_keys: int = Field(10_000, ge=100, le=1_000_000, validation_alias="GVI_LOGIN_TRACKED_KEYS")
    public_min_cell: int = Field(3, ge=3, le=100, validation_alias="GVI_PUBLIC_MIN_CELL",
                                 description="The public statistics show a count from 1 to this less one "
                                             "as '<N' (small-number suppression). At least 3: zeros are "
                                             "shown, so a '<2' would always be exactly 1.")
    public_cache_seconds: int = Field(300, ge=0, le=86_400, validation_alias="GVI_PUBLIC_CACHE_SECONDS",
                                      description="max-age of the public statistics' answers.")

    data_entry_keys_file: Path | None = Field(
        None, validation_alias="GVI_DATA_ENTRY_KEYS_FILE",
        description="The agencies' API keys the data-entry forms post with (TOML, a secret).")
    incidents_url: str = Field("http://127.0.0.1:8001", validation_alias="GVI_INCIDENTS_URL")
    notifications_url: str = Field("http://127.0.0.1:8002", validation_alias="GVI_NOTIFICATIONS_URL")
    sanctions_url: str = Field("http://127.0.0.1:8003", validation_alias="GVI_SANCTIONS_URL")
    data_entry_timeout_seconds: float = Field(10.0, gt=0, le=60,
                                              validation_alias="GVI_DATA_ENTRY_TIMEOUT_SECONDS")

    @field_validator("incidents_url", "notifications_url", "sanctions_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r}: an intake's address starts with http:// or https://")
        return value.rstrip("/")

    @property
    def intake_urls(self) -> dict[str, str]:
        """Each intake service's base URL, by service name (`services.contracts.Service`)."""
        return {"incidents": self.incidents_url, "notifications": self.notifications_url,
                "sanctions": self.sanctions_url}

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses_or_networks(cls, value: str | None) -> str | None:
        if value is None:
            return None
        entries = [e.strip() for e in value.split(",") if e.strip()]
        for entry in entries:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"GVI_FORWARDED_ALLOW_IPS: {entry!r} is not an IP address or CIDR; set it to the "
                    "addresses of the reverse proxy in front of the dashboard (on Kubernetes, the "
                    "ingress controller's pods; docs/operations.md)") from None
        return ",".join(entries) or None

    @model_validator(mode="after")
    def _no_wildcard_in_production(self) -> Self:
        proxies = (self.forwarded_allow_ips or "").split(",")
        if self.env != "development" and "*" in proxies:
            raise ValueError("GVI_FORWARDED_ALLOW_IPS=* believes any client's X-Forwarded-For, so anyone "
                             "could pick the address the login limits count: name the proxies instead")
        return self

    @property
    def audit_topics(self) -> list[str]:
        return [t.strip() for t in self.audit_source_topics.split(",") if t.strip()]

    def audit_keys_path(self) -> Path | None:
        """The auditors' public keys file the audit pages check signatures with: the one configured,
        else in development the checkpointer's generated `var/audit/signing-key.pub` once it exists."""
        if self.audit_public_keys_file is not None:
            return self.audit_public_keys_file
        generated = DEV_DATA_DIR / "signing-key.pub"
        return generated if self.env == "development" and generated.exists() else None

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry `Secure` outside development (production runs behind TLS)."""
        return self.env != "development"
