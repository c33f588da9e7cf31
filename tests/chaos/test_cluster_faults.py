"""Scenarios 11 and 12, on a 3-node Kafka cluster: a partition's leader is killed under load,
and a node is killed during a promotion."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arena.config import Settings
from arena.flavors import ModelFlavor
from tests.chaos.cluster import ChaosCluster, cluster_settings
from tests.chaos.load import MnistImages
from tests.chaos.report import ScenarioResult
from tests.chaos.scale import Scale
from tests.chaos.scenario import Run, scenario, within
from tests.chaos.stack import ChaosStack

LEADER_RESUME_LIMIT_S = 15.0
CONVERGE_LIMIT_S = 30.0
RECOVERY_CAP_S = 90.0
DOWN_S = 10.0  # the killed node stays down this long, under load


@pytest.fixture(scope="module")
def cluster(chaos_stack: ChaosStack) -> Iterator[ChaosCluster]:
    """Three Kafka nodes; PostgreSQL and MinIO are the chaos stack's."""
    running = ChaosCluster(cluster_settings(chaos_stack.settings))
    running.up()
    yield running
    running.down()


@pytest.fixture
def healed_cluster(cluster: ChaosCluster) -> Iterator[ChaosCluster]:
    yield cluster
    for node in range(1, 4):
        cluster.restart(node)


def _no_restart(run: Run) -> None:
    crashed = run.fleet.crashed()
    run.result.details["crashed"] = crashed
    restarted = {n: s.starts for n, s in run.fleet.services.items() if s.starts != 1}
    run.result.check(not crashed and not restarted, f"services exited: {crashed or restarted}")


def test_kill9_the_leader_of_a_partition(
    healed_cluster: ChaosCluster, champion: ModelFlavor, log_dir: Path, scale: Scale
) -> None:
    result = ScenarioResult(
        11,
        "3-node cluster: kill -9 the leader of an image partition under load",
        "0 lost, 0 duplicated; no scorer restarts; every partition's predictions resume "
        f"<= {LEADER_RESUME_LIMIT_S:.0f} s after the kill",
    )
    settings: Settings = healed_cluster.settings
    with scenario(result, settings, champion, log_dir, scale) as run:
        _, load = run.scorers_under_load(2, MnistImages(run.dep.run_id))
        victim = healed_cluster.leader_of(run.settings.kafka.image_topic, 0)
        result.details["killed_node"] = victim
        healed_cluster.kill9(victim)  # its partitions' new leaders: the in-sync followers
        killed = time.monotonic()
        result.recovery_s = run.wait_resumed(killed, RECOVERY_CAP_S)
        result.recovery_cap_s = RECOVERY_CAP_S
        result.details["new_leader"] = healed_cluster.leader_of(run.settings.kafka.image_topic, 0)
        time.sleep(max(0.0, killed + DOWN_S - time.monotonic()))
        healed_cluster.restart(victim)
        run.finish_load()
        run.drain(load.sent.good())
        run.tally()
        run.check_rate()
        _no_restart(run)
        result.check(
            within(result.recovery_s, LEADER_RESUME_LIMIT_S * scale.time_slack),
            f"predictions resumed on every partition only after {result.recovery_s} s (limit "
            f"{LEADER_RESUME_LIMIT_S * scale.time_slack:.0f} s; None = not within "
            f"{RECOVERY_CAP_S:.0f} s)",
        )
    assert result.passed, result.summary()


def test_kill9_a_node_during_a_promotion(
    healed_cluster: ChaosCluster, champion: ModelFlavor, log_dir: Path, scale: Scale
) -> None:
    result = ScenarioResult(
        12,
        "3-node cluster: kill -9 the control topic's leader as a promotion is announced",
        "0 lost, 0 duplicated; no scorer restarts; every scorer serves the promoted version "
        f"<= {CONVERGE_LIMIT_S:.0f} s after the promotion",
    )
    settings: Settings = healed_cluster.settings
    with scenario(result, settings, champion, log_dir, scale) as run:
        ids, load = run.scorers_under_load(2, MnistImages(run.dep.run_id))
        v2 = run.dep.register(champion)
        victim = healed_cluster.leader_of(run.settings.kafka.model_topic, 0)
        result.details["killed_node"] = victim
        promoted = time.monotonic()
        run.dep.control.promote(v2.id, reason="chaos: promotion", actor="chaos")
        healed_cluster.kill9(victim)
        result.recovery_s = run.time_fleet_serves(ids, v2.id, promoted, RECOVERY_CAP_S)
        result.recovery_cap_s = RECOVERY_CAP_S
        result.details["scorer_status"] = run.ledger.serving()
        time.sleep(max(0.0, promoted + DOWN_S - time.monotonic()))
        healed_cluster.restart(victim)
        run.finish_load()
        run.drain(load.sent.good())
        run.tally()
        _no_restart(run)
        result.check(
            within(result.recovery_s, CONVERGE_LIMIT_S),
            f"the fleet served v{v2.id} only after {result.recovery_s} s (None: not within "
            f"{RECOVERY_CAP_S:.0f} s); scorers report {run.ledger.serving()}",
        )
    assert result.passed, result.summary()
