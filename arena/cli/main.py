"""Entry point of the ``arena`` command: one Typer app, sub-commands registered per concern."""

from __future__ import annotations

import functools
import logging
import sys

import typer

from arena.errors import ArenaError

app = typer.Typer(
    name="arena",
    help="Continuous online learning on Kafka image streams.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _configure(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@functools.cache
def register_commands() -> None:
    """Attach every sub-command module (each exposes ``register(app)``), once."""
    from arena.cli import commands

    for module in commands.modules():
        module.register(app)


def run() -> None:
    """Run the CLI, turning Arena's own errors into one clear line and exit code 2."""
    register_commands()
    try:
        app()
    except ArenaError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
