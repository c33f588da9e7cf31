"""What every scenario does around its fault: a deployment, a fleet of processes, a ledger,
a paced load; waiting on conditions with deadlines; counting lost and duplicated events."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arena.config import Settings
from arena.flavors import ModelFlavor
from tests.chaos.deployment import PARTITIONS, Deployment, deployment
from tests.chaos.fleet import Fleet
from tests.chaos.ledger import Ledger, wait_for
from tests.chaos.load import PacedLoad, Plan
from tests.chaos.report import ScenarioResult, record
from tests.chaos.scale import Scale

SERVE_TIMEOUT_S = 180.0  # a scorer process: TensorFlow import, model download and warm-up
DRAIN_STALL_S = 60.0  # give up draining after this long without a new prediction


class ScenarioAborted(AssertionError):
    """A precondition of the scenario failed; the result records why."""


@dataclass
class Run:
    dep: Deployment
    fleet: Fleet
    ledger: Ledger
    result: ScenarioResult
    scale: Scale
    load: PacedLoad | None = None

    @property
    def settings(self) -> Settings:
        return self.dep.settings

    def require(self, ok: bool, failure: str) -> None:
        """A condition the rest of the scenario depends on: record it and stop if it fails."""
        self.result.check(ok, failure)
        if not ok:
            raise ScenarioAborted(failure)

    def scorers_under_load(self, n_scorers: int, plan: Plan) -> tuple[list[str], PacedLoad]:
        """The steady state most faults start from: ``n_scorers`` serving, the scale's load
        flowing through every one of them. Returns their names and the load."""
        ids = [s.name for s in self.fleet.scorers(n_scorers)]
        self.wait_serving(ids)
        load = self.start_load(plan, rate=self.scale.rate, min_events=self.scale.min_events)
        self.wait_flowing(ids)
        return ids, load

    def start_load(self, plan: Plan, **kwargs: Any) -> PacedLoad:
        self.load = PacedLoad(self.settings.kafka, plan, **kwargs)
        self.load.start()
        return self.load

    def wait_serving(self, scorer_ids: list[str], since: float = 0.0) -> None:
        ok = wait_for(
            lambda: set(scorer_ids) <= set(self.ledger.served_since(since)), SERVE_TIMEOUT_S
        )
        self.require(ok, f"scorers {scorer_ids} did not serve within {SERVE_TIMEOUT_S:.0f} s")

    def fleet_serves(self, scorer_ids: list[str], version: int) -> bool:
        latest = self.ledger.serving()
        return all(latest.get(s) == (version, "serving") for s in scorer_ids)

    def time_fleet_serves(
        self, scorer_ids: list[str], version: int, t0: float, cap_s: float
    ) -> float | None:
        """Seconds after ``t0`` until every scorer's latest acknowledgement serves ``version``
        (0 if they already did; None if not within ``cap_s``)."""
        if not wait_for(lambda: self.fleet_serves(scorer_ids, version), cap_s, poll_s=0.2):
            return None
        with self.ledger.lock:
            acks = [
                s.arrived
                for s in self.ledger.seen.statuses
                if s.scorer_id in scorer_ids and s.version == version and s.state == "serving"
            ]
        return max(0.0, max(acks, default=t0) - t0)

    def resume(self, t0: float) -> dict[int, float | None]:
        assert self.load is not None
        return self.ledger.resume_after(t0, self.load.sent.partition_of, PARTITIONS)

    def wait_resumed(self, t0: float, cap_s: float) -> float | None:
        """Seconds from ``t0`` until every partition had a prediction again (None: not in
        ``cap_s``)."""
        wait_for(lambda: None not in self.resume(t0).values(), cap_s, poll_s=0.25)
        per_partition = self.resume(t0)
        self.result.details.setdefault("resume_per_partition_s", []).append(
            {str(p): (None if v is None else round(v, 2)) for p, v in per_partition.items()}
        )
        assert self.load is not None
        self.result.details.setdefault("scorers_per_partition_after", []).append(
            self.ledger.owners_after(t0, self.load.sent.partition_of, cap_s)
        )
        if None in per_partition.values():
            self.result.details.setdefault("stacks_when_stuck", []).append(self.fleet.dump_stacks())
            return None
        return max(v for v in per_partition.values() if v is not None)

    def wait_flowing(self, scorer_ids: list[str] | None = None) -> None:
        """Wait for the steady state before a fault: every partition predicted, and (given
        ``scorer_ids``) every scorer predicting some, i.e. the group is not rebalancing."""
        t0 = time.monotonic()
        self.require(self.wait_resumed(t0, 90.0) is not None, "predictions never flowed")
        self.result.details.pop("resume_per_partition_s")
        self.result.details.pop("scorers_per_partition_after")
        if scorer_ids:
            assert self.load is not None
            partition_of = self.load.sent.partition_of

            def all_scoring() -> bool:
                recent = self.ledger.owners_after(time.monotonic() - 3.0, partition_of, 3.0)
                owners = {s for scorers in recent.values() for s in scorers}
                return len(recent) == PARTITIONS and set(scorer_ids) <= owners

            self.require(
                wait_for(all_scoring, 120.0, poll_s=0.5),
                f"not every scorer of {scorer_ids} got partitions within 120 s",
            )

    def finish_load(self) -> None:
        assert self.load is not None
        self.load.finish()
        self.load.join(600)
        self.require(self.load.error is None, f"the load generator failed: {self.load.error!r}")

    def drain(self, keys: list[str]) -> None:
        """Wait until every key is predicted, or no progress for DRAIN_STALL_S."""
        last, last_change = -1, time.monotonic()
        while time.monotonic() - last_change < DRAIN_STALL_S:
            done = self.ledger.predicted(keys)
            if done == len(keys):
                break
            if done != last:
                last, last_change = done, time.monotonic()
            time.sleep(0.25)
        time.sleep(1.0)  # a duplicate would arrive in a later transaction: give it a moment

    def tally(self) -> None:
        """Events, lost, duplicated of the good events acknowledged; both must be 0."""
        assert self.load is not None
        good = self.load.sent.good()
        self.result.events = len(good) + len(self.load.sent.poison())
        lost = self.ledger.lost(good)
        duplicated = self.ledger.duplicated()
        self.result.lost, self.result.duplicated = len(lost), len(duplicated)
        self.result.details["unacknowledged_sends"] = self.load.sent.failed
        self.result.details["ledger_rereads_dropped"] = self.ledger.rereads
        self.result.details["lost_sample"] = lost[:5]
        self.result.details["duplicated_sample"] = duplicated[:5]
        self.result.check(not lost, f"{len(lost)} of {len(good)} good events never predicted")
        self.result.check(not duplicated, f"{len(duplicated)} events predicted more than once")
        self.result.check(
            self.result.events >= self.scale.min_events,
            f"only {self.result.events} events sent (< {self.scale.min_events})",
        )

    def check_rate(self) -> None:
        """The offered load must really have been >= the scale's rate."""
        assert self.load is not None
        span = max(self.load.finished_at - self.load.started_at, 1e-9)
        achieved = self.load.produced / span
        self.result.details["offered_rate_per_s"] = round(achieved)
        self.result.check(
            achieved >= 0.95 * self.scale.rate,
            f"the load offered {achieved:.0f} events/s (< {self.scale.rate:.0f})",
        )


