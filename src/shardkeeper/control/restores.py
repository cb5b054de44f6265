"""Start, approve, cancel and watch Restore workflows; build their input from documents.

A restore is addressed by its name: the workflow id is ``shardkeeper/<cluster>/restore/
<name>`` (``naming.restore_workflow_id``), so ``approve NAME`` finds it without the
cluster by listing running ``Restore`` workflows. Per-shard bytes and rate come from the
heartbeat details of each child's running ``stage_restore`` activity (``describe``), so the
workflow history never grows with progress.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from shardkeeper import naming
from shardkeeper.contracts import names
from shardkeeper.contracts.common import Destination, TopologySource
from shardkeeper.contracts.restore import (
    QUERY_PROGRESS,
    SIGNAL_APPROVE,
    SIGNAL_CANCEL,
    UPDATE_APPROVE,
    ApproveInput,
    CancelInput,
    RestoreInput,
    RestoreProgress,
    RestoreSource,
    ShardProgress,
    StageRestoreHeartbeat,
)
from shardkeeper.errors import SpecInvalid
from shardkeeper.spec.base import parse_duration
from shardkeeper.spec.cluster import Cluster
from shardkeeper.spec.convert import credential_ref, destination_of, s3_location
from shardkeeper.spec.load import parse_document
from shardkeeper.spec.restore import Restore
from shardkeeper.spec.schedule import BackupSchedule
from shardkeeper.spec.yaml_input import read_documents


@dataclass
class Documents:
    """Restore, Cluster and BackupSchedule documents from a set of files."""

    restores: list[Restore]
    clusters: dict[str, Path]
    schedules: list[BackupSchedule]


def load_documents(paths: list[Path]) -> Documents:
    """Read every document; ``kind: Restore`` is validated here, the rest by ``spec.load``.

    Raises:
        SpecInvalid: One line per problem (file, document, field).
    """
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(q for q in p.iterdir() if q.suffix in (".yaml", ".yml"))
        elif p.exists():
            files.append(p)
        else:
            raise SpecInvalid(f"{p}: no such file or directory")
    docs = Documents([], {}, [])
    errors: list[str] = []
    for path in files:
        try:  # the same hostile-input checks as every other document (yaml_input)
            loaded = read_documents(path)
        except SpecInvalid as exc:
            errors.append(str(exc))
            continue
        for index, doc in enumerate(loaded, start=1):
            where = f"{path}: document {index}"
            if isinstance(doc, dict) and doc.get("kind") == "Restore":
                try:
                    docs.restores.append(Restore.model_validate(doc))
                except ValueError as exc:
                    errors.append(f"{where} (Restore): {exc}")
                continue
            resource, problems = parse_document(doc, where)
            errors += problems
            if isinstance(resource, Cluster):
                docs.clusters[resource.metadata.name] = path.resolve()
            elif isinstance(resource, BackupSchedule):
                docs.schedules.append(resource)
    if errors:
        raise SpecInvalid("\n".join(errors))
    return docs


def source_location(docs: Documents, cluster: str, schedule: str | None) -> Destination:
    """The destination of the named schedule, or of the cluster's only schedule."""
    mine = [s for s in docs.schedules if s.spec.cluster == cluster
            and (schedule is None or s.metadata.name == schedule)]
    if len(mine) != 1:
        what = f"BackupSchedule {schedule!r}" if schedule else "exactly one BackupSchedule"
        raise SpecInvalid(f"restore of cluster {cluster!r}: the files hold {len(mine)} matching "
                          f"schedules; name {what} or give the object store location (s3)")
    return destination_of(mine[0].spec.destination)


def input_of(restore: Restore, docs: Documents) -> RestoreInput:
    """The workflow input a Restore document describes."""
    spec = restore.spec
    target = spec.into or spec.cluster
    if target not in docs.clusters:
        raise SpecInvalid(f"Restore/{restore.metadata.name}: no Cluster document named "
                          f"{target!r} in the given files (the target instances)")
    src = spec.source
    location = (s3_location(src.s3) if src.s3 is not None
                else source_location(docs, spec.cluster, src.schedule))
    return RestoreInput(
        name=restore.metadata.name,
        cluster=spec.cluster,
        target=TopologySource(kind="file", cluster=target, path=str(docs.clusters[target])),
        source=RestoreSource(
            location=location, cluster=src.cluster, backup_id=src.backup_id,
            strategy=src.strategy, schedule=src.schedule,
            encryption_key=credential_ref(src.encryption_key_from)
            if src.encryption_key_from else None),
        keyspace=spec.keyspace, shard=spec.shard,
        require_approval=spec.require_approval,
        approval_timeout_seconds=parse_duration(spec.approval_timeout)
        if spec.approval_timeout else None,
        max_concurrent_shards=spec.max_concurrent_shards,
        validation=spec.validation,
    )


@dataclass(frozen=True)
class RestoreFlags:
    """What ``restore start`` was given on its command line."""

    cluster: str
    files: list[Path]
    keyspace: str | None = None
    shard: str | None = None
    backup: str = "latest"
    into: Path | None = None
    require_approval: bool = False
    schedule: str | None = None
    name: str | None = None
    strategy: str | None = None


