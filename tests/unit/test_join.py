from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from arena.join import EventPosition, LabelJoiner
from trainer.service import committable


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pos(offset: int, partition: int = 0) -> EventPosition:
    return EventPosition("arena.images", partition, offset)


def img(value: int = 0) -> NDArray[np.uint8]:
    return np.full((4, 4), value, dtype=np.uint8)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def joiner(clock: FakeClock) -> LabelJoiner:
    return LabelJoiner(ttl_s=60, capacity=3, clock=clock, keep_expired_ids=2)


def test_inline_label_is_labeled_immediately(joiner: LabelJoiner) -> None:
    ex = joiner.add_image("e1", pos(7), img(3), label=4)
    assert ex is not None
    assert (ex.event_id, ex.position, ex.label) == ("e1", pos(7), 4)
    assert ex.image[0, 0] == 3
    s = joiner.stats
    assert (s.joined, s.inline, s.late_joined, s.images_waiting) == (1, 1, 0, 0)


def test_image_then_late_label(joiner: LabelJoiner) -> None:
    assert joiner.add_image("e1", pos(1), img(), None) is None
    assert joiner.stats.images_waiting == 1
    ex = joiner.add_label("e1", 9)
    assert ex is not None
    assert (ex.event_id, ex.position, ex.label) == ("e1", pos(1), 9)
    s = joiner.stats
    assert (s.joined, s.late_joined, s.images_waiting, s.labels_waiting) == (1, 1, 0, 0)


def test_label_before_image(joiner: LabelJoiner) -> None:
    assert joiner.add_label("e1", 2) is None
    assert joiner.stats.labels_waiting == 1
    ex = joiner.add_image("e1", pos(5), img(), None)
    assert ex is not None
    assert (ex.label, ex.position) == (2, pos(5))
    s = joiner.stats
    assert (s.joined, s.late_joined, s.labels_waiting) == (1, 1, 0)


def test_labels_join_only_their_own_image(joiner: LabelJoiner) -> None:
    joiner.add_image("a", pos(1), img(1), None)
    joiner.add_image("b", pos(2), img(2), None)
    ex = joiner.add_label("b", 5)
    assert ex is not None and ex.event_id == "b" and ex.image[0, 0] == 2
    assert joiner.stats.images_waiting == 1


def test_duplicates_keep_the_first_and_are_counted(joiner: LabelJoiner) -> None:
    joiner.add_image("e1", pos(1), img(), None)
    assert joiner.add_image("e1", pos(99), img(), None) is None  # redelivered while pending
    ex = joiner.add_label("e1", 3)
    assert ex is not None and ex.position == pos(1)
    assert joiner.add_label("e1", 8) is None  # label repeated after the join
    assert joiner.add_image("e1", pos(1), img(), 3) is None  # image repeated after the join
    joiner.add_label("e2", 1)
    assert joiner.add_label("e2", 2) is None  # label repeated while pending
    ex2 = joiner.add_image("e2", pos(2), img(), None)
    assert ex2 is not None and ex2.label == 1
    s = joiner.stats
    assert s.duplicates == 4
    assert s.joined == 2


def test_ttl_expiry_counts_unmatched_labels_and_keeps_their_ids(
    joiner: LabelJoiner, clock: FakeClock
) -> None:
    joiner.add_label("l1", 1)
    joiner.add_label("l2", 1)
    joiner.add_image("i1", pos(1), img(), None)
    clock.now += 30
    joiner.add_label("l3", 1)
    clock.now += 30  # l1, l2, i1 are now exactly ttl old; l3 is 30 s old
    joiner.expire()
    s = joiner.stats
    assert (s.labels_expired, s.images_expired_unlabeled) == (2, 1)
    assert (s.labels_waiting, s.images_waiting) == (1, 0)
    assert joiner.expired_label_ids == ["l1", "l2"]
    # An image arriving after its label expired just waits: the label is gone, not joined.
    assert joiner.add_image("l1", pos(2), img(), None) is None
    clock.now += 31
    joiner.expire()
    assert joiner.stats.labels_expired == 3
    assert joiner.expired_label_ids == ["l2", "l3"]  # bounded to the last 2


def test_expire_keeps_fresh_entries(joiner: LabelJoiner, clock: FakeClock) -> None:
    joiner.add_label("l1", 1)
    clock.now += 59
    joiner.expire()
    assert joiner.stats.labels_waiting == 1
    assert joiner.add_image("l1", pos(1), img(), None) is not None


def test_capacity_evicts_the_oldest_and_counts_it(joiner: LabelJoiner) -> None:
    for i in range(5):
        joiner.add_label(f"l{i}", i)
        joiner.add_image(f"i{i}", pos(i), img(), None)
    s = joiner.stats
    assert (s.labels_waiting, s.images_waiting) == (3, 3)
    assert (s.labels_expired, s.images_expired_unlabeled, s.evicted) == (2, 2, 4)
    assert joiner.expired_label_ids == ["l0", "l1"]
    assert joiner.add_image("l0", pos(10), img(), None) is None  # evicted: no join
    assert joiner.add_image("l4", pos(11), img(), None) is not None  # still waiting: joins


def test_joined_ids_expire_so_memory_stays_bounded(joiner: LabelJoiner, clock: FakeClock) -> None:
    joiner.add_image("e1", pos(1), img(), 1)
    clock.now += 61
    joiner.expire()
    # After the ttl, a redelivered id is treated as new rather than remembered forever.
    assert joiner.add_image("e1", pos(1), img(), 1) is not None
    assert joiner.stats.duplicates == 0


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        LabelJoiner(ttl_s=0, capacity=1)
    with pytest.raises(ValueError):
        LabelJoiner(ttl_s=1, capacity=0)


def test_pending_floor_is_the_oldest_waiting_record_per_partition() -> None:
    joiner = LabelJoiner(ttl_s=60, capacity=100, clock=lambda: 0.0)
    img = np.zeros((2, 2), np.float32)
    joiner.add_image("a", EventPosition("images", 0, 10), img, None)
    joiner.add_image("b", EventPosition("images", 0, 12), img, None)
    joiner.add_image("c", EventPosition("images", 1, 3), img, None)
    joiner.add_label("z", 4, EventPosition("labels", 0, 7))
    assert joiner.pending_floor() == {("images", 0): 10, ("images", 1): 3, ("labels", 0): 7}
    joiner.add_label("a", 1, EventPosition("labels", 0, 8))  # joins a: 12 is now the oldest
    assert joiner.pending_floor()[("images", 0)] == 12
    joiner.add_image("z", EventPosition("images", 1, 4), img, None)  # joins the label z
    assert ("labels", 0) not in joiner.pending_floor()


def test_trainer_commits_no_further_than_a_record_waiting_for_its_join() -> None:
    seen = {("images", 0): 20, ("images", 1): 5, ("labels", 0): 9}
    floor = {("images", 0): 10, ("labels", 0): 9}
    offsets = {(tp.topic, tp.partition): tp.offset for tp in committable(seen, floor)}
    assert offsets == {("images", 0): 10, ("images", 1): 6, ("labels", 0): 9}
