"""One batch of image records through the served model: swap if staged, decode, predict.

What the transactional loop calls for every batch. Kept apart from the wiring in ``app``
so it can be tested with fakes of the decoder and the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from arena.bus.records import BatchResult, KafkaMessage, OutRecord
from arena.image_batch import DecodedBatch, PendingReferences
from scorer.champion import ChampionHolder
from scorer.service import NonFiniteOutput, predict_batch
from storage.model_loader import LoadedModel


class Decoder(Protocol):
    def start(self, records: Sequence[KafkaMessage]) -> tuple[DecodedBatch, PendingReferences]: ...


class BatchScorer:
    """Scores each batch with exactly one model version.

    Args:
        holder: the served model and its staged successor; a staged one is swapped in
            before a batch, never during one.
        decoder: records to images (poison records come back with their reason).
        prediction_topic: where predictions go, keyed by event id.
        top_k: classes per prediction.
        scorer_id: written into every prediction.
        on_swap: called with the model just swapped in (and whether one was retired).
        on_latency_ms: called with each event's latency, event time to prediction.
        on_unhealthy: called with the served model and the reason when it outputs NaN or
            infinity; that batch's events are dead-lettered, nothing is predicted.
    """

    def __init__(
        self,
        holder: ChampionHolder,
        decoder: Decoder,
        prediction_topic: str,
        *,
        top_k: int,
        scorer_id: str,
        on_swap: Callable[[LoadedModel, bool], None],
        on_latency_ms: Callable[[float], None],
        on_unhealthy: Callable[[LoadedModel, str], None] = lambda model, reason: None,
    ) -> None:
        self._holder = holder
        self._decoder = decoder
        self._topic = prediction_topic
        self._top_k = top_k
        self._scorer_id = scorer_id
        self._on_swap = on_swap
        self._on_latency_ms = on_latency_ms
        self._on_unhealthy = on_unhealthy

    def swap_if_staged(self) -> bool:
        """Serve the staged model, if one is ready; whether it swapped."""
        previous, swapped_in = self._holder.swap_if_staged()
        if swapped_in is None:
            return False
        self._on_swap(swapped_in, previous is not None)
        return True

    def __call__(self, messages: Sequence[KafkaMessage]) -> BatchResult:
        """Predict the batch's inline images while its references are fetched, then those."""
        self.swap_if_staged()
        serving = self._holder.current
        if serving is None:
            raise RuntimeError("BatchScorer called before a first model was served")
        inline, pending = self._decoder.start(messages)
        parts = [inline]
        try:
            values, latencies = predict_batch(inline, serving, self._top_k, self._scorer_id)
            parts.append(pending.finish())
            more, more_latencies = predict_batch(parts[1], serving, self._top_k, self._scorer_id)
        except NonFiniteOutput as exc:
            if len(parts) == 1:
                parts.append(pending.finish())
            self._on_unhealthy(serving, str(exc))
            dead = [d for part in parts for d in part.dead]
            dead += [(record, str(exc)) for part in parts for record in part.records]
            return BatchResult(outputs=[], dead=dead)
        for latency_ms in latencies + more_latencies:
            self._on_latency_ms(latency_ms)
        outputs = [
            OutRecord(self._topic, event.event_id.encode(), value)
            for part, part_values in zip(parts, (values, more), strict=True)
            for event, value in zip(part.events, part_values, strict=True)
        ]
        return BatchResult(outputs=outputs, dead=[d for part in parts for d in part.dead])
