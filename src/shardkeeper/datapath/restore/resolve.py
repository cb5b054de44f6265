"""What a restore starts from: the manifest of the chosen backup and the key that opens it.

This module owns the lookup of backups from the raw store alone (no Temporal state needed:
the disaster recovery path): ``latest`` or an id, committed (metadata.json) or refused, and
the check that a given encryption key is the one the backup was written with. Both the
physical (``physical.py``) and the logical restore (``logical.py``) start here.
"""

from __future__ import annotations

from collections.abc import Callable

from shardkeeper import naming
from shardkeeper.contracts.common import CredentialRef, Destination
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.datapath.codec.encryption import key_id, load_key
from shardkeeper.datapath.stores import catalog
from shardkeeper.datapath.stores.destination import open_store
from shardkeeper.errors import AccessDenied, BackupIncomplete, BackupNotFound, SpecInvalid

LATEST = "latest"

Progress = Callable[[str, int, int], None]
"""A restore step's progress: (phase, stored bytes read, decoded bytes written)."""


def resolve_backup(
    location: Destination,
    cluster: str,
    keyspace: str,
    shard: str,
    backup_id: str | None = LATEST,
    strategy: str | None = None,
) -> BackupManifest:
    """The manifest of ``backup_id`` (or of the latest committed backup) of one shard.

    Reads only the store: this works with nothing but the bucket (or directory), in either
    key layout (a directory named by the id, or ``<id>_<schedule tag>``). When several
    committed backups of the shard share the id (two schedules or strategies at one nominal
    time), ``strategy`` picks one; without it the restore is refused, listing the candidates.

    Raises:
        BackupNotFound: No backups at all under the shard's prefix, or ``backup_id`` is not
            among them (the message lists the available ids).
        BackupIncomplete: Objects exist without metadata.json (never committed), or the
            manifest is unreadable or names another backup.
        SpecInvalid: Several backups share the id and ``strategy`` does not pick one.
        AccessDenied, BucketMissing, EndpointUnavailable: The store failed.
    """
    store = open_store(location)
    base = naming.shard_prefix(location.prefix, cluster, keyspace, shard)
    committed: dict[str, bool] = {}
    for key, _modified in store.iter_objects(base):
        directory, sep, rest = key[len(base) :].partition("/")
        if not sep or naming.is_side_record_dir(directory):
            continue
        committed[directory] = committed.get(directory, False) or rest == naming.MANIFEST_OBJECT
    where = f"{base} in {store.describe()}"
    if not committed:
        raise BackupNotFound(f"no backups under {where}")
    by_id: dict[str, list[str]] = {}
    for directory, ok in sorted(committed.items()):
        if ok:
            by_id.setdefault(naming.split_backup_dir(directory)[0], []).append(directory)
    complete = sorted(by_id)
    if backup_id in (None, "", LATEST):
        if not complete:
            raise BackupIncomplete(
                f"no complete backup under {where}: {len(committed)} backup prefix(es) have "
                f"objects but no metadata.json ({', '.join(sorted(committed))})"
            )
        chosen = complete[-1]  # ids start with the UTC time of the backup: they sort by age
    else:
        ids = {naming.split_backup_dir(d)[0] for d in committed}
        if backup_id not in ids:
            raise BackupNotFound(
                f"backup id {backup_id} not present under {where} "
                f"(available: {', '.join(complete) or 'none'})"
            )
        if backup_id not in by_id:
            raise BackupIncomplete(
                f"backup {backup_id} under {where} has objects but no metadata.json: it "
                "never completed (or is still being verified) and cannot be restored"
            )
        chosen = backup_id
    return _pick(location, cluster, keyspace, shard, chosen, by_id[chosen], strategy)


def _pick(
    location: Destination, cluster: str, keyspace: str, shard: str, backup_id: str,
    directories: list[str], strategy: str | None,
) -> BackupManifest:
    """The one manifest of ``backup_id`` among ``directories`` (by ``strategy`` if several)."""
    manifests = []
    for directory in directories:
        key = naming.manifest_key(location.prefix, cluster, keyspace, shard, directory)
        manifest = catalog.read_manifest(location, key)
        if (manifest.cluster, manifest.keyspace, manifest.shard, manifest.backup_id) != (
            cluster,
            keyspace,
            shard,
            backup_id,
        ):
            raise BackupIncomplete(f"{key} describes another backup ({manifest.backup_id})")
        manifests.append(manifest)
    if len(manifests) > 1 and strategy is not None:
        manifests = [m for m in manifests if m.strategy == strategy]
    if len(manifests) == 1:
        return manifests[0]
    candidates = ", ".join(
        f"{m.directory()} (schedule {m.schedule}, strategy {m.strategy})" for m in manifests
    ) or "none"
    wanted = f" of strategy {strategy}" if strategy else ""
    raise SpecInvalid(
        f"{len(manifests)} backups{wanted} of {cluster}/{keyspace}/{shard} have id "
        f"{backup_id}: {candidates}; name the strategy to restore"
    )


def encryption_key_for(manifest: BackupManifest, key_ref: CredentialRef | None) -> bytes | None:
    """The key that opens ``manifest``'s stream, checked against its recorded key id.

    Raises:
        SpecInvalid: The backup is encrypted and no key was given, or the key is malformed.
        AccessDenied: The key is not the one the backup was encrypted with.
    """
    info = manifest.stream.encryption if manifest.stream else None
    if info is None:
        return None
    if key_ref is None:
        raise SpecInvalid(
            f"backup {manifest.backup_id} is encrypted ({info.algorithm}, key id "
            f"{info.key_id}); pass the reference of its encryption key"
        )
    key = load_key(key_ref)
    if key_id(key) != info.key_id:
        raise AccessDenied(
            f"wrong encryption key for backup {manifest.backup_id}: it was encrypted with key "
            f"id {info.key_id}, the given key has id {key_id(key)}"
        )
    return key
