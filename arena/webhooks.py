"""Webhooks: promotions, rollbacks, pins and unpins POSTed as signed JSON, in the background.

A notification never blocks or fails the control action that caused it: ``notify`` puts it
on a bounded queue (full: dropped, logged and counted) and one worker thread delivers it to
every URL, retrying with exponential back-off. The body is signed with HMAC-SHA256 under
``ARENA_WEBHOOK_SECRET``; the receiver recomputes it (``signature``) and compares.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Protocol

from arena.config import WebhookSettings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Arena-Signature"
EVENT_HEADER = "X-Arena-Event"


@dataclass(frozen=True, slots=True)
class ControlNotice:
    """One change of what is served, as receivers get it (the JSON body).

    ``version``: the version acted on (promoted, rolled back to, pinned; for unpin the one
    served again). ``previous``: the champion it replaced (promote, rollback) or the version
    served before (pin, unpin). ``serving``: the version every scorer serves now.
    """

    kind: str
    version: int
    previous: int | None
    serving: int
    reason: str
    actor: str
    time: str

    @staticmethod
    def now(
        kind: str, version: int, previous: int | None, serving: int, reason: str, actor: str
    ) -> ControlNotice:
        stamp = datetime.now(UTC).isoformat()
        return ControlNotice(kind, version, previous, serving, reason, actor, stamp)

    def body(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()


class Notifier(Protocol):
    """What the control plane announces its changes to."""

    def notify(self, notice: ControlNotice) -> None: ...


def signature(secret: str, body: bytes) -> str:
    """The ``X-Arena-Signature`` header value of ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(slots=True)
class WebhookStats:
    delivered: int = 0  # one per notice and URL
    retries: int = 0
    failed: int = 0  # gave up after every attempt
    dropped: int = 0  # the queue was full


class WebhookNotifier:
    """Delivers notices to ``settings.urls`` from a daemon thread; ``close`` drains it."""

    def __init__(self, settings: WebhookSettings) -> None:
        self._settings = settings
        self._secret = settings.secret.get_secret_value()
        self._queue: queue.Queue[ControlNotice | None] = queue.Queue(settings.queue_size)
        self._closing = threading.Event()
        self._abandoned = threading.Event()  # close() timed out: stop retrying
        self.stats = WebhookStats()
        self._thread = threading.Thread(target=self._deliver_all, name="webhooks", daemon=True)
        self._thread.start()

    def notify(self, notice: ControlNotice) -> None:
        try:
            self._queue.put_nowait(notice)
        except queue.Full:
            self.stats.dropped += 1
            log.error(
                "webhook queue full (%d): %s notice dropped", self._queue.maxsize, notice.kind
            )

    def close(self, drain_s: float = 10.0) -> None:
        """Deliver what is queued for up to ``drain_s`` seconds, then stop (a CLI exiting)."""
        self._closing.set()
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=drain_s)
        self._thread.join(drain_s)
        if self._thread.is_alive() or not self._queue.empty():
            self._abandoned.set()
            log.warning("webhooks: stopped with notices still undelivered")

    def _deliver_all(self) -> None:
        while True:
            notice = self._queue.get()
            if notice is None or self._abandoned.is_set():
                return
            for url in self._settings.urls:
                self._deliver(url, notice)

    def _deliver(self, url: str, notice: ControlNotice) -> None:
        body = notice.body()
        headers = {"Content-Type": "application/json", EVENT_HEADER: notice.kind}
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(self._secret, body)
        delay = self._settings.backoff_s
        for attempt in range(1, self._settings.attempts + 1):
            request = urllib.request.Request(url, body, headers, method="POST")  # noqa: S310 - http(s) only, checked in the settings
            try:
                with urllib.request.urlopen(request, timeout=self._settings.timeout_s) as response:  # noqa: S310
                    response.read()
                self.stats.delivered += 1
                return
            except Exception as exc:  # any failure is retried, then given up on and counted
                if attempt == self._settings.attempts or self._abandoned.is_set():
                    self.stats.failed += 1
                    log.error(
                        "webhook %s: %s notice not delivered after %d attempts: %s",
                        url,
                        notice.kind,
                        attempt,
                        exc,
                    )
                    return
                self.stats.retries += 1
                log.warning("webhook %s: attempt %d failed (%s); retrying", url, attempt, exc)
            # Closing shortens the wait, never the attempts: a CLI still delivers, within drain_s.
            time.sleep(min(delay, 0.2) if self._closing.is_set() else delay)
            delay = min(delay * 2, 30.0)


def make_notifier(settings: WebhookSettings) -> WebhookNotifier | None:
    """A notifier when webhooks are configured, else None."""
    return WebhookNotifier(settings) if settings.urls else None
