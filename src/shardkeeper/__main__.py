"""``python -m shardkeeper`` — the same CLI as the ``shardkeeper`` console script."""

from shardkeeper.cli.app import main

main()
