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
from shardkeeper.datapath.stores.protocol import Store
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
    schedule: str | None = None,
) -> BackupManifest:
    """The manifest of ``backup_id`` (or of the latest committed backup) of one shard.

    Reads only the store: this works with nothing but the bucket (or directory), in either
    key layout (a directory named by the id, or ``<id>_<schedule tag>``). When several
    committed backups of the shard share the id (two schedules or strategies at one nominal
    time), ``strategy`` and then ``schedule`` narrow them; when more than one is left the
    restore is refused, listing the candidates.

    Raises:
        BackupNotFound: No backups at all under the shard's prefix, or ``backup_id`` is not
            among them (the message lists the available ids).
        BackupIncomplete: Objects exist without metadata.json (never committed), or the
            manifest is unreadable or names another backup.
        SpecInvalid: Several backups share the id; ``strategy``/``schedule`` pick none.
        AccessDenied, BucketMissing, EndpointUnavailable: The store failed.
    """
    store = open_store(location)
    base = naming.shard_prefix(location.prefix, cluster, keyspace, shard)
    committed = _backup_directories(store, base)
    where = f"{base} in {store.describe()}"
    if not committed:
        raise BackupNotFound(f"no backups under {where}")
    bare_id, tag = naming.split_backup_dir(backup_id or "")
    if tag is not None:  # a backup's directory (``backups list``): exactly that backup
        if backup_id not in committed:
            raise BackupNotFound(f"backup {backup_id} not present under {where}")
        if not committed[backup_id]:
            raise BackupIncomplete(f"backup {backup_id} under {where} has no metadata.json")
        return _pick(location, cluster, keyspace, shard, bare_id, [backup_id], None, None)
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
    return _pick(location, cluster, keyspace, shard, chosen, by_id[chosen], strategy,
                 schedule)


def _backup_directories(store: Store, base: str) -> dict[str, bool]:
    """Every backup directory under a shard's prefix, and whether it holds metadata.json."""
    committed: dict[str, bool] = {}
    for key, _modified in store.iter_objects(base):
        directory, sep, rest = key[len(base) :].partition("/")
        if not sep or naming.is_side_record_dir(directory):
            continue
        committed[directory] = committed.get(directory, False) or rest == naming.MANIFEST_OBJECT
    return committed


def _pick(
    location: Destination, cluster: str, keyspace: str, shard: str, backup_id: str,
    directories: list[str], strategy: str | None, schedule: str | None,
) -> BackupManifest:
    """The one manifest of ``backup_id`` among ``directories`` (see :func:`narrow`)."""
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
    return narrow(manifests, strategy, schedule)


def narrow(
    manifests: list[BackupManifest], strategy: str | None, schedule: str | None
) -> BackupManifest:
    """The one of several committed backups sharing a shard and an id that is meant.

    Two schedules (or a cluster-wide and a one-shard strategy) firing at one nominal time
    write backups with the same id. Restoring one of them by guess could restore the wrong
    data set, so a tie that ``strategy`` and ``schedule`` do not break is refused.

    Raises:
        SpecInvalid: None or several are left; the message lists the candidates.
    """
    left = manifests
    if len(left) > 1 and strategy is not None:
        left = [m for m in left if m.strategy == strategy]
    if len(left) > 1 and schedule is not None:
        left = [m for m in left if m.schedule == schedule]
    if len(left) == 1:
        return left[0]
    first = manifests[0]
    candidates = ", ".join(
        f"{m.directory()} (schedule {m.schedule}, strategy {m.strategy})" for m in manifests
    )
    wanted = "".join(f" {what} {value}" for what, value in
                     (("strategy", strategy), ("schedule", schedule)) if value)
    raise SpecInvalid(
        f"{len(left)} backups{' of' + wanted if wanted else ''} of {first.cluster}/"
        f"{first.keyspace}/{first.shard} with id {first.backup_id} among {candidates}; "
        "name the strategy (and the schedule), or give the backup's directory as its id"
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
