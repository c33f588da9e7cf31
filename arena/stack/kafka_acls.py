"""The ACLs of a secure broker: what each role's principal may do, and nothing more.

The broker denies whatever no ACL allows (``allow.everyone.if.no.acl.found=false``); only the
stack's admin principal is a super user. Group and transactional-id ACLs assume Arena's
default names (``ARENA_*_GROUP_ID``); a deployment that renames them adds its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka.admin import (  # type: ignore[attr-defined]  # public API, untyped
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from arena.config import KafkaSettings
from arena.errors import BusError
from arena.stack.credentials import principal

READ, WRITE, DESCRIBE = AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE


@dataclass(frozen=True, slots=True)
class Grant:
    """One allowed operation of one role on a topic, group or transactional id."""

    role: str
    resource: ResourceType
    name: str
    operation: AclOperation
    prefixed: bool = False

    def binding(self) -> AclBinding:
        pattern = ResourcePatternType.PREFIXED if self.prefixed else ResourcePatternType.LITERAL
        return AclBinding(
            self.resource,
            self.name,
            pattern,
            f"User:{principal(self.role)}",
            "*",
            self.operation,
            AclPermissionType.ALLOW,
        )


def _topics(role: str, op: AclOperation, *names: str) -> list[Grant]:
    return [Grant(role, ResourceType.TOPIC, n, op) for n in names]


def _groups(role: str, *prefixes: str) -> list[Grant]:
    return [Grant(role, ResourceType.GROUP, p, READ, prefixed=True) for p in prefixes]


def role_grants(kafka: KafkaSettings) -> list[Grant]:
    """Every role's grants. Each role may DESCRIBE every Arena topic (the services check at
    start that the topics exist), but read and write only what its work needs."""
    images, labels, models = kafka.image_topic, kafka.label_topic, kafka.model_topic
    predictions, status = kafka.prediction_topic, kafka.scorer_status_topic
    dlqs = (kafka.dlq_topic(images), kafka.dlq_topic(labels))
    every = (images, labels, predictions, models, status, *dlqs)
    grants = [g for role in ("producer", "scorer", "trainer", "evaluator", "operator")
              for g in _topics(role, DESCRIBE, *every)]  # fmt: skip
    grants += _topics("producer", WRITE, images, labels)
    grants += _topics("scorer", READ, images, models)
    grants += _topics("scorer", WRITE, predictions, status, kafka.dlq_topic(images))
    grants += _groups("scorer", "arena-scorer", "arena-control-")
    grants += [
        Grant("scorer", ResourceType.TRANSACTIONAL_ID, "arena-scorer-", op, prefixed=True)
        for op in (WRITE, DESCRIBE)
    ]
    grants += _topics("trainer", READ, images, labels)
    grants += _topics("trainer", WRITE, *dlqs)
    grants += _groups("trainer", "arena-trainer")
    grants += _topics("evaluator", READ, images, labels, models)
    grants += _topics("evaluator", WRITE, models, *dlqs)
    grants += _groups("evaluator", "arena-evaluator", "arena-latest-")
    # The operator: the control topic (pin, rollback, bootstrap) and the console's fleet view.
    grants += _topics("operator", READ, *every)
    grants += _topics("operator", WRITE, models)
    grants += _groups("operator", "arena-latest-")
    grants += [Grant("operator", ResourceType.GROUP, "arena-scorer", DESCRIBE)]
    return grants


def apply_grants(admin: AdminClient, grants: list[Grant], timeout_s: float = 30.0) -> None:
    """Create the ACLs (creating one that exists is a no-op)."""
    futures = admin.create_acls([g.binding() for g in grants], request_timeout=timeout_s)
    for binding, future in futures.items():
        try:
            future.result(timeout=timeout_s)
        except Exception as exc:
            raise BusError(f"creating the ACL {binding}: {exc}") from exc
