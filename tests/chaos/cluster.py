"""A 3-node Kafka cluster for the cluster scenarios, beside the chaos stack.

It is the stack's own cluster (``arena stack up --brokers 3``, ``KafkaCluster``) on ports and
a state directory of its own; PostgreSQL and MinIO are the chaos stack's. Faults act on the
node processes: ``kill -9`` of the one leading a partition, then a start through the stack
code.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient

from arena.config import Settings, with_overrides
from arena.stack.kafka import KafkaCluster, KafkaServer

NODES = 3
CLUSTER_PORT = int(os.environ.get("ARENA_CHAOS_CLUSTER_PORT", "39092"))
CLUSTER_STATE = Path(os.environ.get("ARENA_CHAOS_CLUSTER_STATE", "/var/tmp/arena-chaos-cluster"))


def cluster_settings(base: Settings) -> Settings:
    """``base`` (the chaos stack) with Kafka on the cluster: every node in the bootstrap list,
    and Arena's topics replicated three times."""
    bootstrap = ",".join(f"127.0.0.1:{CLUSTER_PORT + 2 * i}" for i in range(NODES))
    return with_overrides(
        base,
        kafka={"bootstrap": bootstrap, "replication_factor": NODES},
        stack={
            "kafka_controller_port": CLUSTER_PORT + 1,
            "kafka_brokers": NODES,
            "state_dir": str(CLUSTER_STATE),
            "kafka_heap_mb": 384,  # three JVMs beside everything else on shared cores
        },
    )


class ChaosCluster:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cluster = KafkaCluster(settings.kafka, settings.stack, NODES)

    def up(self) -> float:
        self.cluster.install()
        self.cluster.start()
        return self.cluster.wait_ready(self.settings.stack.start_timeout_s)

    def down(self) -> None:
        self.cluster.stop()

    def node(self, node_id: int) -> KafkaServer:
        return self.cluster.nodes[node_id - 1]

    def leader_of(self, topic: str, partition: int) -> int:
        admin = AdminClient(self.settings.kafka.client_config())
        described = admin.list_topics(topic, timeout=10).topics[topic]
        return int(described.partitions[partition].leader)

    def kill9(self, node_id: int) -> None:
        pid = self.node(node_id).process.pid()
        if pid is None:
            raise RuntimeError(f"kafka node {node_id} is not running")
        os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def restart(self, node_id: int) -> float:
        """Start a node again; the monotonic time the whole cluster answered."""
        node = self.node(node_id)
        if node.process.pid() is None:
            node.start()
        self.cluster.wait_ready(self.settings.stack.start_timeout_s)
        return time.monotonic()
