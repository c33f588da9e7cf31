"""In-process stand-ins for MinIO and Kafka (unit tests only)."""

from __future__ import annotations

from dataclasses import dataclass, field

from arena.events import ImageEvent


@dataclass
class FakeUploader:
    objects: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def put_image(
        self, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> str:
        self.objects[key] = (data, content_type)
        return f"s3://images/{key}"


@dataclass
class FakePublisher:
    """Records events; ``delivered`` holds those a successful flush confirmed."""

    pending: list[ImageEvent] = field(default_factory=list)
    delivered: list[ImageEvent] = field(default_factory=list)
    fail_next_flush: Exception | None = None

    def publish(self, event: ImageEvent) -> None:
        self.pending.append(event)

    def flush(self) -> None:
        if self.fail_next_flush is not None:
            exc, self.fail_next_flush = self.fail_next_flush, None
            self.pending.clear()
            raise exc
        self.delivered += self.pending
        self.pending = []
