"""How every client of the system connects to Kafka: encryption (TLS) and authentication (SASL).

One set of settings, read from the environment by every service (each service's settings class
inherits `KafkaClientSettings`), and one value, `KafkaSecurity`, that gives the keyword arguments of
each client library the system uses: kafka-python (`kafka_python()`), aiokafka (`aiokafka()`) and
faust (`faust_credentials()`, the App's `broker_credentials`).

    KAFKA_SECURITY_PROTOCOL    PLAINTEXT (default) | SSL | SASL_PLAINTEXT | SASL_SSL
    KAFKA_SASL_MECHANISM       SCRAM-SHA-512 (default) | SCRAM-SHA-256 | PLAIN
    KAFKA_SASL_USERNAME        the client's Kafka user (SASL_*)
    KAFKA_SASL_PASSWORD_FILE   a file holding its password (a mounted Secret); or
    KAFKA_SASL_PASSWORD        the password itself (never both)
    KAFKA_SSL_CAFILE           PEM file of the CA(s) that sign the brokers' certificates (SSL, SASL_SSL;
                               unset: the system's trust store)
    KAFKA_SSL_CERTFILE         PEM client certificate (mutual TLS; with KAFKA_SSL_KEYFILE)
    KAFKA_SSL_KEYFILE          PEM private key of that certificate (unencrypted; file mode 0600)
    GVI_KAFKA_ALLOW_PLAINTEXT  true: accept PLAINTEXT outside development (see below)

An empty variable counts as unset. Rules, checked when the settings are built, so that a service
refuses to start with one clear line naming the variable to set:
* SASL_PLAINTEXT and SASL_SSL need a user name and exactly one of password / password file; the file
  must be readable and not empty. SSL and PLAINTEXT take no SASL settings (they would be ignored, so
  they are refused rather than silently unused).
* Certificates and keys go with SSL or SASL_SSL only, and a client certificate with its key.
* PLAINTEXT with `GVI_ENV` other than development is refused unless `GVI_KAFKA_ALLOW_PLAINTEXT=true`
  says that the network itself is trusted (one machine, e.g. docker compose, whose broker is not
  published); then every start logs a warning. There is no default user or password anywhere.
* SASL_PLAINTEXT (authenticated, not encrypted) outside development also logs a warning.

The password never appears in a log line, an error message or a repr (it is a `SecretStr`, and
validation errors of settings that inherit this class never echo their input). The password file is
read again whenever a client is built, so a client built after a rotated Secret was mounted uses the
new password.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PLAINTEXT", "KafkaClientSettings", "KafkaSecurity", "KafkaSecurityError", "Protocol"]

log = logging.getLogger("gvi.kafka.security")

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]

_SASL = {"SASL_PLAINTEXT", "SASL_SSL"}
_TLS = {"SSL", "SASL_SSL"}


class KafkaSecurityError(ValueError):
    """The Kafka security settings are incomplete or contradict each other; the message names the
    variable to set and never holds a secret."""


def _read_password(path: Path) -> str:
    try:
        password = path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise KafkaSecurityError(f"KAFKA_SASL_PASSWORD_FILE: cannot read {path} "
                                 f"({exc.strerror or type(exc).__name__})") from None
    if not password:
        raise KafkaSecurityError(f"KAFKA_SASL_PASSWORD_FILE: {path} is empty")
    return password


@dataclass(frozen=True)
class KafkaSecurity:
    """How to connect: built by `KafkaClientSettings.kafka_security()`, handed to every client."""

    protocol: Protocol = "PLAINTEXT"
    mechanism: Mechanism = "SCRAM-SHA-512"
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    password_file: Path | None = None
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None

    @property
    def sasl(self) -> bool:
        return self.protocol in _SASL

    @property
    def tls(self) -> bool:
        return self.protocol in _TLS

    def describe(self) -> str:
        """For logs: protocol, mechanism and user, never the password."""
        if self.sasl:
            return f"{self.protocol} ({self.mechanism}, user {self.username})"
        if self.tls and self.certfile is not None:
            return f"{self.protocol} (client certificate)"
        return self.protocol

    def _password(self) -> str:
        if self.password_file is not None:
            return _read_password(self.password_file)
        assert self.password is not None  # checked when built
        return self.password.get_secret_value()

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that checks the broker's certificate and host name (TLS 1.2 or later)."""
        context = ssl.create_default_context(cafile=str(self.cafile) if self.cafile else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.certfile is not None:
            context.load_cert_chain(str(self.certfile), str(self.keyfile) if self.keyfile else None)
        return context

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's KafkaProducer, KafkaConsumer and KafkaAdminClient:
        aiokafka's, and kafka-python checks the host name only when told to."""
        kwargs = self.aiokafka()
        if self.tls:
            kwargs["ssl_check_hostname"] = True
        return kwargs

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer, admin client and AIOKafkaClient."""
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.sasl:
            kwargs.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                          sasl_plain_password=self._password())
        if self.tls:
            kwargs["ssl_context"] = self.ssl_context()
        return kwargs

    def faust_credentials(self) -> Any:
        """The faust App's `broker_credentials`: None for PLAINTEXT."""
        import faust

        if self.sasl:
            return faust.SASLCredentials(username=self.username, password=self._password(),
                                         mechanism=self.mechanism,
                                         ssl_context=self.ssl_context() if self.tls else None)
        if self.tls:
            return faust.SSLCredentials(self.ssl_context())
        return None


PLAINTEXT = KafkaSecurity()
"""No encryption, no authentication: the development broker (devtools.broker) and the tests."""


class KafkaClientSettings(BaseSettings):
    """The Kafka connection settings every service reads (inherited by each service's settings)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True,
                                      hide_input_in_errors=True)

    env: Literal["development", "production"] = Field("production", validation_alias="GVI_ENV")
    kafka_security_protocol: Protocol = Field("PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL")
    kafka_sasl_mechanism: Mechanism = Field("SCRAM-SHA-512", validation_alias="KAFKA_SASL_MECHANISM")
    kafka_sasl_username: str | None = Field(None, min_length=1, validation_alias="KAFKA_SASL_USERNAME")
    kafka_sasl_password: SecretStr | None = Field(None, min_length=1, validation_alias="KAFKA_SASL_PASSWORD")
    kafka_sasl_password_file: Path | None = Field(None, validation_alias="KAFKA_SASL_PASSWORD_FILE")
    kafka_ssl_cafile: Path | None = Field(None, validation_alias="KAFKA_SSL_CAFILE")
    kafka_ssl_certfile: Path | None = Field(None, validation_alias="KAFKA_SSL_CERTFILE")
    kafka_ssl_keyfile: Path | None = Field(None, validation_alias="KAFKA_SSL_KEYFILE")
    kafka_allow_plaintext: bool = Field(False, validation_alias="GVI_KAFKA_ALLOW_PLAINTEXT")

    @field_validator("kafka_sasl_username", "kafka_sasl_password", "kafka_sasl_password_file",
                     "kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty variable counts as unset (docker compose passes `${VAR:-}` through as "")."""
        return None if value == "" else value

    @model_validator(mode="after")
    def _check_kafka_security(self) -> KafkaClientSettings:
        """The rules of the module docstring; KafkaSecurityError naming the variable to set."""
        protocol = self.kafka_security_protocol
        production = self.env != "development"
        sasl_given = [name for name, value in (
            ("KAFKA_SASL_USERNAME", self.kafka_sasl_username),
            ("KAFKA_SASL_PASSWORD", self.kafka_sasl_password),
            ("KAFKA_SASL_PASSWORD_FILE", self.kafka_sasl_password_file)) if value is not None]
        tls_given = [name for name, value in (
            ("KAFKA_SSL_CAFILE", self.kafka_ssl_cafile), ("KAFKA_SSL_CERTFILE", self.kafka_ssl_certfile),
            ("KAFKA_SSL_KEYFILE", self.kafka_ssl_keyfile)) if value is not None]
        if protocol in _SASL:
            if self.kafka_sasl_username is None:
                raise KafkaSecurityError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME "
                                         "(the service's Kafka user)")
            if (self.kafka_sasl_password is None) == (self.kafka_sasl_password_file is None):
                raise KafkaSecurityError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs exactly one of "
                                         "KAFKA_SASL_PASSWORD_FILE (preferred: a mounted Secret) and "
                                         "KAFKA_SASL_PASSWORD")
            if self.kafka_sasl_password_file is not None:
                _read_password(self.kafka_sasl_password_file)
        elif sasl_given:
            raise KafkaSecurityError(f"{', '.join(sasl_given)} given but KAFKA_SECURITY_PROTOCOL={protocol}: "
                                     "set KAFKA_SECURITY_PROTOCOL=SASL_SSL (or SASL_PLAINTEXT)")
        if protocol not in _TLS and tls_given:
            raise KafkaSecurityError(f"{', '.join(tls_given)} given but KAFKA_SECURITY_PROTOCOL={protocol}: "
                                     "set KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL")
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise KafkaSecurityError("a client certificate needs both KAFKA_SSL_CERTFILE and "
                                     "KAFKA_SSL_KEYFILE")
        for name, path in (("KAFKA_SSL_CAFILE", self.kafka_ssl_cafile),
                           ("KAFKA_SSL_CERTFILE", self.kafka_ssl_certfile),
                           ("KAFKA_SSL_KEYFILE", self.kafka_ssl_keyfile)):
            if path is not None and not path.is_file():
                raise KafkaSecurityError(f"{name}: {path} is not a readable file")
        if protocol == "PLAINTEXT" and production:
            if not self.kafka_allow_plaintext:
                raise KafkaSecurityError(
                    "KAFKA_SECURITY_PROTOCOL=PLAINTEXT (unencrypted, unauthenticated) outside development: "
                    "set KAFKA_SECURITY_PROTOCOL=SASL_SSL with KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD_FILE "
                    "and KAFKA_SSL_CAFILE, or GVI_KAFKA_ALLOW_PLAINTEXT=true if the network to the broker "
                    "is trusted (docs/security.md)")
            log.warning("Kafka connections are PLAINTEXT (unencrypted, unauthenticated) in %s mode "
                        "(GVI_KAFKA_ALLOW_PLAINTEXT=true): only on a network nobody else can reach", self.env)
        elif protocol == "SASL_PLAINTEXT" and production:
            log.warning("Kafka connections are authenticated but not encrypted (SASL_PLAINTEXT) in %s mode: "
                        "use SASL_SSL", self.env)
        return self

    def kafka_security(self) -> KafkaSecurity:
        """How this service connects to Kafka (checked when the settings were built)."""
        protocol = self.kafka_security_protocol
        return KafkaSecurity(protocol=protocol, mechanism=self.kafka_sasl_mechanism,
                             username=self.kafka_sasl_username if protocol in _SASL else None,
                             password=self.kafka_sasl_password, password_file=self.kafka_sasl_password_file,
                             cafile=self.kafka_ssl_cafile, certfile=self.kafka_ssl_certfile,
                             keyfile=self.kafka_ssl_keyfile)
