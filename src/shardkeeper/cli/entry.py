"""The console-script entry point (``shardkeeper``, ``python -m shardkeeper``).

``agent …`` goes straight to the agent's slim entry point (``shardkeeper.agent``), before the
typer app and its commands are imported: an executor starts one agent per shard operation,
and ``shardkeeper agent backup`` is what a Kubernetes Job's image runs. Everything else is
the typer app (``cli/app.py``).
"""

from __future__ import annotations

import sys


def main() -> None:
    """Run ``shardkeeper`` with ``sys.argv``."""
    if sys.argv[1:2] == ["agent"]:
        from shardkeeper.agent import main as agent_main

        sys.exit(agent_main(sys.argv[2:]))
    from shardkeeper.cli.app import main as app_main

    app_main()
