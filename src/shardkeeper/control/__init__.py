"""The control side of shardkeeper: the CLI's commands and the embedded local stack."""
