from __future__ import annotations

import logging

import pytest

from arena.config import Settings, with_overrides
from arena.errors import ConfigError


def test_defaults_point_at_the_local_stack() -> None:
    s = Settings()
    assert s.kafka.bootstrap == "127.0.0.1:19092"
    assert s.db.url.startswith("postgresql+psycopg://arena:")
    assert s.kafka.dlq_topic("arena.images") == "arena.images.dlq"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_SCORER_BATCH_SIZE", "512")
    assert Settings().scorer.batch_size == 512


def test_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_SCORER_BATCH_SIZE", "zero")
    with pytest.raises(ConfigError, match="ARENA_SCORER_BATCH_SIZE"):
        Settings()


def test_default_secrets_refused_outside_local_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_MODE", "production")
    with pytest.raises(ConfigError, match="ARENA_DB_PASSWORD"):
        Settings()
    monkeypatch.setenv("ARENA_DB_PASSWORD", "s3cret-from-vault")
    with pytest.raises(ConfigError, match="ARENA_S3_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("ARENA_S3_SECRET_KEY", "another-real-secret")
    with pytest.raises(ConfigError, match="ARENA_SIGNING_KEY: the default secret"):
        Settings()
    monkeypatch.setenv("ARENA_SIGNING_KEY", "too-short")
    with pytest.raises(ConfigError, match="ARENA_SIGNING_KEY: must be at least 32 bytes"):
        Settings()
    monkeypatch.setenv("ARENA_SIGNING_KEY", "k" * 32)
    assert Settings().mode.mode == "production"


def test_the_database_url_escapes_user_and_password() -> None:
    from sqlalchemy.engine import make_url

    s = with_overrides(Settings(), db={"user": "ops@site", "password": "p@ss:w/rd%40?#"})
    url = make_url(s.db.url)
    assert url.username == "ops@site"
    assert url.password == "p@ss:w/rd%40?#"
    assert (url.host, url.port, url.database) == ("127.0.0.1", 15432, "arena")


def test_image_limits_read_comma_separated_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_IMAGES_FORMATS", "png, jpeg")
    monkeypatch.setenv("ARENA_IMAGES_BUCKETS", "drone-a,drone-b")
    s = Settings()
    assert s.images.formats == ("PNG", "JPEG")
    assert s.images.allowed_buckets("arena-images") == {"drone-a", "drone-b"}
    assert Settings(images={"buckets": ()}).images.allowed_buckets("x") == {"x"}
    monkeypatch.setenv("ARENA_IMAGES_FORMATS", "PNG,NOTAFORMAT")
    with pytest.raises(ConfigError, match="ARENA_IMAGES_FORMATS"):
        Settings()


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValueError):
        s.kafka.bootstrap = "elsewhere:1"  # type: ignore[misc]


def test_shared_sections_read_their_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_IMAGES_ROOT", "/srv/drone")
    monkeypatch.setenv("ARENA_LABELS_HOLDOUT_PERCENT", "30")
    s = Settings()
    assert str(s.images.root) == "/srv/drone"
    assert s.labels.holdout_percent == 30


def test_old_variable_names_still_work_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ARENA_SCORER_IMAGE_ROOT", "/srv/old")
    monkeypatch.setenv("ARENA_TRAINER_HOLDOUT_PERCENT", "25")
    monkeypatch.setenv("ARENA_TRAINER_JOIN_TTL_S", "30")
    with caplog.at_level(logging.WARNING, logger="arena.config"):
        s = Settings()
    assert str(s.images.root) == "/srv/old"
    assert s.labels.holdout_percent == 25
    assert s.labels.join_ttl_s == 30
    assert "ARENA_SCORER_IMAGE_ROOT is deprecated" in caplog.text
    assert "use ARENA_IMAGES_ROOT" in caplog.text


def test_the_new_name_wins_over_the_old(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_TRAINER_HOLDOUT_PERCENT", "25")
    monkeypatch.setenv("ARENA_LABELS_HOLDOUT_PERCENT", "10")
    assert Settings().labels.holdout_percent == 10


def test_an_old_name_with_a_bad_value_names_the_new_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ARENA_SCORER_FETCH_THREADS", "0")
    with pytest.raises(ConfigError, match="ARENA_IMAGES_FETCH_THREADS"):
        Settings()


def test_with_overrides_replaces_only_what_it_names() -> None:
    base = Settings()
    s = with_overrides(base, scorer={"batch_size": 7}, labels={"holdout_percent": 0})
    assert s.scorer.batch_size == 7 and s.labels.holdout_percent == 0
    assert s.scorer.top_k == base.scorer.top_k
    assert s.db.password.get_secret_value() == base.db.password.get_secret_value()
    with pytest.raises(ConfigError, match="unknown settings section"):
        with_overrides(base, scorers={"batch_size": 7})


def test_no_secret_reaches_a_log_or_an_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A start-up that fails on its configuration, and a database URL that fails to connect,
    name the variable but never the secrets."""
    import sqlalchemy

    secrets = {
        "ARENA_DB_PASSWORD": "db-S3CR3T-7f3a@x",
        "ARENA_S3_SECRET_KEY": "s3-S3CR3T-91bc",
        "ARENA_SIGNING_KEY": "sign-S3CR3T",  # too short for production
    }
    monkeypatch.setenv("ARENA_MODE", "production")
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError) as refused:
        Settings()
    logging.getLogger("arena").exception("start-up failed: %s", refused.value)
    monkeypatch.setenv("ARENA_SIGNING_KEY", "sign-S3CR3T-" + "x" * 32)
    settings = Settings()
    log = logging.getLogger("arena")
    log.info("settings: %r %r %r", settings.db, settings.s3, settings.signing)
    engine = sqlalchemy.create_engine(settings.db.url)
    log.info("engine: %r, url %s", engine, engine.url)
    texts = [str(refused.value), repr(refused.value), caplog.text]
    texts += [r.getMessage() for r in caplog.records]
    for value in [*secrets.values(), "sign-S3CR3T-"]:
        assert all(value not in text for text in texts), value


def test_kafka_client_config_carries_the_sasl_credentials_only_when_asked() -> None:
    from arena.config import KafkaSettings

    assert KafkaSettings().client_config() == {
        "bootstrap.servers": "127.0.0.1:19092",
        "security.protocol": "PLAINTEXT",
    }
    secure = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_username="arena-scorer",
        sasl_password="s3cret",  # type: ignore[arg-type]  # pydantic coerces to SecretStr
        ssl_ca_location="/etc/arena/ca.pem",  # type: ignore[arg-type]
    )
    config = secure.client_config()
    assert config["sasl.mechanisms"] == "SCRAM-SHA-512"
    assert (config["sasl.username"], config["sasl.password"]) == ("arena-scorer", "s3cret")
    assert config["ssl.ca.location"] == "/etc/arena/ca.pem"
    assert "s3cret" not in repr(secure)
