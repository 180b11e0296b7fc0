"""Replay in shards (`services.audit.shards`): the shards' lines are the whole log's document, or
the shards say they cannot give it (and the replay runs in one piece)."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devtools.bench.audit import make_log
from services.audit.replay import bulk, decode_fact, state_lines
from services.audit.shards import (
    Shard,
    ShardCheck,
    decode_facts,
    decode_parts,
    disagreement,
    encode_facts,
    encode_parts,
    group_lines,
    owner_function,
)
from services.contracts import CloudEvent
from services.contracts.topics import owner_of, partition_key
from services.sanctions.domain import Fact
from services.sanctions.domain.records import key_partition
from tests.unit.domain import builders as b
from tests.unit.domain.test_domain_properties import PROPERTY, WINDOW, deliveries, scenarios

pytestmark = pytest.mark.unit


def whole_document(facts: list[Fact]) -> bytes:
    *lines, _ = state_lines(list(facts), window_days=WINDOW)
    return b"".join(lines)


def sharded_document(shards_facts: list[list[Fact]], partitions: int | None) -> bytes | None:
    """What the replay's shard processes do, in one process, every crossing encoded and decoded as
    over their pipes."""
    if disagreement([ShardCheck.of(facts) for facts in shards_facts]) is not None:
        return None
    count = len(shards_facts)
    shards = [Shard(facts) for facts in shards_facts]
    sent = [decode_facts(encode_facts(shard.memberships())) for shard in shards]
    owner = owner_function(count, partitions)
    pieces: dict[int, list[dict]] = defaultdict(list)
    for i, shard in enumerate(shards):
        memberships = [m for j, ms in enumerate(sent) for m in (shard.memberships() if i == j else ms)]
        for dest, parts in shard.parts(memberships, owner).items():
            pieces[dest].append(parts if dest == i else decode_parts(encode_parts(parts)))
    lines = []
    for dest, received in pieces.items():
        mine = list(group_lines(received, WINDOW))
        assert [g for g, _ in mine] == sorted(g for g, _ in mine)
        assert all(owner(g) == dest for g, _ in mine)
        lines += mine
    return b"".join(line for _, line in sorted(lines))


def split(facts: list[Fact], keys: list[bytes], partitions: int, shards: int) -> list[list[Fact]]:
    """As the shard processes read them: partition by key, then partition number p to shard
    p % shards."""
    out: list[list[Fact]] = [[] for _ in range(shards)]
    for fact, key in zip(facts, keys, strict=True):
        out[key_partition(key, partitions) % shards].append(fact)
    return out


def logged(events: list[CloudEvent]) -> tuple[list[Fact], list[bytes]]:
    """The facts of `events` as the intakes would have written them: each on its service's topic
    under its key, a retraction under the key of the event it retracts (its source's own)."""
    by_key = {(e.source, e.id): e for e in events if e.type != "gvi.event.retracted.v1"}
    facts, keys = [], []
    for offset, event in enumerate(events):
        target = event
        if event.type == "gvi.event.retracted.v1":
            found = by_key.get((event.source, event.data.retracted_event_id))  # type: ignore[union-attr]
            if found is None:
                continue  # the intake takes no retraction of an event it does not have
            target = found
        service = owner_of(target.type)
        assert service is not None
        key = partition_key(target)
        facts.append(Fact.from_event(event, topic=service.topic, partition=key_partition(key.encode(), 3),
                                     offset=offset))
        keys.append(key.encode())
    return facts, keys


@pytest.mark.parametrize(("partitions", "shards", "aligned"), [(3, 3, True), (3, 2, True), (4, 2, True),
                                                                (3, 3, False), (1, 1, True)])
def test_shards_give_the_whole_logs_document_for_a_long_synthetic_log(partitions: int, shards: int,
                                                                      aligned: bool) -> None:
    log = list(make_log(6000, seed=11))
    records = [SimpleNamespace(topic=topic, partition=0, offset=i, value=value)
               for i, (topic, _, value) in enumerate(log)]
    facts = [f for r in records if (f := decode_fact(r)) is not None]
    with bulk():
        got = sharded_document(split(facts, [key for _, key, _ in log], partitions, shards),
                               partitions if aligned else None)
        assert got is not None
        assert got == whole_document(facts)
        assert got.count(b"\n") == 10  # every group of the log


@given(scenarios().flatmap(deliveries), st.sampled_from([(3, 3), (3, 2), (6, 3), (5, 2)]))
@PROPERTY
def test_shards_of_any_scenario_give_the_whole_document(events: list[CloudEvent],
                                                       shape: tuple[int, int]) -> None:
    facts, keys = logged(events)
    partitions, shards = shape
    got = sharded_document(split(facts, keys, partitions, shards), partitions)
    assert got == whole_document(facts)


@given(scenarios().flatmap(deliveries), st.data())
@PROPERTY
def test_shards_split_any_which_way_give_the_whole_document_or_decline(events: list[CloudEvent],
                                                                       data: st.DataObject) -> None:
    facts, _ = logged(events)
    picks = data.draw(st.lists(st.integers(0, 2), min_size=len(facts), max_size=len(facts)))
    shards: list[list[Fact]] = [[], [], []]
    for fact, pick in zip(facts, picks, strict=True):
        shards[pick].append(fact)
    got = sharded_document(shards, None)
    assert got is None or got == whole_document(facts)


def test_disagreement_names_what_is_in_two_shards() -> None:
    incident = b.incident("rep1", "i1", 2, ["g1"])
    retracted = b.sanction("s1", 4, group="g1")

    def facts(*events: CloudEvent) -> list[Fact]:
        return [Fact.from_event(e) for e in events]

    def check(*shards: list[Fact]) -> str | None:
        return disagreement([ShardCheck.of(s) for s in shards])

    assert check(facts(incident, retracted), facts(b.warning("w1", "g1", 1))) is None
    assert check(facts(incident), facts(incident)) == "an event (source and id) in more than one partition"
    assert check(facts(incident), facts(b.attribution("a1", "i1", 3, ["g2"], []))) == (
        "an incident's events in more than one partition")
    assert check(facts(b.scheduled("c1s", "c1", 1, ["g1"])), facts(b.held("c1h", "c1", 2))) == (
        "a call-in's events in more than one partition")
    assert check(facts(retracted), facts(b.retraction("x1", "s1", 5))) == (
        "a retraction in another partition than the event it retracts")
    for shards in ([facts(b.retraction("x1", "s1", 5)), facts(retracted)],  # the event in the last shard
                   [facts(incident), facts(retracted), facts(b.retraction("x1", "s1", 5))],
                   [facts(b.retraction("x1", "s1", 5)), facts(incident), facts(retracted)]):
        assert check(*shards) == "a retraction in another partition than the event it retracts"
    assert check(facts(retracted, b.retraction("x1", "s1", 5)), facts(incident)) is None


@pytest.mark.parametrize(("partitions", "readers", "count"), [(3, 2, 3), (12, 2, 2), (12, 5, 6), (7, 2, 2),
                                                               (3, 9, 3), (1, 2, 1), (4, 4, 4), (9, 2, 3)])
def test_shard_count_reads_as_many_partitions_in_each_shard_when_it_can(partitions: int, readers: int,
                                                                        count: int) -> None:
    from services.audit.sharding import shard_count

    assert shard_count(partitions, readers) == count
