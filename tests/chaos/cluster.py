"""A 3-node Kafka cluster for the cluster scenarios, beside the chaos stack.

It is the stack's own cluster (``arena stack up --brokers 3``, ``KafkaCluster``) on ports and
a state directory of its own; PostgreSQL and MinIO are the chaos stack's. Faults act on the
node processes: ``kill -9`` of the one leading a partition, then a start through the stack
code.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient

from arena.config import Settings
from arena.stack.kafka import KafkaCluster, KafkaServer, local_cluster_settings

NODES = 3
CLUSTER_PORT = int(os.environ.get("ARENA_CHAOS_CLUSTER_PORT", "26092"))
CLUSTER_STATE = Path(os.environ.get("ARENA_CHAOS_CLUSTER_STATE", "/var/tmp/arena-chaos-cluster"))


def cluster_settings(base: Settings) -> Settings:
    """``base`` (the chaos stack) with Kafka on the cluster, Arena's topics replicated three
    times."""
    return local_cluster_settings(base, CLUSTER_PORT, CLUSTER_STATE, NODES)


class ChaosCluster:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cluster = KafkaCluster(settings.kafka, settings.stack, NODES)

    def up(self) -> float:
        """A fresh cluster each session: an old one's data (dozens of scenario topics to
        delete, a last node killed mid-shutdown) kept its controller busy past the topic
        creation's 30 s (seen once)."""
        shutil.rmtree(CLUSTER_STATE, ignore_errors=True)
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
