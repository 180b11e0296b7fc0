"""The broker's configuration files beyond the basics: the secure listener's entries in
server.properties, and the log4j2 configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devtools.broker.errors import BrokerError

__all__ = ["SecureListener", "log4j2_config", "secure_properties"]


@dataclass(frozen=True)
class SecureListener:
    """A second, authenticated listener beside PLAINTEXT (which stays for setup and readiness).

    `scram_users` (name -> password) are SCRAM-SHA-512 users stored when the storage is formatted
    (KRaft has no other way to have them before the first start); with users the listener speaks
    SASL_SSL when `keystore` is given, else SASL_PLAINTEXT; without users, SSL. `keystore` is a PEM
    file holding the broker's unencrypted PKCS #8 private key and its certificate chain.
    `super_users` bypass ACLs; when `authorizer` is set the broker checks ACLs (StandardAuthorizer)
    for every principal but those and ANONYMOUS (the PLAINTEXT listener's setup clients).
    """

    port: int
    scram_users: Mapping[str, str] = field(default_factory=dict)
    keystore: Path | None = None
    authorizer: bool = False
    super_users: tuple[str, ...] = ()

    @property
    def protocol(self) -> str:
        if self.scram_users:
            return "SASL_SSL" if self.keystore is not None else "SASL_PLAINTEXT"
        if self.keystore is None:
            raise BrokerError("a secure listener needs SCRAM users, a keystore or both")
        return "SSL"


def secure_properties(secure: SecureListener) -> dict[str, str]:
    """server.properties entries of the SECURE listener (and of the authorizer, if asked for)."""
    properties = {
        "listeners": f"SECURE://127.0.0.1:{secure.port}",
        "advertised.listeners": f"SECURE://127.0.0.1:{secure.port}",
        "listener.security.protocol.map": f"SECURE:{secure.protocol}",
    }
    if secure.scram_users:
        properties.update({
            "listener.name.secure.sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.secure.scram-sha-512.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        })
    if secure.keystore is not None:
        properties.update({
            "listener.name.secure.ssl.keystore.type": "PEM",
            "listener.name.secure.ssl.keystore.location": str(secure.keystore),
        })
    if secure.authorizer:
        supers = ";".join(f"User:{name}" for name in ("ANONYMOUS", *secure.super_users))
        properties.update({
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": supers,
        })
    return properties


def log4j2_config(log_file: Path) -> str:
    quiet = [
        "kafka.request.logger",
        "kafka.network.RequestChannel$",
        "org.apache.kafka.common.utils.AppInfoParser",
    ]
    lines = [
        "status = warn",
        "shutdownHook = disable",
        "appender.file.type = RollingFile",
        "appender.file.name = file",
        f"appender.file.fileName = {log_file}",
        f"appender.file.filePattern = {log_file}.%i",
        "appender.file.layout.type = PatternLayout",
        "appender.file.layout.pattern = [%d] %p %m (%c)%n",
        "appender.file.policies.type = Policies",
        "appender.file.policies.size.type = SizeBasedTriggeringPolicy",
        "appender.file.policies.size.size = 10MB",
        "appender.file.strategy.type = DefaultRolloverStrategy",
        "appender.file.strategy.max = 3",
        "rootLogger.level = info",
        "rootLogger.appenderRef.file.ref = file",
    ]
    for index, name in enumerate(quiet):
        lines += [f"logger.quiet{index}.name = {name}", f"logger.quiet{index}.level = warn"]
    return "\n".join(lines) + "\n"