def input_of_flags(flags: RestoreFlags) -> RestoreInput:
    """The workflow input of a restore given by flags, as if written as a Restore document.

    The cluster and schedule documents come from ``flags.files``; ``flags.into`` is the
    Cluster document of new instances to restore into. Without a name, one is generated.
    """
    docs = load_documents([*flags.files, *([flags.into] if flags.into else [])])
    into_name = None
    if flags.into is not None:
        into_name = next(iter(load_documents([flags.into]).clusters), None)
    name = flags.name or naming.generated_restore_name(uuid.uuid4().hex[:8])
    doc = Restore.model_validate({
        "metadata": {"name": name},
        "spec": {"cluster": flags.cluster, "keyspace": flags.keyspace, "shard": flags.shard,
                 "into": into_name,
                 "source": {"backupId": flags.backup, "schedule": flags.schedule,
                            "strategy": flags.strategy},
                 "requireApproval": flags.require_approval},
    })
    return input_of(doc, docs)


async def start(client: Client, inp: RestoreInput, task_queue: str) -> WorkflowHandle[Any, Any]:
    """Start the Restore workflow (one per name and cluster while it runs)."""
    try:
        return await client.start_workflow(
            names.RESTORE, inp, id=naming.restore_workflow_id(inp.cluster, inp.name),
            task_queue=task_queue)
    except RPCError as err:
        if err.status == RPCStatusCode.ALREADY_EXISTS:
            raise SpecInvalid(f"a restore named {inp.name!r} of cluster {inp.cluster!r} is "
                              "already running") from None
        raise


async def find(client: Client, name: str, cluster: str | None = None) -> WorkflowHandle[Any, Any]:
    """The handle of restore ``name`` (the running one when the cluster is not given)."""
    if cluster:
        return client.get_workflow_handle(naming.restore_workflow_id(cluster, name))
    found = [w async for w in client.list_workflows(f"WorkflowType = '{names.RESTORE}'")
             if naming.is_restore_workflow_of(w.id, name)]
    if not found:
        raise SpecInvalid(f"no restore named {name!r} (give --cluster if it is not listed)")
    newest = max(found, key=lambda w: w.start_time)
    return client.get_workflow_handle(newest.id)


async def approve(handle: WorkflowHandle[Any, Any], by: str | None) -> RestoreProgress:
    """Send ``approve`` as an update: rejected with a reason when there is nothing to approve."""
    try:
        progress: RestoreProgress = await handle.execute_update(
            UPDATE_APPROVE, ApproveInput(approved_by=by), result_type=RestoreProgress)
    except WorkflowUpdateFailedError as err:
        raise SpecInvalid(f"restore not approved: {err.cause}") from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise SpecInvalid(f"restore {handle.id} is not running; nothing to approve") from None
        raise
    return progress


async def cancel(handle: WorkflowHandle[Any, Any], reason: str | None) -> None:
    """Ask the restore to stop and compensate (workflow cancellation)."""
    del reason  # recorded only by the cancel signal; cancellation carries no payload
    await handle.cancel()


async def signal_approve(handle: WorkflowHandle[Any, Any], by: str | None) -> None:
    """``approve`` as a signal (fire and forget)."""
    await handle.signal(SIGNAL_APPROVE, ApproveInput(approved_by=by))


async def signal_cancel(handle: WorkflowHandle[Any, Any], reason: str | None) -> None:
    """``cancel`` as a signal."""
    await handle.signal(SIGNAL_CANCEL, CancelInput(reason=reason))


async def snapshot(client: Client, handle: WorkflowHandle[Any, Any]) -> RestoreProgress:
    """The restore's progress, per-shard bytes and rate filled in from the children."""
    progress: RestoreProgress = await handle.query(QUERY_PROGRESS, result_type=RestoreProgress)
    shards = [await _with_bytes(client, s) for s in progress.shards]
    return progress.model_copy(update={"shards": tuple(shards)})


async def _with_bytes(client: Client, shard: ShardProgress) -> ShardProgress:
    if not shard.workflow_id:
        return shard
    try:
        desc = await client.get_workflow_handle(shard.workflow_id).describe()
    except RPCError:
        return shard
    done, rate = 0, 0.0
    for act in desc.raw_description.pending_activities:
        if act.activity_type.name != names.STAGE_RESTORE or not act.heartbeat_details.payloads:
            continue
        try:
            beat = StageRestoreHeartbeat.model_validate(
                json.loads(act.heartbeat_details.payloads[0].data))
        except ValueError:
            continue
        # every instance of the shard downloads the whole backup: show the slowest one's
        # share of bytes_total, and the shard's combined rate
        done = beat.bytes_done if not done else min(done, beat.bytes_done)
        rate += beat.rate_bytes_per_second
    if not done:
        return shard
    return shard.model_copy(update={"bytes_done": done, "rate_bytes_per_second": rate})
