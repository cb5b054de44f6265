"""The restore saga's activities: pick and verify backups, run the restore agent, check data.

* ``resolve_restore_set``: one committed backup per target shard, from the object store
  alone (metadata.json is the commit record; no Temporal history or schedule needed).
* ``verify_backup``: re-read the stored object and compare SHA-256 and size with
  metadata.json before anything is fenced.
* ``stage_restore``: one ``shardkeeper agent restore`` job per instance through the executor
  (download, verify while streaming, decrypt, decompress, extract, prepare, move into the
  empty datadir). Launch is create-or-attach on a deterministic job name and the wait
  heartbeats the agent's progress, like a backup. The worker never moves payload bytes.
* ``set_aside_datadir`` / ``return_datadir`` / ``discard_set_aside``: ``datadirs.py``.
* ``validate_restore``: the restored shard serves, replicas re-attach at the backup's GTID
  and hold the primary's data, every table checksums (or counts).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from temporalio import activity

from shardkeeper.activities import datadirs
from shardkeeper.activities.agent_job import wait_for_job
from shardkeeper.activities.executor.base import JobSpec
from shardkeeper.activities.heartbeat import Heartbeater
from shardkeeper.activities.instances import execute, is_up, listening, query
from shardkeeper.activities.jobs import JobActivities
from shardkeeper.contracts import names
from shardkeeper.contracts.agent import AgentRestoreReport, AgentRestoreRequest
from shardkeeper.contracts.base import Contract
from shardkeeper.contracts.common import DatabaseCredentials, Instance, Role
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.contracts.restore import (
    LATEST,
    BackupChoice,
    DatadirInput,
    DatadirRecord,
    ResolveRestoreSetInput,
    ResolveRestoreSetResult,
    ReturnDatadirResult,
    StageRestoreHeartbeat,
    StageRestoreInput,
    StageRestoreResult,
    ValidateRestoreInput,
    ValidateRestoreResult,
    VerifyBackupInput,
    VerifyBackupResult,
)
from shardkeeper.datapath.restore.resolve import narrow
from shardkeeper.datapath.stores import catalog, verify
from shardkeeper.errors import (
    BackupNotFound,
    InstanceRunning,
    RestoreValidationFailed,
    SpecInvalid,
)
from shardkeeper.naming import split_backup_dir, staging_path

AGENT_RESTORE_ARGV = [sys.executable, "-m", "shardkeeper.agent", "restore"]
SYSTEM_DATABASES = ("mysql", "information_schema", "performance_schema", "sys")
REPLICA_CATCH_UP_SECONDS = 300.0


# --- backup set --------------------------------------------------------------------------------


def choice_of(m: BackupManifest) -> BackupChoice:
    """The backup-set entry of a manifest (physical backups only, for now).

    Raises:
        SpecInvalid: A logical (SQL) backup; the saga moves datadirs, which it cannot fill.
    """
    if m.stream is not None and m.stream.format == "sql":
        raise SpecInvalid(f"backup {m.backup_id} of {m.keyspace}/{m.shard} is logical (SQL); "
                          "the Restore workflow restores physical backups only")
    gtid = m.binlog.gtid or (m.replica_source_binlog.gtid if m.replica_source_binlog else None)
    return BackupChoice(
        keyspace=m.keyspace, shard=m.shard, backup_id=m.backup_id, object_key=m.object_key,
        sha256=m.sha256, size_bytes=m.size_bytes, engine=m.engine, gtid=gtid,
        finished_at=m.finished_at, schedule=m.schedule, strategy=m.strategy,
    )


def pick_backup_set(inp: ResolveRestoreSetInput) -> ResolveRestoreSetResult:
    """One committed backup per shard: the id asked for, or the newest common id.

    Backups of one id written by several schedules or strategies are told apart by the
    source's ``strategy`` (a filter) and ``schedule`` (a tie-break); a tie left is refused.
    """
    cluster = inp.source.cluster or inp.cluster
    per_shard: dict[tuple[str, str], dict[str, list[BackupManifest]]] = {}
    for keyspace, shard in inp.shards:
        found = catalog.list_backups(inp.source.location, cluster, keyspace, shard)
        by_id = per_shard[(keyspace, shard)] = {}
        for m in found:
            if inp.source.strategy is None or m.strategy == inp.source.strategy:
                by_id.setdefault(m.backup_id, []).append(m)
    wanted = inp.source.backup_id
    # A backup's directory (``<id>_<tag>``, from ``backups list``) names exactly one backup.
    bare_id, tag = split_backup_dir(wanted)

    def one(key: tuple[str, str], backup_id: str) -> BackupManifest:
        candidates = per_shard[key][backup_id]
        if tag is not None:
            candidates = [m for m in candidates if m.directory() == wanted]
        return narrow(candidates, None, inp.source.schedule)

    missing = [f"{k}/{s}" for (k, s), found in per_shard.items() if not found]
    if missing:
        of_strategy = f" of strategy {inp.source.strategy!r}" if inp.source.strategy else ""
        raise BackupNotFound(
            f"no committed backup{of_strategy} of cluster {cluster!r} for {', '.join(missing)} "
            "under "
            f"{inp.source.location.prefix or '(no prefix)'} (metadata.json is what commits one)"
        )
    if wanted != LATEST:
        absent = [f"{k}/{s}" for (k, s), found in per_shard.items()
                  if not any(m.directory() == wanted or m.backup_id == wanted
                             for m in found.get(bare_id, []))]
        if absent:
            raise BackupNotFound(f"backup {wanted!r} of cluster {cluster!r} does not exist "
                                 f"(committed) for {', '.join(absent)}")
        chosen = [one(key, bare_id) for key in inp.shards]
        return ResolveRestoreSetResult(choices=tuple(choice_of(m) for m in chosen),
                                       note=f"backup id {wanted} for every shard")
    common = set.intersection(*(set(found) for found in per_shard.values()))
    if common:
        newest = max(common)
        chosen = [one(key, newest) for key in inp.shards]
        note = f"latest: {newest}, the newest backup id committed for every target shard"
    else:
        chosen = [one(key, max(per_shard[key])) for key in inp.shards]
        note = ("latest: no backup id is common to every target shard; each shard's newest "
                "(the shards are from different points in time)")
    return ResolveRestoreSetResult(choices=tuple(choice_of(m) for m in chosen), note=note)


@activity.defn(name=names.RESOLVE_RESTORE_SET)
async def resolve_restore_set(inp: ResolveRestoreSetInput) -> ResolveRestoreSetResult:
    """One backup per target shard (see :func:`pick_backup_set`)."""
    return await asyncio.to_thread(pick_backup_set, inp)


class VerifyHeartbeat(Contract):
    """Heartbeat details of ``verify_backup``."""

    key: str
    bytes_read: int = 0


@activity.defn(name=names.VERIFY_BACKUP)
async def verify_backup(inp: VerifyBackupInput) -> VerifyBackupResult:
    """Re-read metadata.json and the object; fail permanently when they disagree."""
    progress = VerifyHeartbeat(key=inp.choice.object_key)

    def on_progress(n: int) -> None:
        nonlocal progress
        progress = VerifyHeartbeat(key=inp.choice.object_key, bytes_read=n)

    async with Heartbeater(lambda: progress):
        digest, size = await asyncio.to_thread(
            verify.verify_object, inp.source.location, inp.choice.object_key,
            inp.choice.sha256, inp.choice.size_bytes, on_progress,
        )
    return VerifyBackupResult(sha256=digest, size_bytes=size)


# --- validation ----------------------------------------------------------------------------


def _tables(
    instance: Instance, creds: DatabaseCredentials, databases: tuple[str, ...]
) -> list[str]:
    rows = query(instance, creds,
                 "SELECT table_schema AS s, table_name AS t FROM information_schema.tables"
                 " WHERE table_type = 'BASE TABLE' ORDER BY table_schema, table_name")
    wanted = set(databases)
    return [f"`{r['s']}`.`{r['t']}`" for r in rows
            if (r["s"] in wanted) or (not wanted and r["s"] not in SYSTEM_DATABASES)]


def table_figures(instance: Instance, creds: DatabaseCredentials, mode: str,
                  databases: tuple[str, ...]) -> dict[str, int]:
    """``{"db.table": checksum or row count}`` of every table (reading every row)."""
    tables = _tables(instance, creds, databases)
    if not tables:
        return {}
    out: dict[str, int] = {}
    if mode == "count":
        for t in tables:
            row = query(instance, creds, f"SELECT COUNT(*) AS n FROM {t}")[0]  # noqa: S608
            out[t.replace("`", "")] = int(row["n"])
        return out
    for row in query(instance, creds, f"CHECKSUM TABLE {', '.join(tables)} EXTENDED"):
        if row["Checksum"] is None:
            raise RestoreValidationFailed(f"{instance.name}: table {row['Table']} unreadable")
        out[str(row["Table"])] = int(row["Checksum"])
    return out


def attach_replica(replica: Instance, creds: DatabaseCredentials, gtid: str) -> bool:
    """Point a restored replica at the backup's GTID and start replication.

    Returns:
        False when the replica has no replication source configured (nothing to attach).
    """
    status = query(replica, creds, "SHOW SLAVE STATUS")
    if not status or not status[0].get("Master_Host"):
        return False
    execute(replica, creds, "STOP SLAVE")
    with_gtid = f"SET GLOBAL gtid_slave_pos = '{_gtid_literal(gtid)}'"
    execute(replica, creds, with_gtid, "CHANGE MASTER TO MASTER_USE_GTID = slave_pos",
            "START SLAVE")
    return True


def _gtid_literal(gtid: str) -> str:
    # A GTID list is digits, dashes and commas; refuse anything else rather than quote it.
    if not all(c.isdigit() or c in "-,  " for c in gtid):
        raise RestoreValidationFailed(f"unexpected GTID position {gtid!r} in the backup")
    return gtid.replace(" ", "")


def wait_caught_up(replica: Instance, creds: DatabaseCredentials, target: str,
                   timeout: float) -> None:
    """Wait until the replica applied ``target`` with both threads running."""
    deadline = time.monotonic() + timeout
    while True:
        row = query(replica, creds, f"SELECT MASTER_GTID_WAIT('{_gtid_literal(target)}', 1) AS r")
        status = query(replica, creds, "SHOW SLAVE STATUS")
        s = status[0] if status else {}
        running = s.get("Slave_IO_Running") == "Yes" and s.get("Slave_SQL_Running") == "Yes"
        if row and row[0]["r"] == 0 and running:
            return
        if s.get("Slave_SQL_Running") == "No" or time.monotonic() > deadline:
            raise RestoreValidationFailed(
                f"replica {replica.name} did not re-attach: io={s.get('Slave_IO_Running')} "
                f"sql={s.get('Slave_SQL_Running')} io_error={s.get('Last_IO_Error')!r} "
                f"sql_error={s.get('Last_SQL_Error')!r}")


def validate(inp: ValidateRestoreInput) -> ValidateRestoreResult:
    """Blocking body of ``validate_restore``."""
    creds = inp.credentials
    primary = next(i for i in inp.shard.instances if i.role == Role.PRIMARY)
    replicas = [i for i in inp.shard.instances if i.role == Role.REPLICA]
    for inst in inp.shard.instances:
        if not is_up(inst, creds):
            raise RestoreValidationFailed(f"restored instance {inst.name} is not serving")
    attached: list[str] = []
    unattached: list[str] = []
    if inp.gtid:
        # The restored primary's binlog starts empty: make it begin at the backup's point so
        # replicas restored from the same backup can resume from there.
        gtid = _gtid_literal(inp.gtid)
        execute(primary, creds, "RESET MASTER", f"SET GLOBAL gtid_binlog_state = '{gtid}'",
                f"SET GLOBAL gtid_slave_pos = '{gtid}'")
        for replica in replicas:
            (attached if attach_replica(replica, creds, gtid) else unattached).append(
                replica.name)
        target = str(query(primary, creds, "SELECT @@gtid_binlog_pos AS p")[0]["p"] or gtid)
        for replica in replicas:
            if replica.name in attached:
                wait_caught_up(replica, creds, target, REPLICA_CATCH_UP_SECONDS)
    else:
        unattached = [r.name for r in replicas]
    figures = table_figures(primary, creds, inp.mode, inp.databases)
    for replica in replicas:
        theirs = table_figures(replica, creds, inp.mode, inp.databases)
        if theirs != figures:
            differ = sorted(k for k in set(figures) | set(theirs)
                            if figures.get(k) != theirs.get(k))
            raise RestoreValidationFailed(
                f"replica {replica.name} differs from primary {primary.name} in "
                f"{', '.join(differ[:10])}")
    return ValidateRestoreResult(
        checksums=figures if inp.mode == "checksum" else {},
        row_counts=figures if inp.mode == "count" else {},
        replicas_attached=tuple(attached), replicas_without_source=tuple(unattached),
    )


@activity.defn(name=names.VALIDATE_RESTORE)
async def validate_restore(inp: ValidateRestoreInput) -> ValidateRestoreResult:
    """The restored shard serves, replicas re-attach, every table checksums (or counts)."""
    async with Heartbeater(lambda: None):
        return await asyncio.to_thread(validate, inp)


# --- datadirs and the agent ----------------------------------------------------------------


class RestoreActivities:
    """Activities that need the worker's jobs directory (executor) or touch datadirs."""

    def __init__(self, jobs_dir: Path, agent_argv: list[str] | None = None) -> None:
        self._jobs = JobActivities(jobs_dir)
        self._agent_argv = list(agent_argv or AGENT_RESTORE_ARGV)

    @activity.defn(name=names.SET_ASIDE_DATADIR)
    async def set_aside_datadir(self, inp: DatadirInput) -> DatadirRecord:
        """Rename the stopped instance's datadir aside (never deleted before success)."""
        async with Heartbeater(lambda: None):
            if await asyncio.to_thread(listening, inp.instance):
                raise InstanceRunning(f"instance {inp.instance.name} still serves; not moving "
                                      "its datadir")
            return await asyncio.to_thread(datadirs.set_aside, inp.instance.datadir,
                                           inp.instance.name, inp.restore_key)

    @activity.defn(name=names.RETURN_DATADIR)
    async def return_datadir(self, inp: DatadirInput) -> ReturnDatadirResult:
        """Stop the restore job, remove what it wrote, put the old datadir back."""
        async with Heartbeater(lambda: None):
            if inp.job_name and inp.executor is not None:
                await self._jobs.executor(inp.executor).cancel(inp.job_name)
            return await asyncio.to_thread(datadirs.return_back, inp.instance.datadir,
                                           inp.instance.name, inp.restore_key)

    @activity.defn(name=names.DISCARD_SET_ASIDE)
    async def discard_set_aside(self, inp: DatadirInput) -> ReturnDatadirResult:
        """After a committed restore: delete the old datadir (only now)."""
        async with Heartbeater(lambda: None):
            return await asyncio.to_thread(datadirs.discard, inp.instance.datadir,
                                           inp.instance.name, inp.restore_key)

    @activity.defn(name=names.STAGE_RESTORE)
    async def stage_restore(self, inp: StageRestoreInput) -> StageRestoreResult:
        """Run (or attach to) the instance's restore job and wait for it, heartbeating."""
        if not inp.instance.datadir:
            raise SpecInvalid(f"instance {inp.instance.name} has no datadir")
        request = AgentRestoreRequest(
            cluster=inp.source.cluster or inp.cluster, keyspace=inp.keyspace, shard=inp.shard,
            backup_id=inp.backup.backup_id, strategy=inp.backup.strategy,
            schedule=inp.backup.schedule, source=inp.source.location,
            encryption_key=inp.source.encryption_key,
            staging_dir=staging_path(inp.instance.datadir, inp.restore_key),
            datadir=inp.instance.datadir, use_memory_bytes=inp.use_memory_bytes,
            instance=inp.instance, mode="full",
        )
        spec = JobSpec(name=inp.job_name, argv=list(self._agent_argv),
                       request_json=request.model_dump_json(), labels=dict(inp.labels))
        # A failed restore job is never replaced by a new one: the shard compensates instead.
        report_json = await wait_for_job(
            self._jobs.executor(inp.executor), inp.job_name,
            StageRestoreHeartbeat(job_name=inp.job_name, phase="launching",
                                  bytes_total=inp.backup.size_bytes),
            lambda p: StageRestoreHeartbeat(
                job_name=inp.job_name, phase=p.phase, bytes_done=p.bytes_streamed,
                bytes_total=inp.backup.size_bytes, rate_bytes_per_second=p.rate_bytes_per_second),
            launch=spec,
        )
        report = AgentRestoreReport.model_validate_json(report_json)
        return StageRestoreResult(datadir=report.datadir or inp.instance.datadir or "",
                                  size_bytes=report.size_bytes,
                                  raw_size_bytes=report.raw_size_bytes, sha256=report.sha256)
