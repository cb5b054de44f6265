"""The agent's data path: engine → SHA-256 → S3 multipart upload, verification, catalog.

This package moves backup payload bytes and reads the object store. It owns the engine
subprocesses, the multipart upload protocol and the metadata.json commit record on disk.
It must never import ``temporalio`` (an import-linter contract enforces it): the agent runs
as a plain process and reports through stdout and files, and the worker turns those into
heartbeats. Secrets are resolved here from references and never logged.
"""
