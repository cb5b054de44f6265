"""shardkeeper: Temporal-native backup and restore orchestration for sharded MySQL/MariaDB."""

__version__ = "0.1.0"
