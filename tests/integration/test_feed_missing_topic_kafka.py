"""A missing topic, read through `services.infra.feed` on the real broker: `MissingTopic` (still a
`KafkaError`), which the processor's reads of its derived topics turn into 'create the topics first'."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaError

from services.infra.feed import MissingTopic, read_to_end
from services.sanctions.processor import recovery


async def test_a_missing_topic_is_told_apart_from_a_broker_that_does_not_answer(kafka_bootstrap: str) -> None:
    with pytest.raises(MissingTopic, match="no-such-topic-either") as raised:
        async for _ in read_to_end(kafka_bootstrap, ["no-such-topic-either"], client_id="test"):
            pass
    assert isinstance(raised.value, KafkaError)


async def test_the_processor_says_to_create_a_missing_derived_topic(kafka_bootstrap: str) -> None:
    with pytest.raises(RuntimeError, match="'no-such-derived-topic' does not exist: create the topics first"):
        await recovery.read_to_end(kafka_bootstrap, "no-such-derived-topic")
