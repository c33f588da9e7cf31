from __future__ import annotations

import itertools

import numpy as np
import pytest

from arena.drift import Detection
from arena.join import EventPosition, LabeledExample
from storage.domain import OffsetRange
from trainer.replay import ReplayBuffer, TrainingLineage

T = "arena.images"


def example(offset: int, partition: int = 0, label: int | None = None) -> LabeledExample:
    image = np.full((2, 3), offset % 256, dtype=np.uint8)
    lab = offset % 10 if label is None else label
    return LabeledExample(f"e{partition}-{offset}", EventPosition(T, partition, offset), image, lab)


def lineage(*offsets: int, partition: int = 0, topic: str = T) -> TrainingLineage:
    return TrainingLineage(EventPosition(topic, partition, o) for o in offsets)


class TestTrainingLineage:
    def test_contiguous_offsets_merge_in_any_order(self) -> None:
        assert lineage(5, 3, 4, 7, 6).ranges() == (OffsetRange(T, 0, 3, 7),)

    def test_gaps_stay_gaps(self) -> None:
        assert lineage(1, 2, 4, 9, 10).ranges() == (
            OffsetRange(T, 0, 1, 2),
            OffsetRange(T, 0, 4, 4),
            OffsetRange(T, 0, 9, 10),
        )

    def test_filling_a_gap_joins_both_sides(self) -> None:
        lin = lineage(1, 2, 4, 5)
        lin.add(EventPosition(T, 0, 3))
        assert lin.ranges() == (OffsetRange(T, 0, 1, 5),)

    def test_repeats_and_overlaps_are_idempotent(self) -> None:
        lin = lineage(1, 2, 3, 2, 1, 3)
        assert lin.ranges() == (OffsetRange(T, 0, 1, 3),)
        assert len(lin) == 3

    def test_partitions_and_topics_never_merge(self) -> None:
        lin = TrainingLineage(
            [
                EventPosition(T, 1, 5),
                EventPosition(T, 0, 6),
                EventPosition(T, 0, 5),
                EventPosition("other", 0, 7),
                EventPosition(T, 1, 6),
            ]
        )
        assert lin.ranges() == (
            OffsetRange(T, 0, 5, 6),
            OffsetRange(T, 1, 5, 6),
            OffsetRange("other", 0, 7, 7),
        )

    def test_matches_a_brute_force_set_on_random_offsets(self) -> None:
        rng = np.random.default_rng(1)
        offsets = [int(o) for o in rng.integers(0, 300, size=200)]
        lin = lineage(*offsets)
        covered = {o for r in lin.ranges() for o in range(r.first, r.last + 1)}
        assert covered == set(offsets)
        ranges = lin.ranges()
        # Minimal: consecutive ranges are separated by at least one missing offset.
        assert all(b.first > a.last + 1 for a, b in itertools.pairwise(ranges))


