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
from arena.events import ScorerStatus, decode_scorer_status

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FleetState:
    scorers: list[ScorerStatus]  # by scorer id
    lag: list[PartitionLag]  # the scorers' group on the image topic


class FleetView:
    """Reads ``arena.scorer-status`` and the scorer group's offsets, at most once per ``ttl_s``.

    A dashboard polls every few seconds and each read opens Kafka clients, so several
    callers within ``ttl_s`` share one read.
    """

    def __init__(self, kafka: KafkaSettings, scorer_group: str, ttl_s: float = 1.0) -> None:
        self._kafka = kafka
        self._group = scorer_group
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._cached: tuple[float, FleetState] | None = None

    def state(self) -> FleetState:
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self._ttl_s:
                return self._cached[1]
            state = FleetState(self._scorers(), self._lag())
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
