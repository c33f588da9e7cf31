"""Scenarios 4 and 5: the registry (PostgreSQL) and the object store (MinIO) go down."""

from __future__ import annotations

import io
import time
from datetime import datetime
from pathlib import Path

import psycopg
from PIL import Image

from arena.bus.producer import flush_or_raise, make_producer
from arena.datasets import load_mnist
from arena.events import (
    SERVING_KEY,
    ContentType,
    ImageEvent,
    ModelEvent,
    ModelEventKind,
    encode_image_event,
    encode_model_event,
    now_ms,
)
from arena.flavors import ModelFlavor
from storage.domain import ModelVersion
from tests.chaos.deployment import PARTITIONS
from tests.chaos.ledger import wait_for
from tests.chaos.load import MnistImages, Outgoing
from tests.chaos.report import ScenarioResult
from tests.chaos.scale import Scale
from tests.chaos.scenario import Run, scenario, within
from tests.chaos.stack import ChaosStack

OUTAGE_S = 30.0
SCORING_GAP_LIMIT_S = 5.0  # "scoring never stops": no partition idle longer than this
FLEET_AGREES_LIMIT_S = 10.0
PROMOTION_LANDS_LIMIT_S = 30.0
RESUME_TIMEOUT_S = 120.0


def _db_now(run: Run) -> datetime:
    db = run.settings.db
    with psycopg.connect(
        host=db.host,
        port=db.port,
        user=db.user,
        dbname=db.name,
        password=db.password.get_secret_value(),
    ) as conn:
        row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def _wrote_after(run: Run, table: str, column: str, since: datetime) -> bool:
    db = run.settings.db
    with psycopg.connect(
        host=db.host,
        port=db.port,
        user=db.user,
        dbname=db.name,
        password=db.password.get_secret_value(),
    ) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table} WHERE {column} > %s", (since,)).fetchone()
    return bool(row and row[0])


def _announce(run: Run, version: ModelVersion) -> None:
    """Step 3 of a promotion (the control event), as the control plane writes it."""
    event = ModelEvent(
        ModelEventKind.PROMOTED,
        version.id,
        version.artifact.uri,
        version.artifact.sha256,
        version.flavor,
        reason="chaos promotion",
        actor="chaos",
    )
    producer = make_producer(run.settings.kafka)
    producer.produce(run.settings.kafka.model_topic, encode_model_event(event), SERVING_KEY)
    flush_or_raise(producer, 30)


def test_postgres_down_during_promotion(
    chaos_stack: ChaosStack, champion: ModelFlavor, log_dir: Path, scale: Scale
) -> None:
    result = ScenarioResult(
        4,
        "PostgreSQL down 30 s during a promotion",
        "scoring never stops (no partition idle > 5 s); trainer and evaluator resume (write "
        "to the registry again); the fleet serves the registry's version <= 10 s after "
        "PostgreSQL returns",
    )
    sections: dict[str, dict[str, object]] = {
        "trainer": {"finetune_every_labels": 3000, "flavor": "sklearn"}
    }
    with scenario(result, chaos_stack.settings, champion, log_dir, scale, **sections) as run:
        scorers = run.fleet.scorers(2)
        trainer = run.fleet.add("trainer", "trainer")
        evaluator = run.fleet.add("evaluator", "evaluator")
        ids = [s.name for s in scorers]
        run.wait_serving(ids)
        load = run.start_load(
            MnistImages(run.dep.run_id, label_every=2), rate=scale.rate, min_events=scale.min_events
        )
        run.wait_flowing(ids)
        time.sleep(5.0)
        # The promotion: its registry and alias steps happen, then PostgreSQL goes down
        # before the scorers have looked the new version up.
        v2 = run.dep.register(champion)
        run.dep.registry.set_champion(v2.id, reason="chaos promotion", actor="chaos")
        run.dep.store.alias("champion", v2.artifact)
        run.dep.store.alias("serving", v2.artifact)
        chaos_stack.stop("postgres")
        down = time.monotonic()
        _announce(run, v2)
        time.sleep(max(0.0, down + OUTAGE_S - time.monotonic()))
        up = chaos_stack.start("postgres")
        db_up = _db_now(run)
        gaps = run.ledger.max_gap(down, up, load.sent.partition_of, PARTITIONS)
        result.details["max_gap_during_outage_s"] = {str(p): round(g, 2) for p, g in gaps.items()}
        result.check(
            max(gaps.values()) <= SCORING_GAP_LIMIT_S,
            f"scoring stopped during the outage: partition gaps {gaps} (limit 5 s)",
        )
        serving = run.dep.registry.serving_version()
        assert serving is not None
        result.details["registry_serving"] = serving.id
        result.recovery_s = run.time_fleet_serves(ids, serving.id, up, 60.0)
        result.recovery_cap_s = 60.0
        result.details["scorer_status"] = run.ledger.serving()
        result.check(
            within(result.recovery_s, FLEET_AGREES_LIMIT_S),
            f"the fleet served the registry's version v{serving.id} only after "
            f"{result.recovery_s} s (None: not within 60 s; limit 10 s); "
            f"scorers report {run.ledger.serving()}",
        )
        evaluated = wait_for(
            lambda: _wrote_after(run, "evaluations", "computed_at", db_up),
            RESUME_TIMEOUT_S,
            poll_s=1.0,
        )
        trained = wait_for(
            lambda: _wrote_after(run, "model_versions", "created_at", db_up),
            RESUME_TIMEOUT_S,
            poll_s=1.0,
        )
        result.check(trainer.alive(), f"the trainer exited (code {trainer.exit_code()})")
        result.check(evaluator.alive(), f"the evaluator exited (code {evaluator.exit_code()})")
        result.check(evaluated, "the evaluator wrote no evaluation after PostgreSQL returned")
        result.check(trained, "the trainer registered no version after PostgreSQL returned")
        for service in (trainer, evaluator):
            if not service.alive():
                result.details[f"{service.name}_log"] = service.log_tail(25)
        run.finish_load()
        run.drain(load.sent.good())
        run.tally()
    assert result.passed, result.summary()


