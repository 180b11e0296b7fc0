"""A throwaway certificate authority for tests: a CA, and a server certificate for 127.0.0.1 that the
broker's SASL_SSL listener presents. Nothing here is fit for anything but a test run."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["ThrowawayCA", "make_test_ca"]


@dataclass(frozen=True)
class ThrowawayCA:
    ca_file: Path
    """The CA certificate (PEM): what clients trust (KAFKA_SSL_CAFILE)."""
    keystore: Path
    """The broker's private key (PKCS #8) and certificate chain in one PEM file."""
    other_ca_file: Path
    """The certificate of a CA that signed nothing the broker presents."""


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(common_name: str, now: datetime.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_test_ca(directory: Path) -> ThrowawayCA:
    now = datetime.datetime.now(datetime.UTC)
    ca_key, ca_cert = _ca("gvi test CA", now)
    _, other_cert = _ca("gvi other CA", now)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca_cert.subject)
        .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    ca_file = directory / "ca.crt"
    ca_file.write_bytes(ca_cert.public_bytes(pem))
    other_ca_file = directory / "other-ca.crt"
    other_ca_file.write_bytes(other_cert.public_bytes(pem))
    keystore = directory / "broker.pem"
    keystore.write_bytes(
        server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + server_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    keystore.chmod(0o600)
    return ThrowawayCA(ca_file, keystore, other_ca_file)
