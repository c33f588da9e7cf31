"""Webhooks against a local HTTP receiver: the body, its signature, retries, never blocking."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from arena.config import WebhookSettings
from arena.webhooks import EVENT_HEADER, SIGNATURE_HEADER, ControlNotice, WebhookNotifier

SECRET = "receiver-shared-secret"


@dataclass
class Receiver:
    url: str
    fail_first: int = 0
    calls: int = 0
    accepted: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            rx.calls += 1
            if rx.calls <= rx.fail_first:
                self.send_response(503)
            else:
                rx.accepted.append((body, dict(self.headers)))
                self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rx.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield rx
    server.shutdown()


def _settings(*urls: str, **kw: object) -> WebhookSettings:
    return WebhookSettings(urls=urls, secret=SECRET, backoff_s=0.05, **kw)


def _wait(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


NOTICE = ControlNotice.now("promote", 7, 5, 7, "challenger won", "evaluator")


def test_the_body_is_the_notice_and_its_signature_verifies(receiver: Receiver) -> None:
    notifier = WebhookNotifier(_settings(receiver.url))
    notifier.notify(NOTICE)
    _wait(lambda: len(receiver.accepted) == 1)
    notifier.close()

    body, headers = receiver.accepted[0]
    assert json.loads(body) == {
        "kind": "promote",
        "version": 7,
        "previous": 5,
        "serving": 7,
        "reason": "challenger won",
        "actor": "evaluator",
        "time": NOTICE.time,
    }
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected)
    assert headers[EVENT_HEADER] == "promote"


def test_a_receiver_failing_twice_gets_the_event_once(receiver: Receiver) -> None:
    receiver.fail_first = 2
    notifier = WebhookNotifier(_settings(receiver.url))
    notifier.notify(NOTICE)
    _wait(lambda: notifier.stats.delivered == 1)
    notifier.close()

    assert receiver.calls == 3
    assert len(receiver.accepted) == 1
    assert (notifier.stats.retries, notifier.stats.failed) == (2, 0)


def test_a_dead_receiver_is_given_up_on_and_counted_without_blocking(receiver: Receiver) -> None:
    receiver.fail_first = 1_000
    notifier = WebhookNotifier(_settings(receiver.url, attempts=3))
    started = time.monotonic()
    notifier.notify(NOTICE)
    assert time.monotonic() - started < 0.05  # the control action does not wait
    _wait(lambda: notifier.stats.failed == 1)
    notifier.close()
    assert receiver.calls == 3 and receiver.accepted == []


def test_a_full_queue_drops_and_counts(receiver: Receiver) -> None:
    receiver.fail_first = 1_000
    notifier = WebhookNotifier(_settings(receiver.url, attempts=50, queue_size=1))
    for _ in range(5):
        notifier.notify(NOTICE)  # one in delivery, one queued, the rest dropped
    assert notifier.stats.dropped >= 3
    notifier.close(drain_s=0.2)


def test_urls_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        WebhookSettings(urls="ftp://example.org/x")
    assert WebhookSettings(urls="http://a/x, https://b/y").urls == ("http://a/x", "https://b/y")
