"""The agent's data path: engine → SHA-256 → S3 multipart upload, verification, catalog.

This package moves backup payload bytes and reads the object store. It owns the engine
subprocesses, the multipart upload protocol and the metadata.json commit record on disk.
It must never import ``temporalio`` (an import-linter contract enforces it): the agent runs
as a plain process and reports through stdout and files, and the worker turns those into
heartbeats. Secrets are resolved here from references and never logged.

Rooms, each importing only the ones below it (``.importlinter`` enforces it)::

    agent.py              the agent process: request file in, progress and report out
    backup/ | restore/    one shard backup | one shard restore (never each other)
    stores/ | engines/    where backups are kept | the tools that make them
    codec/ | tools/ | progress.py   stream encodings | child processes | progress lines
    credentials.py        references → secrets
"""
