"""``arena api`` (the HTTP API and dashboard) and ``arena api-token`` (make a token)."""

from __future__ import annotations

import typer

from arena.config import API_ROLES, Settings


def register(app: typer.Typer) -> None:
    @app.command("api")
    def api_cmd() -> None:
        """Serve the HTTP API and the dashboard (ARENA_API_HOST, ARENA_API_PORT)."""
        from arena.api.server import run_api

        run_api(Settings())

    @app.command("api-token")
    def api_token_cmd(
        name: str = typer.Argument(..., help="Who: recorded as the actor in the audit log."),
        role: str = typer.Option("viewer", "--role", help=" or ".join(API_ROLES)),
    ) -> None:
        """Make a new bearer token: prints the token (give it to NAME) and its config entry."""
        from arena.api.auth import new_token, token_hash

        if role not in API_ROLES or ":" in name or "," in name or not name:
            raise typer.BadParameter(
                f"--role must be one of {', '.join(API_ROLES)}; NAME "
                "must be non-empty, without ':' or ','"
            )
        token = new_token()
        typer.echo(f"token: {token}")
        typer.echo(f"ARENA_API_TOKENS entry: {name}:{role}:{token_hash(token)}")
