"""``python -m shardkeeper`` — the same CLI as the ``shardkeeper`` console script."""

from shardkeeper.cli.entry import main

main()