@contextmanager
def scenario(
    result: ScenarioResult,
    base: Settings,
    champion: ModelFlavor,
    log_dir: Path,
    scale: Scale,
    **sections: dict[str, object],
) -> Iterator[Run]:
    """Run one scenario in a deployment of its own; record its result whatever happens."""
    result.reduced = scale.reduced
    started = time.monotonic()
    try:
        with deployment(base, f"s{result.number}", champion, **sections) as dep:
            ledger = Ledger(dep.settings.kafka)
            ledger.start()
            fleet = Fleet(dep.settings, log_dir)
            try:
                yield Run(dep, fleet, ledger, result, scale)
            finally:
                if fleet.services:
                    result.details["service_starts"] = {
                        n: s.starts for n, s in fleet.services.items()
                    }
                fleet.stop()
                ledger.stop()
    except ScenarioAborted:
        raise
    except BaseException as exc:  # an interrupted scenario must not be recorded as passed
        result.failures.append(f"did not complete: {exc!r}")
        raise
    finally:
        result.duration_s = time.monotonic() - started
        record(result)


def worst(values: list[float | None]) -> float | None:
    """The largest recovery time; None if any fault never recovered."""
    if any(v is None for v in values):
        return None
    return max((v for v in values if v is not None), default=0.0)


def within(value: float | None, limit: float) -> bool:
    return value is not None and not math.isnan(value) and value <= limit
