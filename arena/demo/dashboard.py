"""The demo's dashboard: ``arena api`` for the demo's own deployment, in a thread."""

from __future__ import annotations

from contextlib import ExitStack

from rich.console import Console as Terminal

from arena.api.app import create_app
from arena.api.auth import new_token, token_hash
from arena.api.console import open_console
from arena.api.server import ApiThread
from arena.config import Settings, with_overrides

terminal = Terminal()


class DemoDashboard:
    def __init__(self, api: ApiThread, resources: ExitStack) -> None:
        self._api, self._resources = api, resources

    def stop(self) -> None:
        self._api.stop()
        self._resources.close()


def start_dashboard(settings: Settings) -> DemoDashboard | None:
    """Serve the dashboard on ``ARENA_API_HOST:PORT`` with a one-run operator token.

    Printed, not required: when the port is taken the demo runs on without it.
    """
    token = new_token()
    own = with_overrides(settings, api={"tokens": f"demo:operator:{token_hash(token)}"})
    resources = ExitStack()
    console = resources.enter_context(open_console(own))
    api = ApiThread(create_app(console), own.api.host, own.api.port)
    if not api.start():
        resources.close()
        terminal.print(f"[yellow]dashboard not started: {api.url} is not free[/]")
        return None
    terminal.print(f"dashboard: [bold]{api.url}/[/]  token (operator, this run only): {token}")
    return DemoDashboard(api, resources)
