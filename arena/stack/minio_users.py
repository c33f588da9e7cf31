"""MinIO users and policies per service on a secure stack (``ARENA_STACK_SECURE``).

Each role gets a user ``arena-<role>`` (secret in ``<state_dir>/credentials.json``) and a
policy of the same name allowing only what its work needs; the root user stays the stack's.
"""

from __future__ import annotations

import json
from typing import Any

from minio import MinioAdmin
from minio.credentials.providers import StaticProvider

from arena.config import ObjectStoreSettings
from arena.stack.credentials import MINIO_ROLES, StackCredentials, principal

GET, PUT = "s3:GetObject", "s3:PutObject"


def role_access(s3: ObjectStoreSettings) -> dict[str, dict[str, tuple[str, ...]]]:
    """role -> ``bucket`` or ``bucket/prefix`` -> the object actions allowed there (listing
    the bucket comes with any access). The evaluator promotes, so it moves the aliases
    (``<model bucket>/<alias prefix>/``) but writes no artifact."""
    models, images = s3.model_bucket, s3.image_bucket
    aliases = f"{models}/{s3.alias_prefix}"
    return {
        "producer": {images: (PUT,)},
        "scorer": {models: (GET,), images: (GET,)},
        "trainer": {models: (GET, PUT), images: (GET,)},
        "evaluator": {models: (GET,), aliases: (PUT,), images: (GET,)},
        "operator": {models: (GET, PUT), images: (GET,)},  # arena bootstrap uploads
    }


def policy(access: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """An IAM policy document granting ``access``."""
    statements: list[dict[str, Any]] = []
    for place, actions in access.items():
        bucket = place.split("/", 1)[0]
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            }
        )
        statements.append(
            {"Effect": "Allow", "Action": list(actions), "Resource": [f"arn:aws:s3:::{place}/*"]}
        )
    return {"Version": "2012-10-17", "Statement": statements}


def provision(s3: ObjectStoreSettings, credentials: StackCredentials) -> None:
    """Create (or update) every role's policy and user, and attach one to the other."""
    admin = MinioAdmin(
        endpoint=s3.endpoint,
        credentials=StaticProvider(s3.access_key, s3.secret_key.get_secret_value()),
        secure=s3.secure,
    )
    attached = _attached_policies(admin)
    for role, access in role_access(s3).items():
        if role not in MINIO_ROLES:
            continue
        name = principal(role)
        admin.policy_add(name, policy=policy(access))
        admin.user_add(name, credentials.minio[role])
        if name not in attached.get(name, set()):
            admin.attach_policy([name], user=name)


def _attached_policies(admin: MinioAdmin) -> dict[str, set[str]]:
    """user -> the policies attached to it (MinIO refuses to attach one twice)."""
    users = json.loads(admin.user_list() or "{}")
    return {
        user: {p for p in str(info.get("policyName", "")).split(",") if p}
        for user, info in users.items()
    }
