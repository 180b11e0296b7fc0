"""`gvi-audit`'s entry point: which commands start the shards' fork server before the code is imported."""

from __future__ import annotations

import pytest

from services.audit.command import replays_in_shards


@pytest.mark.parametrize("argv", [["replay"], ["replay", "--out", "x.jsonl"], ["replay", "--readers", "2"],
                                  ["--no-progress", "replay", "--as-of", "2024-01-01"]])
def test_a_replay_in_shards_starts_the_fork_server_first(argv: list[str]) -> None:
    assert replays_in_shards(argv)


@pytest.mark.parametrize("argv", [["verify"], ["explain", "grp-1"], ["export", "--format", "csv"],
                                  ["replay", "--in-one-process"], ["replay", "--readers", "1"],
                                  ["replay", "--readers=1"], ["replay", "--help"], []])
def test_other_commands_start_no_fork_server(argv: list[str]) -> None:
    assert not replays_in_shards(argv)
