"""Who may audit, what they see, and which keys the checkpointer accepts."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.audit.checkpointer import CheckpointerSettings, load_key
from services.audit.cli import parse_time
from services.audit.library.auditors import Role, load_auditors
from services.audit.library.errors import AccessDenied, ConfigError
from services.audit.library.export import WITHHELD, Pseudonymiser, load_pseudonym_key
from services.audit.library.signing import generate_key_file, load_public_keys, load_signing_key, public_line

DEV_FILE = Path("deploy/config/auditors.dev.toml")


def test_the_dev_auditors_authenticate_with_their_roles_in_development_only() -> None:
    directory = load_auditors(DEV_FILE, development=True)
    assert directory.authenticate("dev-auditor-key").role is Role.AUDITOR
    assert directory.authenticate("dev-dpo-key").role.sees_personal_data
    with pytest.raises(AccessDenied, match="not in the auditors file"):
        directory.authenticate("dev-auditor-key ")
    with pytest.raises(AccessDenied, match="GVI_AUDITOR_KEY"):
        directory.authenticate(None)
    with pytest.raises(ConfigError, match="development auditor key"):
        load_auditors(DEV_FILE, development=False)


def test_an_auditors_file_with_an_unknown_role_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "auditors.toml"
    path.write_text('[[auditor]]\nname = "x"\nkey_sha256 = ["' + "a" * 64 + '"]\nrole = "admin"\n')
    with pytest.raises(ConfigError, match="role"):
        load_auditors(path, development=False)


def test_person_references_get_stable_keyed_pseudonyms_and_evidence_is_withheld() -> None:
    data = {"person_ref": "pol:p-1", "evidence": "Seen with X", "attended": [{"person_ref": "pol:p-1"}],
            "group_id": "g1"}
    one, other = Pseudonymiser(b"k" * 32), Pseudonymiser(b"j" * 32)
    cleaned = one.clean(data)
    assert cleaned["person_ref"] == cleaned["attended"][0]["person_ref"] != "pol:p-1"
    assert cleaned["person_ref"].startswith("psn:") and cleaned["evidence"] == WITHHELD
    assert cleaned["group_id"] == "g1" and other.clean(data)["person_ref"] != cleaned["person_ref"]
    assert Pseudonymiser(None).clean(data) == data


def test_the_pseudonym_key_is_generated_in_development_only(tmp_path: Path) -> None:
    key = load_pseudonym_key(None, development=True, data_dir=tmp_path)
    assert len(key) == 32 and load_pseudonym_key(None, development=True, data_dir=tmp_path) == key
    with pytest.raises(ConfigError, match="GVI_AUDIT_PSEUDONYM_KEY_FILE"):
        load_pseudonym_key(None, development=False, data_dir=tmp_path)


def test_the_checkpointer_refuses_to_start_without_a_key_outside_development(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GVI_AUDIT_SIGNING_KEY_FILE"):
        load_key(CheckpointerSettings(GVI_ENV="production", GVI_AUDIT_DATA_DIR=tmp_path))
    with pytest.raises(ConfigError, match="does not exist"):
        load_key(CheckpointerSettings(GVI_ENV="development",
                                      GVI_AUDIT_SIGNING_KEY_FILE=tmp_path / "none.pem"))
    generated = load_key(CheckpointerSettings(GVI_ENV="development", GVI_AUDIT_DATA_DIR=tmp_path))
    assert (tmp_path / "signing-key.pem").stat().st_mode & 0o077 == 0
    again = load_key(CheckpointerSettings(GVI_ENV="development", GVI_AUDIT_DATA_DIR=tmp_path))
    assert again.key_id == generated.key_id
    assert load_public_keys(tmp_path / "signing-key.pub").ids() == [generated.key_id]


def test_key_files_round_trip_and_are_never_overwritten(tmp_path: Path) -> None:
    key = generate_key_file(tmp_path / "k.pem")
    assert load_signing_key(tmp_path / "k.pem").key_id == key.key_id
    with pytest.raises(FileExistsError):
        generate_key_file(tmp_path / "k.pem")
    (tmp_path / "keys.pub").write_text(f"# rotation\n{public_line(key.public)}\n")
    assert key.key_id in load_public_keys(tmp_path / "keys.pub")
    pem = key.public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    other = generate_key_file(tmp_path / "other.pem")
    (tmp_path / "mixed.pub").write_text(f"{pem}\n{public_line(other.public)}\n")
    assert load_public_keys(tmp_path / "mixed.pub").ids() == sorted([key.key_id, other.key_id])
    (tmp_path / "bad.pub").write_text("ed25519 not-base64!\n")
    with pytest.raises(ConfigError, match="line 1"):
        load_public_keys(tmp_path / "bad.pub")


def test_times_need_an_offset_and_a_date_means_its_end() -> None:
    assert parse_time("2024-03-01") == datetime(2024, 3, 1, 23, 59, 59, 999999, tzinfo=UTC)
    assert parse_time("2024-03-01T12:00:00+01:00") == datetime(2024, 3, 1, 11, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError, match="offset"):
        parse_time("2024-03-01T12:00:00")


def test_replay_decodes_a_record_exactly_as_the_contract_parses_it() -> None:
    import json
    from types import SimpleNamespace

    from services.audit.library.replay import decode_fact
    from services.contracts import parse_event
    from tests.examples import event_types, example_event

    for event_type in event_types():
        raw = {**example_event(event_type), "recordedtime": "2024-03-02T00:00:00Z", "agency": "police"}
        value = json.dumps(raw).encode()
        fact = decode_fact(SimpleNamespace(value=value, topic="t", partition=1, offset=7))
        event = parse_event(raw, allow_intake_attributes=True)
        assert fact is not None and (fact.type, fact.data, fact.time, fact.recordedtime, fact.agency) == (
            event.type, event.data, event.time, event.recordedtime, event.agency)
        assert type(fact.data) is type(event.data) and (fact.topic, fact.offset) == ("t", 7)
    bad = {**example_event("gvi.sanction.recorded.v1"), "recordedtime": "2024-03-02T00:00:00Z"}
    bad["data"]["kind"] = "flogging"
    for value in (json.dumps(bad).encode(), b"not json", b'{"type": "gvi.unknown.v1"}', None):
        assert decode_fact(SimpleNamespace(value=value, topic="t", partition=0, offset=0)) is None
