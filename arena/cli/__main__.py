"""``python -m arena.cli``: the ``arena`` command, for environments without the script."""

from arena.cli.main import run

run()
