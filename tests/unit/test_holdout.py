from __future__ import annotations

import pytest

from arena.holdout import is_holdout


class TestHoldout:
    def test_deterministic_with_known_values(self) -> None:
        ids = [f"event-{i}" for i in range(50)]
        first = [is_holdout(i, 20) for i in ids]
        assert first == [is_holdout(i, 20) for i in ids]
        # Pinned values: a change of hash would silently reshuffle train and holdout.
        assert [is_holdout(f"event-{i}", 50) for i in range(8)] == EXPECTED_50

    def test_share_is_close_to_percent(self) -> None:
        ids = [f"{i:032x}" for i in range(20_000)]
        for percent in (0, 10, 20, 90, 100):
            share = sum(is_holdout(i, percent) for i in ids) / len(ids)
            assert abs(share - percent / 100) < 0.01, (percent, share)

    def test_larger_percent_only_adds_events(self) -> None:
        ids = [str(i) for i in range(2000)]
        assert all(is_holdout(i, 30) for i in ids if is_holdout(i, 10))

    def test_invalid_percent(self) -> None:
        with pytest.raises(ValueError):
            is_holdout("x", 101)


EXPECTED_50 = [True, False, True, False, True, False, False, True]
