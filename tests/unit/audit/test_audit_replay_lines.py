"""The replay's document, computed one group at a time, is the rules' own document."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from devtools.bench.audit import make_log
from services.audit.library.replay import bulk, decode_fact, state_lines
from services.contracts.group_state_records import states_document
from services.followthrough import derive

pytestmark = pytest.mark.unit


def test_state_lines_equal_the_states_document_of_derive_one_line_per_group() -> None:
    records = [SimpleNamespace(topic=topic, partition=0, offset=i, value=value)
               for i, (topic, _, value) in enumerate(make_log(6000, seed=11))]
    facts = [f for r in records if (f := decode_fact(r)) is not None]
    expected = derive(facts)
    with bulk():
        *lines, groups = state_lines(list(facts), window_days=365)
    assert b"".join(lines) == states_document(expected.groups)
    assert [line.count(b"\n") for line in lines] == [1] * len(lines)
    assert int(groups) == len(expected.groups) > 1


def test_an_id_an_agency_gave_to_a_support_offer_and_a_sanction_counts_once_as_in_the_processor() -> None:
    from datetime import timedelta

    from services.audit.library.decoding import decode_value
    from services.audit.library.replay import Cut, ReplayStats, read_facts
    from services.followthrough import Ledger
    from tests.unit.domain import builders as b

    support = b.event("gvi.support.offered.v1", "x-17", 3, {"group_id": "g1", "service": "housing"})
    sanction = b.sanction("x-17", 4, group="g1")  # the same source and id, another intake and topic
    events = [b.registered("r1", "g1", "Norra"), b.warning("w1", "g1", 1),
              b.incident("rep1", "i1", 2, ["g1"]), support.accepted(recordedtime=b.at(3), agency="police"),
              sanction.accepted(recordedtime=b.at(4) + timedelta(hours=1), agency="police")]
    batches = [("notifications", 0, list(range(4)),
                [decode_value(e.to_json(), "notifications", 0, i) for i, e in enumerate(events[:4])]),
               ("sanctions", 0, [0], [decode_value(events[4].to_json(), "sanctions", 0, 0)])]
    stats = ReplayStats()
    facts = list(read_facts(batches, Cut(), stats))
    *lines, _ = state_lines(facts, window_days=365)
    ledger = Ledger()
    ledger.apply_all(events)
    assert b"".join(lines) == states_document(ledger.derived().groups)
    [case] = ledger.derived().groups["g1"].cases
    assert case.sanction_ids == ()  # the support offer, accepted first, is the copy that counts
    assert stats.events == 5
