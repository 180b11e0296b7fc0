"""How the log is split over reader processes, and how a reader process's failure reaches the auditor."""

from __future__ import annotations

import socket

import pytest

from services.audit.library.errors import BrokerUnreachable
from services.audit.library.kafka_log import TopicPartition
from services.audit.library.readers import _read_in_processes, balanced_shares
from services.infra.kafka_security import PLAINTEXT

pytestmark = pytest.mark.unit


def test_partitions_are_shared_by_size_and_empty_ones_are_left_out() -> None:
    sizes = {"a": 900, "b": 500, "c": 400, "d": 0, "e": 100}
    ends = {TopicPartition(t, 0): n for t, n in sizes.items()}
    shares = balanced_shares(list(ends), ends, 2)
    assert sorted(sorted(tp.topic for tp in share) for share in shares) == [["a", "e"], ["b", "c"]]
    assert balanced_shares(list(ends), ends, 9) == [[TopicPartition(t, 0)] for t in "abce"]  # one each
    assert balanced_shares(list(ends), ends, 1) == [[TopicPartition(t, 0) for t in "abce"]]
    assert balanced_shares([TopicPartition("d", 0)], ends, 4) == [[]]


def test_a_reader_process_that_cannot_reach_kafka_fails_the_read_with_its_own_one_line_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    shares = [[TopicPartition("incidents", 0)], [TopicPartition("incidents", 1)]]
    ends = {tp: 10 for share in shares for tp in share}
    with pytest.raises(BrokerUnreachable, match=f"127.0.0.1:{port}"):
        list(_read_in_processes(f"127.0.0.1:{port}", shares, ends, security=PLAINTEXT, timeout_s=1.0,
                                progress=None))



def test_an_error_a_helper_process_reports_is_raised_as_the_same_kind() -> None:
    from services.audit.library import errors

    unreachable = errors.reported(*errors.report(errors.BrokerUnreachable("no broker"), "a reader process"))
    assert type(unreachable) is errors.BrokerUnreachable and str(unreachable) == "no broker"
    other = errors.reported(*errors.report(KeyError("x"), "a reader process"))
    assert type(other) is errors.AuditError
    assert str(other) == "a reader process failed: KeyError: 'x'"
    assert type(errors.reported("report", "not an error class")) is errors.AuditError
