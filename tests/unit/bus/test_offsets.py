from __future__ import annotations

import pytest

from arena.bus.offsets import first_offsets, next_offsets
from tests.unit.bus.fakes import FakeMessage


def _positions(tps: list) -> list[tuple[str, int, int]]:  # type: ignore[type-arg]
    return [(tp.topic, tp.partition, tp.offset) for tp in tps]


def test_next_offsets_is_highest_offset_plus_one_for_every_partition() -> None:
    batch = [
        FakeMessage("images", 0, 10),
        FakeMessage("images", 1, 3),
        FakeMessage("images", 0, 12),
        FakeMessage("labels", 0, 7),
        FakeMessage("images", 0, 11),
    ]
    assert _positions(next_offsets(batch)) == [
        ("images", 0, 13),
        ("images", 1, 4),
        ("labels", 0, 8),
    ]


def test_first_offsets_is_the_lowest_offset_of_every_partition() -> None:
    batch = [FakeMessage("images", 0, 12), FakeMessage("images", 0, 10), FakeMessage("a", 2, 5)]
    assert _positions(first_offsets(batch)) == [("a", 2, 5), ("images", 0, 10)]


def test_empty_batch_commits_nothing() -> None:
    assert next_offsets([]) == []


def test_message_without_position_is_refused() -> None:
    msg = FakeMessage("images", 0, 0)
    msg.offset_ = None  # type: ignore[assignment]
    with pytest.raises(ValueError, match="without a position"):
        next_offsets([msg])