class TestReplayBuffer:
    def test_sizes_window_plus_reservoir(self) -> None:
        buf = ReplayBuffer(window_size=10, reservoir_size=5, seed=0)
        for i in range(8):
            buf.add(example(i))
        assert len(buf) == 8
        for i in range(8, 100):
            buf.add(example(i))
        assert len(buf) == 15
        ts = buf.training_set()
        window = [p.offset for p in ts.positions[-10:]]
        assert window == list(range(90, 100))
        assert all(p.offset < 90 for p in ts.positions[:5])

    def test_zero_reservoir_keeps_only_the_window(self) -> None:
        buf = ReplayBuffer(window_size=3, reservoir_size=0, seed=0)
        for i in range(10):
            buf.add(example(i))
        assert [p.offset for p in buf.training_set().positions] == [7, 8, 9]

    def test_training_set_arrays(self) -> None:
        buf = ReplayBuffer(window_size=4, reservoir_size=0, seed=0)
        for i in range(3):
            buf.add(example(i, label=i + 1))
        images, labels, positions, _ = buf.training_set()
        assert images.shape == (3, 2, 3) and images.dtype == np.float32
        assert labels.dtype == np.int64 and labels.tolist() == [1, 2, 3]
        assert images[2, 0, 0] == 2.0
        assert [p.offset for p in positions] == [0, 1, 2]

    def test_empty_training_set(self) -> None:
        ts = ReplayBuffer(window_size=4, reservoir_size=4, seed=0).training_set()
        assert len(ts.labels) == 0 and ts.positions == () and ts.ranges() == ()

    def test_training_set_ranges_cover_exactly_its_examples(self) -> None:
        buf = ReplayBuffer(window_size=20, reservoir_size=10, seed=3)
        for i in range(200):
            buf.add(example(i // 2, partition=i % 2))
        ts = buf.training_set()
        ranges = ts.ranges()
        covered = {(r.partition, o) for r in ranges for o in range(r.first, r.last + 1)}
        assert covered == {(p.partition, p.offset) for p in ts.positions}
        assert len(covered) == 30
        # The window is contiguous per partition; the reservoir's old picks stay separate.
        assert OffsetRange(T, 0, 90, 99) in ranges
        assert OffsetRange(T, 1, 90, 99) in ranges
        assert sum(1 for _, offset in covered if offset < 90) == 10

    def test_positions_covered_is_what_was_ingested_since_mark_trained(self) -> None:
        buf = ReplayBuffer(window_size=2, reservoir_size=0, seed=0)
        for i in range(5):
            buf.add(example(i))
        assert buf.positions_covered() == [OffsetRange(T, 0, 0, 4)]
        buf.mark_trained()
        assert buf.positions_covered() == []
        buf.add(example(9))
        assert buf.positions_covered() == [OffsetRange(T, 0, 9, 9)]
        # Lineage of the next fine-tune is the training set, not the ingestion period.
        assert buf.training_set().ranges() == (OffsetRange(T, 0, 4, 4), OffsetRange(T, 0, 9, 9))

    def test_reservoir_is_approximately_uniform_over_evicted_examples(self) -> None:
        window, k, total, trials = 10, 20, 210, 400
        evicted = total - window  # offsets 0..199 leave the window
        hits = np.zeros(evicted)
        for seed in range(trials):
            buf = ReplayBuffer(window_size=window, reservoir_size=k, seed=seed)
            for i in range(total):
                buf.add(example(i))
            ts = buf.training_set()
            for p in ts.positions[:k]:
                hits[p.offset] += 1
        rate = hits / trials  # each evicted example should be kept with probability k/n = 0.1
        quarters = rate.reshape(4, -1).mean(axis=1)
        assert np.allclose(quarters, k / evicted, atol=0.02), quarters
        assert rate.min() > 0.02 and rate.max() < 0.2

    def test_seed_makes_the_reservoir_reproducible(self) -> None:
        def run(seed: int) -> tuple[int, ...]:
            buf = ReplayBuffer(window_size=5, reservoir_size=5, seed=seed)
            for i in range(100):
                buf.add(example(i))
            return tuple(p.offset for p in buf.training_set().positions)

        assert run(7) == run(7)
        assert run(7) != run(8)

    def test_invalid_sizes(self) -> None:
        with pytest.raises(ValueError):
            ReplayBuffer(window_size=0, reservoir_size=1, seed=0)
        with pytest.raises(ValueError):
            ReplayBuffer(window_size=1, reservoir_size=-1, seed=0)


class TestDriftWindow:
    @staticmethod
    def drift_at(offset: int) -> Detection:
        return Detection(
            detector="adwin:input_mean",
            statistic="input_mean",
            before=0.1,
            after=0.9,
            labeled=False,
            boundary={(T, 0): offset},
            samples_since_change=10,
            position=EventPosition(T, 0, offset + 10),
        )

    def test_the_window_keeps_only_post_drift_examples(self) -> None:
        buf = ReplayBuffer(window_size=100, reservoir_size=100, seed=0, replay_fraction=0.5)
        for i in range(50):
            buf.add(example(i))
        buf.begin_drift(self.drift_at(40))
        assert buf.recovering and buf.post_drift == 10
        buf.add(example(12))  # a late label of a pre-drift photo
        assert buf.post_drift == 10
        for i in range(50, 150):
            buf.add(example(i))
        # 110 post-drift examples filled the window of 100: the recovery is over.
        assert not buf.recovering and buf.post_drift == 0

    def test_a_recovery_training_set_is_the_window_plus_a_capped_replay_sample(self) -> None:
        buf = ReplayBuffer(window_size=1_000, reservoir_size=500, seed=0, replay_fraction=0.5)
        for i in range(400):
            buf.add(example(i))
        buf.begin_drift(self.drift_at(300))
        ts = buf.training_set()
        offsets = [p.offset for p in ts.positions]
        post = [o for o in offsets if o >= 300]
        assert sorted(post) == list(range(300, 400)) and ts.post_drift == 100
        assert len(offsets) - len(post) == 50  # half of 100, from the 300 older ones
        assert len(set(offsets)) == len(offsets)

    def test_the_replay_sample_has_a_floor(self) -> None:
        buf = ReplayBuffer(window_size=1_000, reservoir_size=500, seed=0, replay_fraction=0.1)
        for i in range(200):
            buf.add(example(i))
        buf.begin_drift(self.drift_at(190))
        ts = buf.training_set()
        assert len(ts.labels) == 10 + ReplayBuffer.REPLAY_FLOOR

    def test_a_recovery_fit_takes_only_the_newest_post_drift_examples(self) -> None:
        buf = ReplayBuffer(
            window_size=5_000, reservoir_size=500, seed=0, replay_fraction=0.5, recovery_examples=40
        )
        for i in range(400):
            buf.add(example(i))
        buf.begin_drift(self.drift_at(300))
        ts = buf.training_set()
        post = sorted(p.offset for p in ts.positions if p.offset >= 300)
        assert post == list(range(360, 400)) and ts.post_drift == 40
        assert len(ts.labels) == 40 + ReplayBuffer.REPLAY_FLOOR  # max(32, 0.5 * 40)
