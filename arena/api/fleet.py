"""What the scorer fleet serves: each scorer's last status and the group's lag, cached briefly."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from arena.bus.compacted import latest_by_key
from arena.bus.lag import PartitionLag, consumer_lag
from arena.config import KafkaSettings
from arena.errors import InvalidEvent
from arena.events import ScorerStatus, decode_scorer_status, is_stale

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FleetState:
    scorers: list[ScorerStatus]  # by scorer id
    lag: list[PartitionLag]  # the scorers' group on the image topic
    heartbeat_s: float = 0.0  # the scorers' heartbeat interval as configured here; 0: none

    def stale_ids(self, now: int | None = None) -> frozenset[str]:
        """The scorers not heard from in 3 heartbeats at ``now`` (ms): stopped, cut off
        from Kafka, or stuck. None while heartbeats are off."""
        return frozenset(s.scorer_id for s in self.scorers if is_stale(s, self.heartbeat_s, now))


class FleetView:
    """Reads ``arena.scorer-status`` and the scorer group's offsets, at most once per ``ttl_s``.

    A dashboard polls every few seconds and each read opens Kafka clients, so several
    callers within ``ttl_s`` share one read. ``heartbeat_s`` is the scorers' heartbeat
    interval (``ARENA_SCORER_HEARTBEAT_S``), which tells a stale scorer.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        scorer_group: str,
        ttl_s: float = 1.0,
        heartbeat_s: float = 0.0,
    ) -> None:
        self._kafka = kafka
        self._group = scorer_group
        self._ttl_s = ttl_s
        self._heartbeat_s = heartbeat_s
        self._lock = threading.Lock()
        self._cached: tuple[float, FleetState] | None = None

    def state(self) -> FleetState:
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self._ttl_s:
                return self._cached[1]
            state = FleetState(self._scorers(), self._lag(), self._heartbeat_s)
            self._cached = (time.monotonic(), state)
            return state

    def _scorers(self) -> list[ScorerStatus]:
        statuses = []
        topic = self._kafka.scorer_status_topic
        for key, value in latest_by_key(self._kafka, topic, timeout_s=5).items():
            try:
                statuses.append(decode_scorer_status(value))
            except InvalidEvent as exc:
                log.warning("%s: a malformed status of %r: %s", topic, key, exc.reason)
        return sorted(statuses, key=lambda s: s.scorer_id)

    def _lag(self) -> list[PartitionLag]:
        return consumer_lag(self._kafka, self._group, self._kafka.image_topic, timeout_s=5)
