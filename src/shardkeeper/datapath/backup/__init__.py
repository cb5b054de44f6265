"""One shard backup: a source's raw stream → [zstd] → [AES-256-GCM] → SHA-256 → one object.

``run.py`` owns the life of an attempt (:func:`~shardkeeper.datapath.backup.run.run_backup`);
``source.py`` picks where the engine's bytes come from: the engine run here
(``local_engine.py``) or in the database pod's sidecar (``sidecar_source.py`` over the
protocol of ``sidecar.py``, which is also ``shardkeeper agent serve``). ``stream.py`` pumps
the bytes into upload parts and ``estimate.py`` guesses the size for an ETA. This room
never imports the restore room.
"""
