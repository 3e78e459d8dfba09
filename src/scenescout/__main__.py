"""``python -m scenescout``: the command line."""

from scenescout.cli import app

app()
