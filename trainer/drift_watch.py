"""The trainer's eyes on the stream: the champion scores a sample of every batch, the drift
detectors (``arena.drift``) watch its error, its confidence and the input statistics, and
every alarm is logged and recorded in PostgreSQL.

Recording never blocks training: during a PostgreSQL outage the alarms wait in memory (a
bounded queue, oldest dropped with a warning) and are written once it is back. If the
champion cannot be loaded, only the input statistics are watched, and that is logged.
"""

from __future__ import annotations

import logging
from collections import deque

import numpy as np
from numpy.typing import NDArray

from arena.config import TrainerSettings
from arena.drift import Detection, DriftMonitor
from arena.flavors import ModelFlavor
from arena.labeled_stream import Ingested
from arena.outages import outage_cause
from storage.domain import DriftRecord, ModelVersion
from storage.drift_log import DriftLog
from storage.model_loader import ModelLoader
from trainer.champion_cache import ChampionCache

log = logging.getLogger(__name__)

UNWRITTEN_CAPACITY = 1000


class DriftWatch:
    """Feeds the detectors from each ingested batch; returns what they found.

    Args:
        cfg: the trainer's settings (``drift_*``).
        champion: the current champion (a cached registry read).
        models: loads a version's model (verified and cached).
        drift_log: where alarms are recorded.
    """

    def __init__(
        self,
        cfg: TrainerSettings,
        champion: ChampionCache,
        models: ModelLoader,
        drift_log: DriftLog,
    ) -> None:
        self._per_batch = cfg.drift_sample_per_batch
        self.monitor = DriftMonitor(cfg.drift_delta, cfg.drift_unlabeled_delta)
        self._champions = champion
        self._models = models
        self._log = drift_log
        self._champion: ModelVersion | None = None
        self._unwritten: deque[DriftRecord] = deque(maxlen=UNWRITTEN_CAPACITY)
        self._load_warned: int | None = None

    def observe(self, ingested: Ingested) -> list[Detection]:
        """Run the detectors on one batch; log, queue for recording, and return alarms."""
        champion = self._current_champion()
        model = self._model_of(champion)
        found: list[Detection] = []
        n = len(ingested.image_positions)
        if n:
            idx = _spread(n, self._per_batch)
            images = ingested.images[idx]
            confidence = None
            if model is not None:
                confidence = model.predict_proba(images).max(axis=1)
            positions = [ingested.image_positions[i] for i in idx.tolist()]
            found += self.monitor.observe_unlabeled(confidence, images, positions)
        examples = ingested.examples
        if examples and model is not None:
            picked = [examples[i] for i in _spread(len(examples), self._per_batch).tolist()]
            images = np.stack([e.image for e in picked], dtype=np.float32)
            labels = np.fromiter((e.label for e in picked), np.int64, len(picked))
            wrong = model.predict_proba(images).argmax(axis=1) != labels
            found += self.monitor.observe_labeled(wrong.tolist(), [e.position for e in picked])
        for d in found:
            log.warning(
                "drift detected by %s: %s %.4g -> %.4g (%d samples since the change), at %s:%d@%d",
                d.detector,
                d.statistic,
                d.before,
                d.after,
                d.samples_since_change,
                d.position.topic,
                d.position.partition,
                d.position.offset,
            )
            self._unwritten.append(_record(d, champion))
        self.flush()
        return found

    def flush(self) -> None:
        """Write the queued alarms; during an outage keep them for the next call."""
        while self._unwritten:
            try:
                self._log.record(self._unwritten[0])
            except Exception as exc:
                cause = outage_cause(exc)
                if cause is None:
                    raise
                log.warning(
                    "%d drift detections not recorded yet (%s); retried at the next batch",
                    len(self._unwritten),
                    cause,
                )
                return
            self._unwritten.popleft()

    def _current_champion(self) -> ModelVersion | None:
        """The champion; the detectors of its error and confidence restart when it changes."""
        champion = self._champions.current()
        if champion is not None and (self._champion is None or champion.id != self._champion.id):
            if self._champion is not None:
                self.monitor.champion_changed()
            self._champion = champion
        return self._champion

    def _model_of(self, champion: ModelVersion | None) -> ModelFlavor | None:
        if champion is None:
            return None
        try:
            return self._models.model(champion)
        except Exception as exc:
            if self._load_warned != champion.id:
                log.warning(
                    "drift watch: champion v%d cannot be loaded (%s); watching input "
                    "statistics only",
                    champion.id,
                    outage_cause(exc) or exc,
                )
                self._load_warned = champion.id
            return None


def _spread(n: int, at_most: int) -> NDArray[np.int64]:
    """Indices of at most ``at_most`` of ``n`` items, evenly spread, in order."""
    if n <= at_most:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, at_most).astype(np.int64))


def _record(d: Detection, champion: ModelVersion | None) -> DriftRecord:
    return DriftRecord(
        detector=d.detector,
        statistic=d.statistic,
        value_before=d.before,
        value_after=d.after,
        labeled=d.labeled,
        event_topic=d.position.topic,
        event_partition=d.position.partition,
        event_offset=d.position.offset,
        boundary={f"{t}:{p}": o for (t, p), o in d.boundary.items()},
        champion_version=None if champion is None else champion.id,
    )
