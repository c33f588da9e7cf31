"""Settings, one frozen class per concern, read from ``ARENA_*`` environment variables.

Build them once in an entry point and pass them down; nothing here runs at import time.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import quote

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from arena.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_SECRET = "arena-local-secret"  # noqa: S105 - the local-mode default, refused elsewhere


def _frozen(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, frozen=True, extra="ignore")


DEFAULT_DEPLOYMENT = "arena"


class ModeSettings(BaseSettings):
    """``local`` allows default secrets; anything else refuses them. ``deployment`` names
    this deployment: the default names of its topics, groups, database and MinIO aliases."""

    model_config = _frozen("ARENA_")
    mode: Literal["local", "production"] = "local"
    # Safe as a topic prefix, a group id, a PostgreSQL database name and an S3 key segment.
    deployment: str = Field(default=DEFAULT_DEPLOYMENT, pattern=r"^[a-z][a-z0-9_]{0,62}$")


def deployment_defaults(deployment: str) -> dict[str, dict[str, str]]:
    """The default names of a deployment's topics, groups, database and alias prefix.

    For ``arena`` they are the names Arena always had (``arena.images``, ``arena-scorer``,
    database ``arena``, ``aliases/``), so an existing deployment changes nothing.
    """
    d = deployment
    topics = {"image": "images", "label": "labels", "prediction": "predictions"}
    return {
        "kafka": {
            **{f"{name}_topic": f"{d}.{suffix}" for name, suffix in topics.items()},
            "model_topic": f"{d}.models",
            "scorer_status_topic": f"{d}.scorer-status",
        },
        "db": {"name": d},
        "s3": {"alias_prefix": "aliases" if d == DEFAULT_DEPLOYMENT else f"aliases/{d}"},
        "scorer": {"group_id": f"{d}-scorer"},
        "trainer": {"group_id": f"{d}-trainer"},
        "evaluator": {"group_id": f"{d}-evaluator"},
    }


class KafkaSettings(BaseSettings):
    model_config = _frozen("ARENA_KAFKA_")
    bootstrap: str = "127.0.0.1:19092"
    image_topic: str = "arena.images"
    label_topic: str = "arena.labels"
    prediction_topic: str = "arena.predictions"
    model_topic: str = "arena.models"
    scorer_status_topic: str = "arena.scorer-status"
    partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    # A scorer killed mid-transaction leaves offsets pending, and the group's other members
    # cannot read its partitions until that transaction ends: its restart fences it at once;
    # a scorer that never comes back stalls them this long (plus the broker's abort check,
    # 1 s in Arena's stack). A transaction spans one batch's produce and commit, not its
    # scoring, so 10 s is far above what one needs.
    transaction_timeout_ms: int = Field(default=10_000, ge=1_000)
    # How long one blocking client call (commit, abort, send offsets, metadata, flush, close)
    # may wait before Arena recovers from it; small enough that SIGTERM ends a service in 10 s.
    call_timeout_ms: int = Field(default=5_000, ge=100, le=8_000)
    # How long the group waits for a silent scorer before moving its partitions to the others
    # (the broker accepts group.min.session.timeout.ms..group.max.session.timeout.ms, 6 s..30 min
    # by default). A scorer restarted with the same id takes its partitions back at once.
    # The broker's floor (group.min.session.timeout.ms): a scorer that dies while its
    # restart is still loading its model hands its partitions over after 6 s.
    session_timeout_ms: int = Field(default=6_000, ge=1_000)
    # Authentication (docs/SECURITY.md): PLAINTEXT locally; SASL_PLAINTEXT or SASL_SSL with a
    # SCRAM principal per role against a secure broker (ARENA_STACK_SECURE).
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    ssl_ca_location: Path | None = None  # the CA that signed the broker's certificate
    ssl_certificate_location: Path | None = None  # a client certificate (mutual TLS)
    ssl_key_location: Path | None = None
    ssl_key_password: SecretStr = SecretStr("")

    def client_config(self) -> dict[str, str | int | float | bool]:
        """What every Kafka client (producer, consumer, admin) needs to reach the broker: the
        bootstrap address and, when configured, the security protocol and credentials."""
        config: dict[str, str | int | float | bool] = {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL"):
            config["sasl.mechanisms"] = self.sasl_mechanism
            config["sasl.username"] = self.sasl_username
            config["sasl.password"] = self.sasl_password.get_secret_value()
        optional = {
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
        }
        config.update({k: str(v) for k, v in optional.items() if v is not None})
        if self.ssl_key_password.get_secret_value():
            config["ssl.key.password"] = self.ssl_key_password.get_secret_value()
        return config

    @property
    def call_timeout_s(self) -> float:
        return self.call_timeout_ms / 1000

    def dlq_topic(self, topic: str) -> str:
        """The dead-letter topic of ``topic``."""
        return f"{topic}.dlq"


class DatabaseSettings(BaseSettings):
    model_config = _frozen("ARENA_DB_")
    host: str = "127.0.0.1"
    port: int = 15432
    name: str = "arena"
    user: str = "arena"
    password: SecretStr = SecretStr(DEFAULT_SECRET)

    @property
    def url(self) -> str:
        """SQLAlchemy URL for psycopg 3; the user and password are percent-encoded, so a
        password with ``@``, ``/``, ``:`` or ``%`` in it still means itself."""
        user = quote(self.user, safe="")
        pw = quote(self.password.get_secret_value(), safe="")
        return f"postgresql+psycopg://{user}:{pw}@{self.host}:{self.port}/{quote(self.name)}"


class ObjectStoreSettings(BaseSettings):
    model_config = _frozen("ARENA_S3_")
    endpoint: str = "127.0.0.1:19000"
    access_key: str = "arena"
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)
    secure: bool = False
    model_bucket: str = "arena-models"
    image_bucket: str = "arena-images"
    # Where the aliases live in the model bucket; by default derived from ARENA_DEPLOYMENT.
    alias_prefix: str = Field(default="aliases", pattern=r"^[a-z0-9_-]+(/[a-z0-9_-]+)*$")
    # The longest wait for the next bytes of a response (not for the whole object): a request
    # that MinIO accepted but never answers (it was stopping, or starting) holds a scorer's
    # batch this long before the batch is retried.
    read_timeout_s: float = Field(default=10.0, gt=0, le=300)


class SigningSettings(BaseSettings):
    """The key that signs model artifacts (``arena.signing``): every service and
    ``arena bootstrap`` need it; it is never written to PostgreSQL or MinIO."""

    model_config = _frozen("ARENA_SIGNING_")
    key: SecretStr = SecretStr(DEFAULT_SECRET)


MIN_SIGNING_KEY_BYTES = 32


class StackSettings(BaseSettings):
    """Where the native stack keeps its downloads (cache) and its data (state)."""

    model_config = _frozen("ARENA_STACK_")
    cache_dir: Path = Path.home() / ".cache" / "arena"
    # Not under /root: the postgres user must be able to enter it.
    state_dir: Path = Path("/var/tmp/arena")  # noqa: S108 - a fixed, documented location
    kafka_version: str = "4.1.1"
    kafka_controller_port: int = 19093
    # Nodes of the native Kafka (arena stack up --brokers N): node i listens on the bootstrap
    # port + 2(i-1), its controller on this port + 2(i-1); 3 replicas, 2 in sync.
    # None: the size the stack was first started with (1 if never).
    kafka_brokers: int | None = Field(default=None, ge=1, le=9)
    kafka_heap_mb: int = 512
    minio_console_port: int = 19001
    minio_version: str = "v0.0.0-20260212201848-7aac2a2c5b7c"
    start_timeout_s: float = 90.0
    # One principal per role (docs/SECURITY.md): Kafka SASL/SCRAM with ACLs, a MinIO user and
    # policy per service; the generated passwords go to <state_dir>/credentials.json (0600).
    secure: bool = False


class ScorerSettings(BaseSettings):
    model_config = _frozen("ARENA_SCORER_")
    group_id: str = "arena-scorer"
    scorer_id: str = ""
    # Up to this many events per batch and Kafka transaction (bench/: 1,024 is 24% faster than
    # 256 under backlog; at low rates a batch closes at the timeout, so latency is unchanged).
    batch_size: int = Field(default=1024, ge=1)
    batch_timeout_ms: int = Field(default=10, ge=1)
    top_k: int = Field(default=3, ge=1)
    metrics_port: int = Field(default=0, ge=0)  # 0: any free port (logged at start)
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 in a container, to publish the port
    # Seconds between two repeats of the scorer's latest status (0: only changes are sent).
    # The API and `arena status` read it too: older than 3 heartbeats is stale.
    heartbeat_s: float = Field(default=10.0, ge=0)
    # What serves a version: "auto", its ONNX form when it has one (then TensorFlow is never
    # imported), else the native model; "onnx", only ONNX forms (a version without one is
    # refused, the current one keeps serving); "native", never ONNX.
    runtime: Literal["auto", "onnx", "native"] = "auto"
    onnx_threads: int = Field(default=2, ge=1)  # intra-op threads of the ONNX Runtime session


class ImageSettings(BaseSettings):
    """How every service fetches and decodes images (scorer, trainer and evaluator alike),
    and the limits that keep one producer from exhausting them."""

    model_config = _frozen("ARENA_IMAGES_")
    fetch_threads: int = Field(default=8, ge=1)
    root: Path | None = None  # file references resolve inside it; unset: refused
    # The largest image, in bytes, inline or by reference (checked before reading).
    max_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    # The buckets an s3:// reference may name; empty: the image bucket (ARENA_S3_IMAGE_BUCKET).
    buckets: Annotated[tuple[str, ...], NoDecode] = ()
    # The longest ?bytes=START-END range a reference may name.
    max_range_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    # Pixels decoded per batch, summed over its images (4096x4096 each is refused anyway).
    max_batch_pixels: int = Field(default=256 * 1024 * 1024, ge=1)
    # What content type 3 ("any encoded image") may be; Pillow tries no other format.
    formats: Annotated[tuple[str, ...], NoDecode] = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")

    @field_validator("buckets", "formats", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """``ARENA_IMAGES_FORMATS=PNG,JPEG``: a comma-separated list, blanks ignored."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from PIL import Image

        Image.init()
        upper = tuple(f.upper() for f in value)
        unknown = [f for f in upper if f not in Image.OPEN]
        if unknown:
            raise ValueError(f"formats Pillow cannot open: {', '.join(unknown)}")
        return upper

    def allowed_buckets(self, image_bucket: str) -> frozenset[str]:
        return frozenset(self.buckets or (image_bucket,))


