"""When a processor worker says it is ready, and alive (issue 18: it said ready while stalled)."""

from __future__ import annotations

from dataclasses import dataclass

from services.sanctions.processor.health import Health


@dataclass
class Ack:
    finished: bool = False

    def done(self) -> bool:
        return self.finished

    def cancelled(self) -> bool:
        return False

    def exception(self) -> BaseException | None:
        return None


def ready_worker(now: float = 0.0) -> Health:
    health = Health(max_pending=30, broker_timeout=15, liveness_bound=120)
    health.started(now)
    health.broker_answered(now)
    health.loaded = health.share_known = health.caught_up = True
    return health


def test_a_worker_is_ready_only_once_loaded_joined_and_caught_up() -> None:
    health = Health()
    health.started(0)
    health.broker_answered(0)
    assert health.readiness(1).reason == "loading the ledger from the fact store"
    health.loaded = True
    assert health.readiness(1).reason == "joining the publishers"
    health.share_known = True
    assert health.readiness(1).reason == "catching up with the source topics"
    health.caught_up = True
    assert health.readiness(1).ready


def test_partitions_taken_over_are_corrected_after_catching_up_before_the_worker_is_ready() -> None:
    health = ready_worker()
    health.caught_up, health.taking_over = False, True
    assert health.readiness(1).reason == "catching up with the source topics"
    health.caught_up = True
    assert health.readiness(1).reason == "correcting the group-state partitions it took over"
    health.taking_over = False
    assert health.readiness(1).ready


def test_a_worker_without_every_source_partition_is_not_ready_and_says_why() -> None:
    health = ready_worker()
    health.all_partitions = False
    readiness = health.readiness(1)
    assert not readiness.ready
    assert "every source partition" in readiness.reason


def test_an_unanswering_broker_makes_the_worker_not_ready_after_the_bound_and_ready_again() -> None:
    health = ready_worker()
    assert health.readiness(15).ready
    assert health.readiness(16).reason == "the broker has not answered for 16s"
    health.broker_answered(17)
    assert health.readiness(17).ready


def test_a_broker_that_never_answered_counts_from_the_start() -> None:
    health = Health()
    health.started(100)
    health.loaded = health.share_known = health.caught_up = True
    assert health.readiness(110).ready
    assert not health.readiness(116).ready


def test_an_output_waiting_too_long_for_its_acknowledgement_makes_the_worker_not_ready() -> None:
    health = ready_worker()
    stuck, quick = Ack(), Ack()
    health.sent(stuck, 10)
    health.sent(quick, 11)
    health.broker_answered(40)
    assert health.readiness(40).ready
    health.broker_answered(41)
    readiness = health.readiness(41)
    assert not readiness.ready
    assert readiness.reason == "an output has waited 31s for the broker's acknowledgement"
    assert readiness.body()["oldest_unacknowledged_output_seconds"] == 31
    stuck.finished = True
    assert health.oldest_unacknowledged(41) == 30  # the next one, sent at 11
    quick.finished = True
    assert health.readiness(41).ready
    assert health.pending() == []


def test_handled_records_must_have_their_offsets_committed_within_the_bound() -> None:
    health = ready_worker()
    health.handled("incidents-0", 100, now=1)
    health.handled("incidents-0", 200, now=20)
    health.handled("sanctions-1", 50, now=25)
    health.broker_answered(32)
    assert health.readiness(32).reason == "a handled record has waited 31s for its offset to be committed"
    health.committed({"incidents-0": 150})  # covers the first batch, not the second
    assert health.oldest_uncommitted(32) == 12
    health.committed({"incidents-0": 200, "sanctions-1": 50})
    assert health.oldest_uncommitted(32) == 0
    assert health.readiness(32).ready


def test_a_reassignment_forgets_what_was_handled_and_must_catch_up_again() -> None:
    health = ready_worker()
    health.handled("incidents-0", 100, now=1)
    health.forget()
    assert health.oldest_uncommitted(100) == 0
    assert not health.caught_up


def test_a_worker_is_dead_when_outputs_wait_past_the_liveness_bound_while_the_broker_answers() -> None:
    health = ready_worker()
    health.sent(Ack(), 0)
    health.broker_answered(119)
    assert health.alive(119)
    health.broker_answered(121)
    assert not health.alive(121)
    # while the broker does not answer, a restart would not help: alive
    assert health.alive(200)


def catching_up_worker() -> Health:
    health = ready_worker()
    health.caught_up = False
    return health


def test_a_fetch_returned_at_the_end_must_be_handled_and_acknowledged_before_the_worker_is_caught_up(
        ) -> None:
    # The consumer's position reaches the end when it returns the last fetch, a moment before the
    # worker handles it: taken over then, a group-state partition was corrected from a ledger that
    # lacked those records, and their alerts were withdrawn and raised again (issue 18).
    health = catching_up_worker()
    health.fetching()  # the last fetch: its records are not handled yet
    health.follow_catch_up(at_end=True)
    health.follow_catch_up(at_end=True)
    assert not health.caught_up, "caught up while the last fetch's records were still unhandled"
    sent = Ack()
    health.sent(sent, 1)  # its outputs
    health.fetching()  # handled: the consumer asks for the next fetch
    health.follow_catch_up(at_end=True)
    assert not health.caught_up, "caught up before the last fetch's outputs were acknowledged"
    sent.finished = True
    health.follow_catch_up(at_end=True)
    assert health.caught_up
    assert health.readiness(2).ready


def test_a_worker_not_yet_at_the_end_is_not_caught_up_however_many_fetches_it_makes() -> None:
    health = catching_up_worker()
    for _ in range(5):
        health.fetching()
        health.follow_catch_up(at_end=False)
    assert not health.caught_up
    assert health.readiness(1).reason == "catching up with the source topics"


def test_a_failed_output_sends_the_worker_back_to_catching_up() -> None:
    health = catching_up_worker()
    health.follow_catch_up(at_end=True)
    send = Send()
    health.sent(send, 1)
    health.fetching()
    health.follow_catch_up(at_end=True)  # waits for the send
    send.error = RuntimeError("the broker refused the batch")
    health.follow_catch_up(at_end=True)
    assert not health.caught_up  # the events are read again: catching up starts over
    health.follow_catch_up(at_end=True)
    health.fetching()
    health.follow_catch_up(at_end=True)
    health.follow_catch_up(at_end=True)
    assert health.caught_up


def test_a_reassignment_while_catching_up_starts_the_catch_up_again() -> None:
    health = catching_up_worker()
    health.follow_catch_up(at_end=True)
    health.fetching()
    health.forget()
    health.follow_catch_up(at_end=False)
    health.follow_catch_up(at_end=False)
    assert not health.caught_up


@dataclass
class Send:
    error: BaseException | None = None

    def done(self) -> bool:
        return self.error is not None

    def cancelled(self) -> bool:
        return False

    def exception(self) -> BaseException | None:
        return self.error
