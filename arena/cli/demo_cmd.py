"""``arena demo``: the main job (see arena/demo)."""

from __future__ import annotations

import dataclasses
import shutil
from enum import StrEnum
from pathlib import Path

import typer

from arena.config import Settings


class Drift(StrEnum):
    """The camera drifts ``--drift`` offers (``arena.datasets.DRIFTS``), and none (A/A)."""

    INVERT = "invert"
    ROTATE = "rotate"
    BLUR = "blur"
    NOISE = "noise"
    NEW_CAMERA = "new-camera"
    LOW_CONTRAST = "low-contrast"
    ROTATE90 = "rotate90"
    NONE = "none"


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd(
        events: int = typer.Option(20_000, help="Photos to stream."),
        drift: Drift = typer.Option(Drift.INVERT, help="The camera drift; none: an A/A run."),
        seed: int = typer.Option(7, help="Seed of the stream (which photos, labels, delays)."),
        rate: float = typer.Option(100.0, help="Photos per second."),
        out: Path = typer.Option(Path("out/demo"), help="Where summary.json and the plot go."),
        docs_plot: str = typer.Option(
            "docs/demo-accuracy.png", help="Also copy the plot here ('' to skip)."
        ),
    ) -> None:
        """Stream drone photos with a camera drift; watch Arena retrain, promote and recover."""
        from arena.demo.run import DemoConfig, run_demo
        from arena.demo.stream import StreamPlan

        plan = StreamPlan(
            events=events,
            drift_at=int(events * 0.3),
            drift=drift.value,
            rate_per_s=rate,
            seed=seed,
        )
        config = dataclasses.replace(DemoConfig(), plan=plan, out_dir=out)
        run_demo(Settings(), config)
        if docs_plot and Path(docs_plot).parent.is_dir():
            shutil.copyfile(out / "accuracy.png", docs_plot)
