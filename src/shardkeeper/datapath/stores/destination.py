"""A destination by its location: open its store, check it can take backups, name it.

This module is the factory of the store implementations: it maps a
:class:`~shardkeeper.contracts.common.Destination` onto the S3 store (``stores/s3.py``) or
the filesystem store (``stores/filesystem.py``). Implementations import only the protocol
(``stores/protocol.py``), never this module, so the store modules import in one direction.
"""

from __future__ import annotations

from shardkeeper.contracts.common import Destination, FilesystemLocation, S3Location
from shardkeeper.datapath.stores import filesystem, s3_client
from shardkeeper.datapath.stores.filesystem import FilesystemStore
from shardkeeper.datapath.stores.protocol import Store
from shardkeeper.datapath.stores.s3 import S3Store


def open_store(location: Destination) -> Store:
    """The store implementation for ``location``.

    Raises:
        SpecInvalid: A credential reference cannot be resolved.
    """
    if isinstance(location, FilesystemLocation):
        return FilesystemStore(location)
    if isinstance(location, S3Location):
        return S3Store(location)
    raise TypeError(f"unknown destination {type(location).__name__}")  # pragma: no cover


def root_of(location: Destination) -> str:
    """The key prefix every backup of ``location`` lives under (``""`` or ``"prefix/"``)."""
    prefix = location.prefix.strip("/")
    return f"{prefix}/" if prefix else ""


def describe_location(location: Destination) -> str:
    """Where ``location`` is, for messages and listings (never a credential; opens nothing)."""
    prefix = location.prefix.strip("/")
    if isinstance(location, FilesystemLocation):
        return f"{location.path.rstrip('/')}/{prefix}" if prefix else location.path
    return f"s3://{location.bucket}/{prefix}" if prefix else f"s3://{location.bucket}"


def preflight(location: Destination) -> None:
    """Check cheaply, before anything is scheduled, that backups can be written to ``location``.

    S3: HeadBucket and a one-key listing with the configured credentials
    (:func:`shardkeeper.datapath.stores.s3_client.preflight`). Filesystem: a real write in
    the directory (:func:`shardkeeper.datapath.stores.filesystem.preflight`). Only meaningful
    where the agent runs (the local executor): a Kubernetes Job sees its own volume.

    Raises:
        SpecInvalid: A credential reference cannot be resolved.
        AccessDenied: The credentials were refused, or the directory is not writable.
        BucketMissing: The bucket or the directory does not exist.
        EndpointUnavailable: The endpoint cannot be reached.
        PermanentError: The path is not a directory.
    """
    if isinstance(location, S3Location):
        s3_client.preflight(location)
        return
    filesystem.preflight(location)