class LabelSettings(BaseSettings):
    """How labels meet their images, and which events no trainer may learn from.

    Trainer and evaluator must agree on all of it, so it is one section both read.
    """

    model_config = _frozen("ARENA_LABELS_")
    join_ttl_s: float = Field(default=600.0, gt=0)
    join_capacity: int = Field(default=100_000, ge=1)
    holdout_percent: int = Field(default=20, ge=0, le=90)


class TrainerSettings(BaseSettings):
    model_config = _frozen("ARENA_TRAINER_")
    group_id: str = "arena-trainer"
    flavor: Literal["keras", "river", "sklearn"] = "keras"
    finetune_every_labels: int = Field(default=500, ge=1)
    finetune_interval_s: float = Field(default=0.0, ge=0.0)
    batch_size: int = Field(default=1000, ge=1)
    batch_timeout_ms: int = Field(default=200, ge=1)
    window_size: int = Field(default=2_000, ge=1)
    reservoir_size: int = Field(default=2_000, ge=0)
    epochs: int = Field(default=2, ge=1)
    learning_rate: float | None = Field(default=None, gt=0)  # None: the flavor's default
    seed: int = 0
    metrics_port: int = Field(default=0, ge=0, le=65535)  # 0: any free port, logged
    metrics_host: str = "127.0.0.1"
    # Drift detection (arena.drift) and the reaction to it (see docs/LEARNING.md).
    drift_detection: bool = True
    drift_delta: float = Field(default=0.002, gt=0.0, lt=1.0)  # ADWIN, champion's error
    drift_unlabeled_delta: float = Field(default=0.0005, gt=0.0, lt=1.0)  # ADWIN, unlabeled
    drift_sample_per_batch: int = Field(default=256, ge=1)  # images the champion scores
    drift_min_labels: int = Field(default=150, ge=1)  # post-drift labels, first fine-tune
    drift_every_labels: int = Field(default=100, ge=1)  # then a fine-tune every this many
    drift_epochs: int = Field(default=10, ge=1)  # most epochs of a fine-tune while recovering
    drift_pass_budget: int = Field(default=7_500, ge=1)  # example-passes of such a fine-tune
    drift_augment_copies: int = Field(default=3, ge=1)  # x the examples, shifted (1: off)
    drift_learning_rate_scale: float = Field(default=2.0, gt=0)  # x the rate, recovering
    drift_replay_fraction: float = Field(default=0.3, ge=0.0)  # reservoir share, recovering
    drift_max_examples: int = Field(default=2_000, ge=1)  # newest post-drift ones per fit
    drift_cooldown_labels: int = Field(default=500, ge=0)  # a new drift only after this many
    # Register an ONNX form with each keras/sklearn version (parity-checked; docs/operations.md).
    export_onnx: bool = True


