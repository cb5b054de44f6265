"""The CLI app with ``plan``: the real one once it is registered there, else a stand-in."""

from __future__ import annotations

import typer

from shardkeeper.cli.app import app as real_app
from shardkeeper.cli.plan import plan


def plan_app() -> typer.Typer:
    """``shardkeeper`` as a user runs it, guaranteed to have the ``plan`` command."""
    names = {c.name or (c.callback.__name__ if c.callback else "") for c in
             real_app.registered_commands}
    if "plan" in names:
        return real_app
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("plan")(plan)
    app.command("noop", hidden=True)(lambda: None)  # keeps "plan" a subcommand
    return app
