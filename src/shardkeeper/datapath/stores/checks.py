"""``backups verify`` in the agent: re-read one backup, judge it, record the verdict.

The checks, in order: metadata.json exists and parses; the data object it names exists;
its size and SHA-256 equal what metadata.json records. The verdict is written beside the
backup as a side record (``<shard>/_verify/<directory>.json``; metadata.json stays
immutable), so ``backups list``, retention and restore can read the last one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from shardkeeper import naming
from shardkeeper.contracts.common import Destination
from shardkeeper.contracts.verify import AgentVerifyReport, AgentVerifyRequest, VerifyCheck
from shardkeeper.datapath.stores.catalog import manifest_in
from shardkeeper.datapath.stores.destination import open_store
from shardkeeper.datapath.stores.verify import object_digest
from shardkeeper.errors import BackupIncomplete, BackupNotFound


def check_backup(request: AgentVerifyRequest,
                 on_progress: Callable[[int], None] | None = None) -> AgentVerifyReport:
    """Re-read one backup directory and write the verdict beside it.

    Raises:
        AccessDenied, BucketMissing, EndpointUnavailable: The store failed (no verdict).
    """
    loc = request.destination
    store = open_store(loc)
    prefix = naming.backup_prefix(loc.prefix, request.cluster, request.keyspace, request.shard,
                                  request.directory)
    checks: list[VerifyCheck] = []
    bytes_read = 0
    manifest_key = prefix + naming.MANIFEST_OBJECT
    try:
        manifest = manifest_in(store, manifest_key)
    except (BackupNotFound, BackupIncomplete) as exc:
        missing = isinstance(exc, BackupNotFound)
        checks.append(VerifyCheck(name="metadata", ok=False, detail=(
            f"{manifest_key} is missing: the backup is not committed" if missing else str(exc))))
    else:
        checks.append(VerifyCheck(name="metadata", ok=True, detail=manifest_key))
        if not store.exists(manifest.object_key):
            checks.append(VerifyCheck(name="object", ok=False,
                                      detail=f"{manifest.object_key} is missing"))
        else:
            checks.append(VerifyCheck(name="object", ok=True, detail=manifest.object_key))
            digest, bytes_read = object_digest(loc, manifest.object_key, on_progress)
            checks.append(VerifyCheck(
                name="size", ok=bytes_read == manifest.size_bytes,
                detail=f"{manifest.object_key}: {bytes_read} bytes stored, "
                       f"{manifest.size_bytes} recorded"))
            checks.append(VerifyCheck(
                name="sha256", ok=digest == manifest.sha256,
                detail=f"{manifest.object_key}: sha256 {digest} stored, {manifest.sha256} "
                       "recorded"))
    report = AgentVerifyReport(
        time=datetime.now(UTC), cluster=request.cluster, keyspace=request.keyspace,
        shard=request.shard, backup_id=request.backup_id, directory=request.directory,
        result="passed" if all(c.ok for c in checks) else "failed", checks=tuple(checks),
        bytes_read=bytes_read,
    )
    key = naming.verify_record_key(loc.prefix, request.cluster, request.keyspace,
                                   request.shard, request.directory)
    store.put_bytes(key, (report.model_dump_json(indent=2) + "\n").encode(), "application/json")
    return report


def verify_records(location: Destination, cluster: str, keyspace: str,
                   shard: str) -> dict[str, AgentVerifyReport]:
    """The last verdict of each backup directory of one shard that has one."""
    store = open_store(location)
    base = naming.shard_prefix(location.prefix, cluster, keyspace, shard) + naming.VERIFY_DIR
    records: dict[str, AgentVerifyReport] = {}
    for key, _modified in store.iter_objects(base + "/"):
        try:
            report = AgentVerifyReport.model_validate(json.loads(store.read_bytes(key)))
        except (ValueError, BackupNotFound):
            continue  # unreadable or deleted meanwhile: no verdict
        records[report.directory] = report
    return records
