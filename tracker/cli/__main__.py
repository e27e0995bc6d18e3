"""``python -m tracker.cli``: the ``leadtrail`` command (how ``leadtrail serve`` starts its
built-in worker with the interpreter it runs on)."""

from tracker.cli import cli

cli()
