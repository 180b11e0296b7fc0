"""The receipt ledger: one receipt per (source, id) across every source topic, and the same copy the
stream processor counts when two intakes wrote one id."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from services.intake.ledger import Receipt, ReceiptLedger

REGISTERED = Receipt(id="x1", source="/agencies/police", type="gvi.group.registered.v1",
                     topic="notifications", partition=2, offset=40,
                     recordedtime="2020-05-01T12:00:00.250000Z", key="norra", digest="sha256:aaa")


def test_a_receipt_of_any_source_topic_answers_for_its_source_and_id() -> None:
    ledger = ReceiptLedger()
    sanction = replace(REGISTERED, id="s1", type="gvi.sanction.recorded.v1", topic="sanctions")
    ledger.add([REGISTERED, sanction])
    assert ledger.get("/agencies/police", "x1") == REGISTERED
    assert ledger.get("/agencies/police", "s1") == sanction
    assert ledger.get("/agencies/prosecutor", "x1") is None, "another source's id is its own"
    assert len(ledger) == 2


def test_of_two_copies_of_one_id_the_one_recorded_first_is_kept_whatever_order_they_are_read() -> None:
    later = replace(REGISTERED, type="gvi.incident.reported.v1", topic="incidents", partition=0, offset=3,
                    recordedtime="2020-05-01T12:00:00.300000Z", digest="sha256:bbb")
    # an isoformat without microseconds sorts after one with them as text, not as a time
    earlier = replace(later, recordedtime="2020-05-01T12:00:00Z")
    for copies, kept in (([REGISTERED, later], REGISTERED), ([later, REGISTERED], REGISTERED),
                         ([REGISTERED, earlier], earlier), ([earlier, REGISTERED], earlier)):
        ledger = ReceiptLedger()
        for copy in copies:
            ledger.add([copy])
        assert ledger.get("/agencies/police", "x1") == kept, copies


def test_copies_recorded_at_the_same_moment_keep_the_earlier_log_position() -> None:
    other = replace(REGISTERED, topic="incidents", offset=1)
    for copies in ([REGISTERED, other], [other, REGISTERED]):
        ledger = ReceiptLedger()
        ledger.add(copies)
        # "incidents" sorts before "notifications", as the processor orders copies
        assert ledger.get("/agencies/police", "x1") == other


def test_the_same_receipt_read_again_changes_nothing() -> None:
    ledger = ReceiptLedger()
    ledger.add([REGISTERED])
    ledger.add([replace(REGISTERED)])
    assert ledger.get("/agencies/police", "x1") == REGISTERED and len(ledger) == 1


def test_a_claim_holds_its_ids_until_released() -> None:
    async def scenario() -> list[str]:
        ledger, order = ReceiptLedger(), []
        first = await ledger.claim([("/agencies/police", "x1")])

        async def second() -> None:
            token = await ledger.claim([("/agencies/police", "x1"), ("/agencies/police", "x2")])
            order.append("second")
            ledger.release(token)

        waiting = asyncio.create_task(second())
        await asyncio.sleep(0)
        order.append("first")
        ledger.release(first)
        await waiting
        return order

    assert asyncio.run(scenario()) == ["first", "second"]