class EvaluatorSettings(BaseSettings):
    model_config = _frozen("ARENA_EVALUATOR_")
    group_id: str = "arena-evaluator"
    min_samples: int = Field(default=100, ge=1)  # before the sequential test may stop
    max_samples: int = Field(default=2_000, ge=1)  # a trial undecided by then is rejected
    supersede_after: int = Field(default=400, ge=1)  # a newer challenger waits this long
    # ... or twice as long for a trial close to a promotion (always-valid p below this)
    promising_p: float = Field(default=0.05, ge=0.0, lt=1.0)
    concurrent_trials: int = Field(default=3, ge=1)  # challengers on trial at once
    holdout_pool: int = Field(default=1_000, ge=0)  # holdout events kept for trials
    shadow_sample: int = Field(default=256, ge=1)  # unlabeled events shadow-scored per round
    min_margin: float = Field(default=0.01, ge=0.0)
    significance: float = Field(default=0.01, gt=0.0, lt=1.0)
    max_recall_drop: float = Field(default=0.2, ge=0.0, le=1.0)
    window_size: int = Field(default=1_000, ge=1)
    probation_labels: int = Field(default=300, ge=1)
    judge_during_probation: bool = True  # a challenger may beat a champion still on probation
    interval_s: float = Field(default=2.0, gt=0)
    reconcile_interval_s: float = Field(default=30.0, gt=0)
    batch_size: int = Field(default=1000, ge=1)
    batch_timeout_ms: int = Field(default=200, ge=1)
    metrics_port: int = Field(default=0, ge=0, le=65535)  # 0: any free port, logged
    metrics_host: str = "127.0.0.1"


