"""The replay's document, computed one group at a time, is the rules' own document."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from devtools.bench.audit import make_log
from services.audit.replay import bulk, decode_fact, state_lines
from services.sanctions.domain import derive
from services.sanctions.domain.records import states_document

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
