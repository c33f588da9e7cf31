"""Apache Kafka 4.x in KRaft mode, from Maven Central jars: one node (broker + controller), or
a cluster of ``ARENA_STACK_KAFKA_BROKERS`` such nodes on this machine.

In a cluster, node ``i`` (1-based) listens for clients on the bootstrap port + 2(i-1) and for
the quorum on the controller port + 2(i-1); every node is a voter. Internal topics get three
replicas (or as many as there are nodes) and two in sync, and so does every topic created
without its own setting (``default.replication.factor``, ``min.insync.replicas``).
"""

from __future__ import annotations

import base64
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient
from pydantic import SecretStr

from arena.config import KafkaSettings, Settings, StackSettings, with_overrides
from arena.errors import ConfigError
from arena.stack.credentials import ADMIN, ROLES, load_or_create, principal
from arena.stack.process import ManagedProcess, run_checked, wait_until
from arena.stack.tools import require_tool

LOG4J_VERSION = "2.24.3"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.arena</groupId><artifactId>kafka-runtime</artifactId>
  <version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <!-- Kafka's pom leaves the logging backend to the distribution; bring log4j 2 here. -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version></dependency>
  </dependencies>
</project>
"""

_LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = WARN
"""


def split_host_port(address: str, setting: str) -> tuple[str, int]:
    """``host:port`` → (host, port), with an error naming the setting."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"{setting}: expected host:port, got {address!r}")
    return host, int(port)


def first_address(bootstrap: str) -> tuple[str, int]:
    """The first ``host:port`` of ``ARENA_KAFKA_BOOTSTRAP`` (a comma-separated list)."""
    return split_host_port(bootstrap.split(",")[0].strip(), "ARENA_KAFKA_BOOTSTRAP")


class KafkaServer:
    """Install (jars), configure, format and run one KRaft node (broker + controller):
    node ``node`` of ``nodes`` (a single-node cluster by default)."""

    name = "kafka"

    def __init__(
        self, kafka: KafkaSettings, stack: StackSettings, node: int = 1, nodes: int = 1
    ) -> None:
        host, port = first_address(kafka.bootstrap)
        self.host, self.port = host, port + 2 * (node - 1)
        self.controller_port = stack.kafka_controller_port + 2 * (node - 1)
        self.node, self.nodes = node, nodes
        self.kafka = kafka
        self.stack = stack
        self.libs = stack.cache_dir / f"kafka-{stack.kafka_version}" / "libs"
        self.state = stack.state_dir / ("kafka" if node == 1 else f"kafka-{node}")
        label = "kafka" if nodes == 1 else f"kafka-{node}"
        self.process = ManagedProcess(label, self.state / "kafka.pid", self.state / "kafka.log")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def voters(self) -> str:
        """``controller.quorum.voters``: every node of the cluster."""
        first = self.stack.kafka_controller_port
        return ",".join(f"{i}@{self.host}:{first + 2 * (i - 1)}" for i in range(1, self.nodes + 1))

    def install(self) -> bool:
        """Fetch the jars with Maven once; returns whether anything was downloaded."""
        marker = self.libs.parent / ".complete"
        if marker.exists():
            return False
        mvn = require_tool("mvn")
        require_tool("java")
        build = self.libs.parent
        build.mkdir(parents=True, exist_ok=True)
        (build / "pom.xml").write_text(
            _POM.format(kafka=self.stack.kafka_version, log4j=LOG4J_VERSION)
        )
        run_checked(
            [mvn, "-q", "-B", "dependency:copy-dependencies", f"-DoutputDirectory={self.libs}"],
            what="downloading the Kafka jars from Maven Central",
            cwd=build,
        )
        marker.write_text(self.stack.kafka_version)
        return True

    @property
    def secure(self) -> bool:
        return self.stack.secure

    def admin_settings(self) -> KafkaSettings:
        """The client settings of the stack's own super user (plain ones when not secure)."""
        if not self.secure:
            return self.kafka
        password = load_or_create(self.stack.state_dir).kafka_admin_password
        return self.kafka.model_copy(
            update={
                "bootstrap": self.address,
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_username": principal(ADMIN),
                "sasl_password": SecretStr(password),
            }
        )

    def _listener_props(self) -> dict[str, str]:
        ctl = f"{self.host}:{self.controller_port}"
        if not self.secure:
            return {
                "listeners": f"PLAINTEXT://{self.address},CONTROLLER://{ctl}",
                "advertised.listeners": f"PLAINTEXT://{self.address}",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            }
        admin, password = (
            principal(ADMIN),
            load_or_create(self.stack.state_dir).kafka_admin_password,
        )
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
        plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
        return {
            # Clients: SCRAM-SHA-512 principals, one per role, created at format time.
            "listeners": f"SASL_PLAINTEXT://{self.address},CONTROLLER://{ctl}",
            "advertised.listeners": f"SASL_PLAINTEXT://{self.address}",
            "listener.security.protocol.map": (
                "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
            ),
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": (
                f'{scram} required username="{admin}" password="{password}";'
            ),
            # The controller listener authenticates too (PLAIN: KRaft cannot use SCRAM there,
            # the credentials live in the metadata it serves); only the admin may connect.
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": (
                f'{plain} required username="{admin}" password="{password}" '
                f'user_{admin}="{password}";'
            ),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{admin}",
            "allow.everyone.if.no.acl.found": "false",
        }

    def _write_config(self) -> Path:
        data = self.state / "data"
        data.mkdir(parents=True, exist_ok=True)
        # Internal topics must not ask for more replicas than exist, or transactions and
        # consumer groups hang; in a cluster, three copies and two in sync.
        replicas = str(min(3, self.nodes))
        in_sync = str(min(2, self.nodes))
        quorum = (
            {"controller.quorum.bootstrap.servers": f"{self.host}:{self.controller_port}"}
            if self.nodes == 1
            else {"controller.quorum.voters": self.voters()}
        )
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node),
            **self._listener_props(),
            "controller.listener.names": "CONTROLLER",
            **quorum,
            "log.dirs": str(data),
            "num.partitions": "1",
            "default.replication.factor": replicas,
            "min.insync.replicas": in_sync,
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": in_sync,
            "transaction.state.log.num.partitions": "8",
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": in_sync,
            "group.initial.rebalance.delay.ms": "0",
            # How often the coordinator aborts transactions past their timeout (10 s by
            # default): a dead scorer's partitions wait for its transaction to end.
            "transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
            "log.retention.hours": "24",
            "log.cleaner.dedupe.buffer.size": str(32 * 1024 * 1024),
        }
        path = self.state / "server.properties"
        # It holds the admin password in secure mode: readable by this user only.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.state / "log4j2.properties").write_text(_LOG4J2)
        return path

    def _java(self, *args: str) -> list[str]:
        heap = f"-Xmx{self.stack.kafka_heap_mb}m"
        return [
            require_tool("java"),
            heap,
            f"-Xms{self.stack.kafka_heap_mb}m",
            f"-Dlog4j2.configurationFile={self.state / 'log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",
            *args,
        ]

    def start(self, cluster_id: str | None = None) -> None:
        config = self._write_config()
        if not (self.state / "data" / "meta.properties").exists():
            quorum = ["--standalone"] if self.nodes == 1 else []  # else: the static voters
            run_checked(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    *quorum,
                    "-t",
                    cluster_id or _new_cluster_id(),
                    "-c",
                    str(config),
                    *self._scram_users(),
                ),
                what=f"formatting the KRaft log directory of node {self.node}",
            )
        self.process.start(self._java("kafka.Kafka", str(config)))

    def _scram_users(self) -> list[str]:
        """``--add-scram`` arguments: the admin and one principal per role (secure mode)."""
        if not self.secure:
            return []
        passwords = load_or_create(self.stack.state_dir).kafka
        return [
            arg
            for role in (ADMIN, *ROLES)
            for arg in (
                "--add-scram",
                f"SCRAM-SHA-512=[name={principal(role)},password={passwords[role]}]",
            )
        ]

    def _admin(self, **extra: Any) -> AdminClient:
        return AdminClient({**self.admin_settings().client_config(), **extra})

    def ready(self) -> bool:
        admin = self._admin(**{"socket.timeout.ms": 2000, "log_level": 0})
        metadata = admin.list_topics(timeout=2)
        return bool(metadata.brokers)

    def wait_ready(self, timeout_s: float) -> float:
        took = wait_until(
            self.ready, what="Kafka", timeout_s=timeout_s, on_timeout=self.process.log_tail
        )
        if self.secure:
            self.provision()
        return took

    def provision(self) -> None:
        """Secure mode: create the topics (no role may) and every role's ACLs, as the admin.
        Idempotent, so it runs on every start."""
        from arena.bus.topics import default_topics, ensure_topics
        from arena.stack.kafka_acls import apply_grants, role_grants

        admin = self.admin_settings()
        ensure_topics(admin, default_topics(admin))
        apply_grants(self._admin(), role_grants(self.kafka))

    def stop(self) -> bool:
        return self.process.stop(timeout_s=60)

    def describe(self) -> str:
        auth = " SASL/SCRAM + ACLs" if self.secure else ""
        return f"kafka  {self.address} (controller :{self.controller_port}){auth}"