class WebhookSettings(BaseSettings):
    """Where promotions, rollbacks, pins and unpins are announced over HTTP (``urls``:
    comma-separated), signed with HMAC-SHA256 over the body when ``secret`` is set."""

    model_config = _frozen("ARENA_WEBHOOK_")
    urls: Annotated[tuple[str, ...], NoDecode] = ()
    secret: SecretStr = SecretStr("")
    timeout_s: float = Field(default=5.0, gt=0)
    attempts: int = Field(default=5, ge=1)
    backoff_s: float = Field(default=0.5, gt=0)
    queue_size: int = Field(default=1000, ge=1)

    @field_validator("urls", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = tuple(u.strip() for u in value.split(",") if u.strip())
        for url in value:
            if not str(url).startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http:// or https:// URL")
        return value


API_ROLES = ("viewer", "operator")  # each role may do what the ones before it may


@dataclass(frozen=True, slots=True)
class ApiToken:
    """One bearer token the API accepts: who (the audit log's actor), what role, its hash."""

    name: str
    role: str
    sha256: str


class ApiSettings(BaseSettings):
    """``arena api``: where it listens and which bearer tokens it accepts.

    ``tokens``: comma-separated ``name:role:sha256hex`` entries; the hex is the SHA-256 of the
    token, so the configuration never holds a usable token (``arena api-token`` makes one).
    """

    model_config = _frozen("ARENA_API_")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    tokens: str = ""
    fleet_cache_s: float = Field(default=1.0, ge=0.0)

    @field_validator("tokens")
    @classmethod
    def _tokens_parse(cls, value: str) -> str:
        parse_api_tokens(value)
        return value

    def parsed_tokens(self) -> tuple[ApiToken, ...]:
        return parse_api_tokens(self.tokens)


def parse_api_tokens(value: str) -> tuple[ApiToken, ...]:
    """``name:role:sha256hex,...`` as ApiTokens; raises ValueError naming the bad entry."""
    tokens: list[ApiToken] = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        parts = entry.split(":")
        if len(parts) != 3:
            raise ValueError(f"{entry!r} is not name:role:sha256hex")
        name, role, digest = parts
        if not name or role not in API_ROLES:
            raise ValueError(f"{entry!r}: the role must be one of {', '.join(API_ROLES)}")
        if not re.fullmatch(r"[0-9a-f]{64}", digest.lower()):
            raise ValueError(f"{entry!r}: the hash must be 64 hex characters (SHA-256)")
        if any(t.name == name for t in tokens):
            raise ValueError(f"token name {name!r} is given twice")
        tokens.append(ApiToken(name, role, digest.lower()))
    return tuple(tokens)


SECTIONS = (
    "mode", "kafka", "db", "s3", "signing", "stack", "images", "labels", "scorer", "trainer",
    "evaluator", "api", "webhook",
)  # fmt: skip

# Old variable -> (section, field) it became. Read for one release, with a warning.
RENAMED_VARIABLES: dict[str, tuple[str, str]] = {
    "ARENA_SCORER_IMAGE_ROOT": ("images", "root"),
    "ARENA_SCORER_FETCH_THREADS": ("images", "fetch_threads"),
    "ARENA_TRAINER_JOIN_TTL_S": ("labels", "join_ttl_s"),
    "ARENA_TRAINER_JOIN_CAPACITY": ("labels", "join_capacity"),
    "ARENA_TRAINER_HOLDOUT_PERCENT": ("labels", "holdout_percent"),
}


class Settings:
    """All settings, built once in an entry point."""

    def __init__(self, **overrides: Any) -> None:
        renamed = _renamed_from_environment()
        section = {name: {**renamed.get(name, {}), **overrides.get(name, {})} for name in SECTIONS}
        self.mode = _build(ModeSettings, section["mode"])
        _add_deployment_defaults(section, self.mode.deployment)
        self.kafka = _build(KafkaSettings, section["kafka"])
        self.db = _build(DatabaseSettings, section["db"])
        self.s3 = _build(ObjectStoreSettings, section["s3"])
        self.signing = _build(SigningSettings, section["signing"])
        self.stack = _build(StackSettings, section["stack"])
        self.images = _build(ImageSettings, section["images"])
        self.labels = _build(LabelSettings, section["labels"])
        self.scorer = _build(ScorerSettings, section["scorer"])
        self.trainer = _build(TrainerSettings, section["trainer"])
        self.evaluator = _build(EvaluatorSettings, section["evaluator"])
        self.api = _build(ApiSettings, section["api"])
        self.webhook = _build(WebhookSettings, section["webhook"])
        self._refuse_default_secrets()

    def _refuse_default_secrets(self) -> None:
        if self.mode.mode == "local":
            return
        if self.db.password.get_secret_value() == DEFAULT_SECRET:
            raise ConfigError("ARENA_DB_PASSWORD: the default secret is only allowed in local mode")
        if self.s3.secret_key.get_secret_value() == DEFAULT_SECRET:
            raise ConfigError(
                "ARENA_S3_SECRET_KEY: the default secret is only allowed in local mode"
            )
        if self.webhook.urls and not self.webhook.secret.get_secret_value():
            raise ConfigError("ARENA_WEBHOOK_SECRET: webhooks must be signed outside local mode")
        key = self.signing.key.get_secret_value()
        if key == DEFAULT_SECRET:
            raise ConfigError("ARENA_SIGNING_KEY: the default secret is only allowed in local mode")
        if len(key.encode()) < MIN_SIGNING_KEY_BYTES:
            raise ConfigError(
                f"ARENA_SIGNING_KEY: must be at least {MIN_SIGNING_KEY_BYTES} bytes "
                "outside local mode (e.g. `openssl rand -hex 32`)"
            )


def with_overrides(settings: Settings, **sections: dict[str, Any]) -> Settings:
    """A copy of ``settings`` with some fields of some sections replaced."""
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"unknown settings section(s): {', '.join(sorted(unknown))}")
    merged: dict[str, dict[str, Any]] = {}
    for name in SECTIONS:
        current = getattr(settings, name).model_dump()
        for key, value in current.items():
            if isinstance(value, SecretStr):
                current[key] = value.get_secret_value()
        merged[name] = {**current, **sections.get(name, {})}
    return Settings(**merged)