class ClaimCheckImages:
    """MNIST digits as PNGs packed 1,024 per MinIO object; events carry ranged references."""

    def __init__(self, run_id: str, references: list[str]) -> None:
        self.run = run_id
        self.references = references

    def __call__(self, i: int) -> Outgoing:
        key = f"{self.run}-{i:08d}"
        event = ImageEvent(
            key,
            now_ms(),
            "chaos",
            ContentType.PNG,
            reference=self.references[i % len(self.references)],
        )
        return Outgoing(key, encode_image_event(event))


def _upload_packs(run: Run, n_images: int) -> list[str]:
    data = load_mnist()
    pngs = []
    for image in data.x_test[:n_images]:
        out = io.BytesIO()
        Image.fromarray(image).save(out, format="PNG")
        pngs.append(out.getvalue())
    references: list[str] = []
    for start in range(0, len(pngs), 1024):
        key = f"chaos/{run.dep.run_id}/pack-{start // 1024:03d}"
        references += run.dep.store.put_image_pack(key, pngs[start : start + 1024])
    return references


def test_minio_down_with_claim_checks_and_promotion(
    chaos_stack: ChaosStack, champion: ModelFlavor, log_dir: Path, scale: Scale
) -> None:
    result = ScenarioResult(
        5,
        "MinIO down 30 s with claim-check traffic and a promotion",
        "0 lost, 0 duplicated; the champion keeps serving (no scorer exits or swaps to "
        "anything else); the promotion lands afterwards (every scorer serves it <= 30 s "
        "after MinIO returns; a promotion command that failed during the outage is retried "
        "once, as an operator would)",
    )
    with scenario(result, chaos_stack.settings, champion, log_dir, scale) as run:
        references = _upload_packs(run, 4096)
        scorers = run.fleet.scorers(2)
        ids = [s.name for s in scorers]
        run.wait_serving(ids)
        load = run.start_load(
            ClaimCheckImages(run.dep.run_id, references),
            rate=scale.rate,
            min_events=scale.min_events,
        )
        run.wait_flowing(ids)
        v2 = run.dep.register(champion)
        chaos_stack.stop("minio")
        down = time.monotonic()
        try:
            run.dep.control.promote(
                v2.id,
                reason="chaos promotion",
                actor="chaos",
                expected_champion=run.dep.champion.id,
            )
            result.details["promote_during_outage"] = "ok"
        except Exception as exc:
            result.details["promote_during_outage"] = repr(exc)[:300]
        time.sleep(max(0.0, down + OUTAGE_S - time.monotonic()))
        up = chaos_stack.start("minio")
        if result.details["promote_during_outage"] != "ok":
            try:
                # The same command again (it names the champion it replaces, so a retry of a
                # promotion whose registry step already happened completes it, once).
                run.dep.control.promote(
                    v2.id,
                    reason="chaos promotion, retried",
                    actor="chaos",
                    expected_champion=run.dep.champion.id,
                )
                result.details["promote_retry"] = "ok"
            except Exception as exc:
                result.details["promote_retry"] = repr(exc)[:300]
        with run.ledger.lock:
            during = {
                (s.scorer_id, s.version, s.state)
                for s in run.ledger.seen.statuses
                if down <= s.arrived <= up
            }
        result.details["statuses_during_outage"] = sorted(during)
        wrong = [s for s in during if s[2] == "serving" and s[1] != run.dep.champion.id]
        result.check(not wrong, f"a scorer swapped during the outage: {wrong}")
        result.details["resume_after_minio_s"] = run.wait_resumed(up, 90.0)
        result.recovery_s = run.time_fleet_serves(ids, v2.id, up, 90.0)
        result.recovery_cap_s = 90.0
        result.details["scorer_status"] = run.ledger.serving()
        result.check(
            within(result.recovery_s, PROMOTION_LANDS_LIMIT_S),
            f"the promotion of v{v2.id} reached every scorer only after {result.recovery_s} s "
            f"(None: not within 90 s); scorers report {run.ledger.serving()}",
        )
        crashed = run.fleet.crashed()
        result.check(not crashed, f"scorers exited: {crashed}")
        run.finish_load()
        run.drain(load.sent.good())
        run.tally()
    assert result.passed, result.summary()