def local_cluster_settings(
    base: Settings, first_port: int, state_dir: Path, nodes: int = 3, heap_mb: int = 384
) -> Settings:
    """``base`` with Kafka on a cluster of ``nodes`` on this machine: clients on
    ``first_port`` + 2(i-1), controllers on the port after each, data under ``state_dir``,
    Arena's topics with 3 replicas (or one per node). For a second cluster beside the stack
    (the chaos suite's, the bench's); the heap is small: every JVM shares the machine."""
    bootstrap = ",".join(f"127.0.0.1:{first_port + 2 * i}" for i in range(nodes))
    return with_overrides(
        base,
        kafka={"bootstrap": bootstrap, "replication_factor": min(3, nodes)},
        stack={
            "kafka_controller_port": first_port + 1,
            "kafka_brokers": nodes,
            "state_dir": str(state_dir),
            "kafka_heap_mb": heap_mb,
        },
    )


class KafkaCluster:
    """``nodes`` KRaft nodes on this machine (see the module docstring), as one server."""

    name = "kafka"

    def __init__(self, kafka: KafkaSettings, stack: StackSettings, nodes: int) -> None:
        if stack.secure:
            raise ConfigError(
                "ARENA_STACK_SECURE: the native stack's SASL/ACL mode runs one broker only "
                f"(ARENA_STACK_KAFKA_BROKERS={nodes}); point Arena at a secured cluster instead"
            )
        self.nodes = [KafkaServer(kafka, stack, i, nodes) for i in range(1, nodes + 1)]
        self.kafka = kafka
        self.stack = stack
        self._cluster_id_file = stack.state_dir / "kafka" / "cluster-id"

    @property
    def bootstrap(self) -> str:
        """Every node's client address: what ``ARENA_KAFKA_BOOTSTRAP`` should list."""
        return ",".join(n.address for n in self.nodes)

    def install(self) -> bool:
        return self.nodes[0].install()

    def start(self) -> None:
        if not self._cluster_id_file.exists():
            self._cluster_id_file.parent.mkdir(parents=True, exist_ok=True)
            self._cluster_id_file.write_text(_new_cluster_id())
        cluster_id = self._cluster_id_file.read_text().strip()
        for node in self.nodes:
            node.start(cluster_id)

    def ready(self) -> bool:
        """Every node is in the metadata (a cluster that lacks one is not up yet)."""
        admin = AdminClient(
            {
                **self.kafka.client_config(),
                "bootstrap.servers": self.bootstrap,
                "socket.timeout.ms": 2000,
                "log_level": 0,
            }
        )
        metadata = admin.list_topics(timeout=2)
        return len(metadata.brokers) == len(self.nodes)

    def wait_ready(self, timeout_s: float) -> float:
        return wait_until(
            self.ready,
            what=f"a Kafka cluster of {len(self.nodes)} nodes",
            timeout_s=timeout_s,
            on_timeout=lambda: "\n".join(n.process.log_tail() for n in self.nodes),
        )

    def stop(self) -> bool:
        """Stop every node at once: one by one, the last ones lose their quorum and their
        controlled shutdown waits for it until it is killed (seen: 60 s)."""
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            stopped = list(pool.map(lambda node: node.stop(), self.nodes))
        return any(stopped)

    def describe(self) -> str:
        return f"kafka  {len(self.nodes)} nodes, bootstrap {self.bootstrap}"


def _new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding, never starting
    with "-" (the storage tool would read it as an option; Kafka's own ids avoid it too)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
