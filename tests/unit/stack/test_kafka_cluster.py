"""The native Kafka's node layout and configuration, one node or a cluster (no JVM started)."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest

from arena.config import Settings, with_overrides
from arena.errors import ConfigError
from arena.stack import kafka as kafka_module
from arena.stack import runner
from arena.stack.kafka import KafkaCluster, KafkaServer, local_cluster_settings


def _settings(tmp_path: Path, **stack: object) -> Settings:
    return with_overrides(
        Settings(),
        kafka={"bootstrap": "127.0.0.1:39092"},
        stack={"state_dir": str(tmp_path), "kafka_controller_port": 39093, **stack},
    )


def _props(server: KafkaServer) -> dict[str, str]:
    path = server._write_config()
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_a_cluster_spreads_its_nodes_over_ports_and_state_dirs(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    cluster = KafkaCluster(s.kafka, s.stack, 3)
    assert cluster.bootstrap == "127.0.0.1:39092,127.0.0.1:39094,127.0.0.1:39096"
    assert [n.controller_port for n in cluster.nodes] == [39093, 39095, 39097]
    assert [n.state.name for n in cluster.nodes] == ["kafka", "kafka-2", "kafka-3"]
    props = _props(cluster.nodes[1])
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:39093,2@127.0.0.1:39095,3@127.0.0.1:39097"
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:39094,CONTROLLER://127.0.0.1:39095"
    for key in (
        "default.replication.factor",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
    ):
        assert props[key] == "3", key
    assert props["min.insync.replicas"] == props["transaction.state.log.min.isr"] == "2"


def test_a_single_node_keeps_its_standalone_quorum_and_one_replica(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    props = _props(KafkaServer(s.kafka, s.stack))
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:39093"
    assert "controller.quorum.voters" not in props
    assert props["offsets.topic.replication.factor"] == props["min.insync.replicas"] == "1"


def test_the_secure_mode_refuses_a_cluster_naming_the_settings(tmp_path: Path) -> None:
    s = _settings(tmp_path, secure=True)
    with pytest.raises(ConfigError, match=r"ARENA_STACK_SECURE.*ARENA_STACK_KAFKA_BROKERS=3"):
        KafkaCluster(s.kafka, s.stack, 3)


def test_the_size_is_recorded_and_another_size_refused(tmp_path: Path) -> None:
    three = _settings(tmp_path, kafka_brokers=3)
    runner._check_kafka_size(three)
    # down and status, without --brokers, find all three nodes
    found = runner.kafka_server(_settings(tmp_path))
    assert isinstance(found, KafkaCluster) and len(found.nodes) == 3
    with pytest.raises(ConfigError, match=r"ARENA_STACK_KAFKA_BROKERS=1.*formatted as 3"):
        runner._check_kafka_size(_settings(tmp_path, kafka_brokers=1))


def test_an_older_single_node_stack_counts_as_one_node(tmp_path: Path) -> None:
    (tmp_path / "kafka" / "data").mkdir(parents=True)
    (tmp_path / "kafka" / "data" / "meta.properties").write_text("node.id=1\n")
    with pytest.raises(ConfigError, match="formatted as 1"):
        runner._check_kafka_size(_settings(tmp_path, kafka_brokers=3))
    assert isinstance(runner.kafka_server(_settings(tmp_path)), KafkaServer)


def test_a_cluster_beside_the_stack_gets_its_own_ports_state_and_replicas(tmp_path: Path) -> None:
    s = local_cluster_settings(Settings(), 49092, tmp_path / "c", nodes=3)
    assert s.kafka.bootstrap == "127.0.0.1:49092,127.0.0.1:49094,127.0.0.1:49096"
    assert s.kafka.replication_factor == 3
    assert (s.stack.kafka_controller_port, s.stack.kafka_brokers) == (49093, 3)
    cluster = KafkaCluster(s.kafka, s.stack, 3)
    assert cluster.bootstrap == s.kafka.bootstrap
    assert [n.controller_port for n in cluster.nodes] == [49093, 49095, 49097]
    assert cluster.nodes[2].state == tmp_path / "c" / "kafka-3"


def test_no_cluster_id_reads_as_an_option(monkeypatch: pytest.MonkeyPatch) -> None:
    # CI drew "-pWGkOUuQSueZccR78Q6eQ" once: `format -t -pWG...` failed, "expected one argument".
    leading_dash = uuid.UUID(bytes=base64.urlsafe_b64decode("-pWGkOUuQSueZccR78Q6eQ=="))
    draws = iter([leading_dash, uuid.UUID(int=7)])
    monkeypatch.setattr(kafka_module.uuid, "uuid4", lambda: next(draws))
    cluster_id = kafka_module._new_cluster_id()
    assert cluster_id == base64.urlsafe_b64encode(uuid.UUID(int=7).bytes).decode().rstrip("=")
    assert len(cluster_id) == 22
