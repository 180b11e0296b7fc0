"""The Kafka connection settings every service reads: what starts, what is refused and how it says so."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import faust
import pytest
from pydantic import ValidationError

from services.infra.kafka_security import KafkaClientSettings
from services.intake.settings import IntakeSettings
from tests.tls_support import make_test_ca

SECRET = "s3cret-Passw0rd-for-tests"


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a deployment sees: no permission for PLAINTEXT unless it gives one."""
    monkeypatch.delenv("GVI_KAFKA_ALLOW_PLAINTEXT", raising=False)
    monkeypatch.delenv("GVI_ENV", raising=False)


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    path.write_text(SECRET + "\n")
    return path


def refusal(**env: object) -> str:
    with pytest.raises(ValidationError) as error:
        KafkaClientSettings(**env)  # type: ignore[arg-type]
    return str(error.value)


def test_development_defaults_to_plaintext_for_every_client_library() -> None:
    security = KafkaClientSettings(GVI_ENV="development").kafka_security()
    assert security.kafka_python() == security.aiokafka() == {"security_protocol": "PLAINTEXT"}
    assert security.faust_credentials() is None


@pytest.mark.usefixtures("production")
def test_production_refuses_plaintext_unless_the_operator_allows_it(caplog: pytest.LogCaptureFixture) -> None:
    message = refusal()
    assert "KAFKA_SECURITY_PROTOCOL=PLAINTEXT" in message and "GVI_KAFKA_ALLOW_PLAINTEXT" in message
    with caplog.at_level(logging.WARNING):
        KafkaClientSettings(GVI_KAFKA_ALLOW_PLAINTEXT=True)
    assert "PLAINTEXT (unencrypted, unauthenticated) in production mode" in caplog.text


@pytest.mark.usefixtures("production")
def test_every_service_refuses_plaintext_in_production(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="GVI_KAFKA_ALLOW_PLAINTEXT"):
        IntakeSettings(GVI_AGENCIES_FILE=tmp_path / "agencies.toml")


@pytest.mark.usefixtures("production")
def test_sasl_ssl_with_a_password_file_configures_all_three_client_libraries(
        password_file: Path, tmp_path: Path) -> None:
    ca = make_test_ca(tmp_path / "tls")
    security = KafkaClientSettings(KAFKA_SECURITY_PROTOCOL="SASL_SSL", KAFKA_SASL_USERNAME="gvi-incidents",
                                   KAFKA_SASL_PASSWORD_FILE=password_file,
                                   KAFKA_SSL_CAFILE=ca.ca_file).kafka_security()
    aiokafka = security.aiokafka()
    assert {k: v for k, v in aiokafka.items() if k != "ssl_context"} == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "gvi-incidents", "sasl_plain_password": SECRET}
    context = aiokafka["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert security.kafka_python()["sasl_plain_password"] == SECRET
    credentials = security.faust_credentials()
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.protocol.value, credentials.mechanism.value) == ("SASL_SSL", "SCRAM-SHA-512")
    assert SECRET not in repr(security) and SECRET not in repr(credentials)


def test_a_rotated_password_file_is_used_by_the_next_client(password_file: Path) -> None:
    security = KafkaClientSettings(GVI_ENV="development", KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
                                   KAFKA_SASL_USERNAME="gvi-dashboard",
                                   KAFKA_SASL_PASSWORD_FILE=password_file).kafka_security()
    password_file.write_text("the-next-password\n")
    assert security.aiokafka()["sasl_plain_password"] == "the-next-password"


def test_ssl_without_sasl_and_mutual_tls(tmp_path: Path) -> None:
    ca = make_test_ca(tmp_path / "tls")
    security = KafkaClientSettings(GVI_ENV="development", KAFKA_SECURITY_PROTOCOL="SSL",
                                   KAFKA_SSL_CAFILE=ca.ca_file).kafka_security()
    assert set(security.aiokafka()) == {"security_protocol", "ssl_context"}
    assert isinstance(security.faust_credentials(), faust.SSLCredentials)
    message = refusal(GVI_ENV="development", KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SSL_CERTFILE=ca.ca_file)
    assert "KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE" in message


@pytest.mark.parametrize(("env", "names"), [
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_PASSWORD": SECRET}, ["KAFKA_SASL_USERNAME"]),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "u"}, ["KAFKA_SASL_PASSWORD_FILE"]),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": SECRET,
      "KAFKA_SASL_PASSWORD_FILE": "/etc/hostname"}, ["exactly one", "KAFKA_SASL_PASSWORD"]),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "u",
      "KAFKA_SASL_PASSWORD_FILE": "/nonexistent/password"}, ["KAFKA_SASL_PASSWORD_FILE", "cannot read"]),
    ({"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": SECRET, "GVI_KAFKA_ALLOW_PLAINTEXT": True},
     ["KAFKA_SECURITY_PROTOCOL=SASL_SSL"]),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": SECRET,
      "KAFKA_SSL_CAFILE": "/etc/hostname"}, ["KAFKA_SSL_CAFILE", "SSL or SASL_SSL"]),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/nonexistent/ca.crt"},
     ["KAFKA_SSL_CAFILE", "not a readable file"]),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "GSSAPI", "KAFKA_SASL_USERNAME": "u",
      "KAFKA_SASL_PASSWORD": SECRET}, ["SCRAM-SHA-512"]),
])
@pytest.mark.usefixtures("production")
def test_an_invalid_combination_names_the_variable_and_never_the_password(
        env: dict[str, object], names: list[str]) -> None:
    message = refusal(**env)
    for name in names:
        assert name in message
    assert SECRET not in message
