"""Where backups are kept: the store protocol, its S3 and filesystem implementations, the catalog.

``protocol.py`` declares what the data path needs from a store; ``s3.py`` (with
``s3_client.py`` and ``multipart.py``) and ``filesystem.py`` implement it and import only the
protocol; ``destination.py`` picks the implementation for a location. ``catalog.py`` (the
commit records, listing), ``retention.py`` (what is deleted) and ``verify.py`` (re-read and
hash) work on any store.
This room imports nothing from the backup or restore rooms, nor from the engines.
"""
