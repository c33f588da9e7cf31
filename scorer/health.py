"""Liveness, readiness and Prometheus metrics over HTTP: /healthz, /readyz, /metrics."""

from __future__ import annotations

from collections.abc import Callable
from http.server import ThreadingHTTPServer

from prometheus_client import CollectorRegistry

from arena.bus.loop import LoopHealth
from arena.telemetry_http import Response, metrics_route, serve_routes


class Heartbeat(LoopHealth):
    """The scoring loop beats once per iteration (failed ones too); a stale beat means the
    loop is stuck, a failure being retried makes it ``degraded: <cause>``."""

    def __init__(self, stale_after_s: float = 30.0) -> None:
        super().__init__()
        self._stale_after_s = stale_after_s

    def alive(self) -> bool:
        return self.seconds_since_beat() < self._stale_after_s


def healthz(heartbeat: Heartbeat, reloader: Callable[[], str] | None) -> tuple[int, bytes]:
    """/healthz: 503 ``stuck`` when the loop stopped going round; else 200 and the loop's
    state (``ok`` or ``degraded: <cause>``), then the reloader's line."""
    if not heartbeat.alive():
        return 503, b"stuck\n"
    lines = [heartbeat.state]
    if reloader is not None:
        lines.append(f"reloader: {reloader()}")
    return 200, ("\n".join(lines) + "\n").encode()


def serve_health(
    port: int,
    registry: CollectorRegistry,
    heartbeat: Heartbeat,
    ready: Callable[[], bool],
    host: str = "127.0.0.1",
    reloader: Callable[[], str] | None = None,
) -> ThreadingHTTPServer:
    """Start the health server in a daemon thread; ``port`` 0 picks a free port."""

    def health() -> Response:
        code, body = healthz(heartbeat, reloader)
        return code, body, "text/plain"

    def readiness() -> Response:
        ok = ready()
        return (200, b"ready\n", "text/plain") if ok else (503, b"not ready\n", "text/plain")

    routes = {"/metrics": metrics_route(registry), "/healthz": health, "/readyz": readiness}
    return serve_routes(host, port, routes, "health")