def _add_deployment_defaults(section: dict[str, dict[str, Any]], deployment: str) -> None:
    """Name what neither the environment nor an override names after the deployment."""
    prefixes = {"kafka": "KAFKA", "db": "DB", "s3": "S3", "scorer": "SCORER"}
    prefixes |= {"trainer": "TRAINER", "evaluator": "EVALUATOR"}
    for name, fields in deployment_defaults(deployment).items():
        for field, value in fields.items():
            if (
                field not in section[name]
                and f"ARENA_{prefixes[name]}_{field.upper()}" not in os.environ
            ):
                section[name][field] = value


def _renamed_from_environment() -> dict[str, dict[str, str]]:
    """Values still given under a variable's old name, unless the new name is set too."""
    found: dict[str, dict[str, str]] = {}
    for old, (section, field) in RENAMED_VARIABLES.items():
        new = f"ARENA_{section.upper()}_{field.upper()}"
        if old not in os.environ:
            continue
        if new in os.environ:
            log.warning(
                "%s is ignored: %s is set (the old name goes in the next release)", old, new
            )
            continue
        log.warning("%s is deprecated and goes in the next release: use %s", old, new)
        found.setdefault(section, {})[field] = os.environ[old]
    return found


_S = TypeVar("_S", bound=BaseSettings)


def _build(cls: type[_S], overrides: dict[str, Any] | None) -> _S:
    """Build one settings class; a validation error becomes a ConfigError naming the variable."""
    try:
        return cls(**(overrides or {}))
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "?"
            problems.append(f"{prefix}{field.upper()}: {err['msg']}")
        raise ConfigError("; ".join(problems)) from exc


__all__ = [
    "ApiSettings",
    "ApiToken",
    "DatabaseSettings",
    "EvaluatorSettings",
    "ImageSettings",
    "KafkaSettings",
    "LabelSettings",
    "ModeSettings",
    "ObjectStoreSettings",
    "ScorerSettings",
    "Settings",
    "SigningSettings",
    "StackSettings",
    "TrainerSettings",
    "deployment_defaults",
    "with_overrides",
]
