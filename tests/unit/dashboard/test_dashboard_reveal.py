"""Sealed events on the dashboard (issue 20): the intakes seal person references and evidence before
Kafka, and the dashboard reveals them, through the key ring, to the roles that see persons only. An
analyst sees the clear references and the evidence; an operator sees nothing person-level; once a
person's key is shredded every page, the JSON API and the downloads show "erased" for them and
nothing of their reference or evidence, while the counts stay as they were. Events posted before
sealing existed (clear references) are shown as they are."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.contracts import CloudEvent, parse_event
from services.dashboard.app import Adapters, create_app
from services.dashboard.ports import FixedAuditTrail, MemoryAccessLog
from services.dashboard.settings import DashboardSettings
from services.privacy.sealing import person_refs, seal
from services.privacy.store import MemoryKeyStore
from tests.examples import example_event
from tests.unit.dashboard.pipeline import Pipeline
from tests.unit.dashboard.test_dashboard_brief import PEOPLE, scenario_events
from tests.unit.dashboard.test_dashboard_http import USERS, Clock, Harness
from tests.unit.domain import builders as b

EVIDENCE = example_event("gvi.membership.assessed.v1")["data"]["evidence"]
"""The evidence of the example membership (m1 of PEOPLE[1], and m0)."""
OTHER_EVIDENCE = "Named by two independent sources in the spring"
OLD = "pol:p-before-sealing"
"""A person named by an event posted before the intakes sealed."""

PERSON_PAGES = ("/group-audit", "/groups/norra", "/call-ins/ci-1", "/exit-programme")
PERSON_API = ("/api/group-audit/memberships", "/api/groups/norra/people", "/api/call-ins/ci-1/people",
              "/api/exit-programme/people")


def sealed(store: MemoryKeyStore, *events: CloudEvent) -> list[CloudEvent]:
    """The events as an intake publishes them: sealed with each person's key."""
    out = []
    for event in events:
        raw = json.loads(event.to_json())
        keys = asyncio.run(store.keys_for(person_refs(raw)))
        out.append(parse_event(seal(raw, keys), allow_intake_attributes=True))
    return out


def _events() -> list[CloudEvent]:
    """The brief's scenario, with a second membership (PEOPLE[3], other evidence) and an exit step of
    PEOPLE[1]: every person-level view names someone."""
    other = b.event("gvi.membership.assessed.v1", "m9", 40, {
        "person_ref": PEOPLE[3], "group_id": "norra", "valid_from": b.iso(40), "valid_until": b.iso(200),
        "evidence": OTHER_EVIDENCE})
    return [*scenario_events(), other, b.exit_milestone("x1", PEOPLE[1], "norra", 41, milestone="intake")]


class Sealed(Harness):
    store: MemoryKeyStore

    def pseudonym(self, ref: str) -> str:
        key = self.store.ring.key_for(ref)
        assert key is not None
        return key.pseudonym

    def shred(self, *refs: str) -> None:
        assert asyncio.run(self.store.shred([self.pseudonym(r) for r in refs]))

    def texts(self, role: str, lang: str = "en") -> list[str]:
        """Every person-level page and API answer as `role` gets it (whatever the status)."""
        headers = self.token(role)
        self.login(role)
        self.client.cookies.set("gvi_lang", lang)
        return ([self.client.get(p).text for p in PERSON_PAGES]
                + [self.client.get(p, headers=headers).text for p in PERSON_API]
                + [self.client.get("/api/call-ins/ci-1/brief", headers=headers).text,
                   self.client.get("/call-ins/ci-1/brief").text])


@pytest.fixture
def dash() -> Iterator[Sealed]:
    store, access, clock = MemoryKeyStore(), MemoryAccessLog(), Clock()

    async def ready() -> bool:
        return True

    settings = DashboardSettings(GVI_ENV="development", GVI_USERS_FILE=USERS)
    audit = FixedAuditTrail()
    app = create_app(settings, clock=clock,
                     adapters=Adapters(access_log=access, ready=ready, audit=audit, keys=store.ring))
    pipe = Pipeline(applier=app.state.applier)
    with TestClient(app) as client:
        harness = Sealed(client, access, clock, pipe, audit)
        harness.store = store
        pipe.post(*sealed(store, *_events()))
        pipe.post(b.membership("m0", OLD, "norra", 45, 250))   # posted before sealing: clear
        yield harness


