"""The embedded stack for one host: real servers started as owned child processes.

``shardkeeper up`` and the test fixtures use the same launchers: the Temporal dev server
(:mod:`.temporal_server`), SeaweedFS as the S3 store (:mod:`.seaweedfs`) and a sharded MariaDB
cluster of primaries and GTID replicas (:mod:`.mariadb`). Everything binds to loopback,
lives in a directory the caller chooses and is stopped by whoever started it, or at interpreter
exit at the latest.
"""
