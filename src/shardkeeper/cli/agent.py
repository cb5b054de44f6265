"""``shardkeeper agent``: the data-path process an executor starts (never talks to Temporal).

The commands, their flags and their help live in the agent's own entry point
(``shardkeeper.agent``, also ``python -m shardkeeper.agent``); this command hands every
argument after ``agent`` to it, so there is one parser and one behaviour. The console script
dispatches ``agent`` before loading this app at all (``cli/entry.py``); this command is what
``shardkeeper --help`` lists and what the typer app runs when called directly.
"""

from __future__ import annotations

import typer


def agent(ctx: typer.Context) -> None:
    """Data-path agent (started by an executor): backup, restore, serve."""
    from shardkeeper.agent import main

    raise typer.Exit(main(ctx.args))


CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True}
"""Click settings that pass every argument after ``agent`` (``--help`` too) through."""