def test_kafka_holds_pseudonyms_and_an_analyst_sees_the_clear_references_and_evidence(dash: Sealed) -> None:
    assert dash.pipe.model.sources.memberships()[0].data.person_ref == dash.pseudonym(PEOPLE[1])
    headers = dash.token("analyst")
    audit = dash.client.get("/api/group-audit/memberships", headers=headers).json()
    assert {(m["person_ref"], m["evidence"], m["erased"]) for m in audit["memberships"]} == {
        (PEOPLE[1], EVIDENCE, False), (PEOPLE[3], OTHER_EVIDENCE, False), (OLD, EVIDENCE, False)}
    assert [m["person_ref"] for m in audit["memberships"]] == sorted([PEOPLE[1], PEOPLE[3], OLD])
    people = dash.client.get("/api/groups/norra/people", headers=headers).json()
    assert [w["person_ref"] for w in people["warnings"]] == [PEOPLE[0]]
    assert {s["person_ref"] for s in people["support"]} == {PEOPLE[2]}
    call_in = dash.client.get("/api/call-ins/ci-1/people", headers=headers).json()
    assert {p["person_ref"] for p in call_in["people"]} == {PEOPLE[0], PEOPLE[3], PEOPLE[1]}
    exits = dash.client.get("/api/exit-programme/people", headers=headers).json()
    assert {p["person_ref"] for p in exits["people"]} == {PEOPLE[1], PEOPLE[2]}
    texts = dash.texts("analyst")
    shown = "".join(texts[:len(PERSON_PAGES)])
    assert all(p in shown for p in (*PEOPLE, OLD)) and EVIDENCE in shown and OTHER_EVIDENCE in shown
    assert not [t for t in texts if "psn-" in t or "[sealed]" in t]


def test_a_role_that_does_not_see_persons_sees_nothing_person_level(dash: Sealed) -> None:
    for role in ("operator", "auditor"):
        headers = dash.token(role)
        texts = [*dash.texts(role), dash.client.get("/api/groups/norra", headers=headers).text,
                 dash.client.get("/api/group-audit", headers=headers).text]
        leaked = [t for t in texts for secret in (*PEOPLE, OLD, EVIDENCE, OTHER_EVIDENCE) if secret in t]
        assert not leaked, role
        assert not [t for t in texts if "psn-" in t], role


def test_a_shredded_person_is_shown_erased_everywhere_and_the_counts_stay(dash: Sealed) -> None:
    headers = dash.token("operator")
    counts = dash.client.get("/api/group-audit", headers=headers).json()["groups"]
    exits = dash.client.get("/api/exit-programme", headers=headers).json()
    dash.shred(PEOPLE[1], PEOPLE[2])
    assert dash.client.get("/api/group-audit", headers=headers).json()["groups"] == counts
    assert dash.client.get("/api/exit-programme", headers=headers).json() == exits

    texts = dash.texts("analyst") + dash.texts("analyst", "sv")
    for secret in (PEOPLE[1], PEOPLE[2]):
        assert not [t for t in texts if secret in t], secret
    assert not [t for t in texts if "psn-" in t or "[sealed]" in t]
    half = len(texts) // 2
    english, swedish = "".join(texts[:len(PERSON_PAGES)]), "".join(texts[half:half + len(PERSON_PAGES)])
    assert "erased" in english and "raderad" in swedish
    assert PEOPLE[3] in english and OTHER_EVIDENCE in english and OLD in english  # the others as before

    analyst = dash.token("analyst")
    audit = dash.client.get("/api/group-audit/memberships", headers=analyst).json()
    assert [(m["person_ref"], m["evidence"], m["erased"]) for m in audit["memberships"]] == [
        (PEOPLE[3], OTHER_EVIDENCE, False), (OLD, EVIDENCE, False), (None, None, True)]
    assert EVIDENCE not in json.dumps(audit["memberships"][2])
    exit_people = dash.client.get("/api/exit-programme/people", headers=analyst).json()["people"]
    assert [(p["person_ref"], p["erased"]) for p in exit_people] == [(None, True), (None, True)]
    people = dash.client.get("/api/groups/norra/people", headers=analyst).json()
    assert [(s["person_ref"], s["erased"]) for s in people["support"]] == [(None, True), (None, True)]
    assert [(w["person_ref"], w["erased"]) for w in people["warnings"]] == [(PEOPLE[0], False)]
