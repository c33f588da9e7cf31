"""``arena scorer | trainer | evaluator``: run one service in the foreground until SIGTERM."""

from __future__ import annotations

import typer

from arena.bus.stop import StopFlag
from arena.config import Settings


def register(app: typer.Typer) -> None:
    @app.command("scorer")
    def scorer_cmd() -> None:
        """Score the image topic with the champion, exactly once; hot-swap on promotions."""
        from scorer.app import run_scorer

        with StopFlag().install() as stop:
            run_scorer(Settings(), stop)

    @app.command("trainer")
    def trainer_cmd() -> None:
        """Fine-tune challengers from the champion on the labeled stream."""
        from trainer.app import run_trainer

        with StopFlag().install() as stop:
            run_trainer(Settings(), stop)

    @app.command("evaluator")
    def evaluator_cmd() -> None:
        """Compare champion and challenger, record scores, promote and roll back."""
        from evaluator.app import run_evaluator

        with StopFlag().install() as stop:
            run_evaluator(Settings(), stop)
