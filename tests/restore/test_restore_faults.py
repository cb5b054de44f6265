"""A failure injected at each step of an in-place restore, at process and protocol
boundaries: the object corrupted after verification, the restore agent killed, the
engine's prepare failing, the restored mariadbd killed. Every time the compensations must
return both instances to their previous datadir — byte-identical — and serving state.

Approval holds each restore after validation, so each fault is injected at a known point,
and lets the tests check that nothing destructive happens before ``approve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import WorkflowFailureError, WorkflowHandle

from fixtures.wait import eventually
from restore.support import (
    RestoreStack,
    differences,
    file_hashes,
    leftovers,
    take_backup,
)
from shardkeeper.activities import instances
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.contracts.restore import (
    QUERY_PROGRESS,
    SIGNAL_APPROVE,
    SIGNAL_CANCEL,
    ApproveInput,
    CancelInput,
    RestorePhase,
    RestoreProgress,
    RestoreSource,
    ShardRestoreResult,
)

pytestmark = pytest.mark.e2e
BACKUP_ID = "20261122T030000Z"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def backup(rstack: RestoreStack) -> AsyncIterator[BackupManifest]:
    yield await asyncio.to_thread(take_backup, rstack, rstack.location, BACKUP_ID)


async def wait_phase(handle: WorkflowHandle[object, object], phase: RestorePhase) -> None:
    await eventually(lambda: handle.query(QUERY_PROGRESS, result_type=RestoreProgress), 60,
                     f"the restore to reach {phase}", until=lambda p: p.phase == phase,
                     interval=0.1)


def pids_matching(*needles: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if all(n in cmd for n in needles):
            out.append(int(entry.name))
    return out


async def kill_agent(rstack: RestoreStack) -> None:
    """SIGKILL the restore agent as soon as its runner recorded it."""

    def killed() -> bool:
        for pid_file in rstack.jobs_dir.glob("skr-*/child.pid"):
            with contextlib.suppress(OSError, ValueError, KeyError):
                os.kill(int(json.loads(pid_file.read_text())["pid"]), signal.SIGKILL)
                return True
        return False

    await eventually(killed, 30, "a restore agent to kill")


async def kill_restored_mariadbd(rstack: RestoreStack) -> None:
    """SIGKILL every mariadbd started on the restored datadir (the fenced start's flag)."""
    datadir = str(rstack.primary().datadir)

    def killed() -> list[int]:
        pids = pids_matching("mariadbd", f"--datadir={datadir}", "--skip-slave-start")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids

    await eventually(killed, 60, "a restored mariadbd to kill")


async def corrupt_object(rstack: RestoreStack, manifest: BackupManifest) -> bytes:
    s3 = rstack.seaweed.client()
    body = s3.get_object(Bucket=rstack.bucket, Key=manifest.object_key)["Body"].read()
    bad = bytearray(body)
    bad[len(bad) // 2] ^= 0xFF
    s3.put_object(Bucket=rstack.bucket, Key=manifest.object_key, Body=bytes(bad))
    return body


def prepare_fails(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``mariadb-backup`` first on PATH that fails ``--prepare`` and runs the real one
    otherwise (the agent inherits the worker's environment)."""
    real = next(p for p in (Path(d) / "mariadb-backup" for d in os.environ["PATH"].split(":"))
                if p.exists())
    shim = tmp / "bin" / "mariadb-backup"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nfor a in "$@"; do [ "$a" = "--prepare" ] && '
                    f'{{ echo "injected prepare failure" >&2; exit 1; }}; done\n'
                    f'exec {real} "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{shim.parent}:{os.environ['PATH']}")


@pytest.mark.parametrize("fault", ["corrupt-object", "kill-agent", "prepare-fails",
                                   "kill-mariadbd"])
async def test_a_fault_at_any_step_leaves_the_target_exactly_as_it_was(
    rstack: RestoreStack, backup: BackupManifest, fault: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster = rstack.cluster
    primary, replica = rstack.primary(), rstack.replica()
    p_inst, creds = rstack.instance(primary), rstack.credentials
    sums = cluster.table_checksums(primary)
    # the reference: the primary's datadir at rest (a clean stop), then serving again
    await asyncio.to_thread(instances.stop, p_inst, creds)
    before = file_hashes(primary.datadir)
    await asyncio.to_thread(instances.start, p_inst, creds, (), 120.0)
    pid_before = instances.server_pid(p_inst, creds)
    cluster.wait_replicas_caught_up()

    handle = await rstack.restore(require_approval=True, source=RestoreSource(
        location=rstack.location, backup_id=backup.backup_id))
    await wait_phase(handle, RestorePhase.AWAITING_APPROVAL)
    # nothing destructive before approval: same server process, nothing moved aside
    assert instances.server_pid(p_inst, creds) == pid_before
    assert leftovers(primary) == [] and leftovers(replica) == []

    injector: Callable[[], Awaitable[object]] | None = None
    original: bytes | None = None
    if fault == "corrupt-object":
        original = await corrupt_object(rstack, backup)
    elif fault == "prepare-fails":
        prepare_fails(tmp_path, monkeypatch)
    elif fault == "kill-agent":
        injector = lambda: kill_agent(rstack)  # noqa: E731
    elif fault == "kill-mariadbd":
        injector = lambda: kill_restored_mariadbd(rstack)  # noqa: E731
    task = asyncio.ensure_future(injector()) if injector else None
    await handle.signal(SIGNAL_APPROVE, ApproveInput(approved_by="test"))
    try:
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), timeout=300)
        if task is not None:
            await asyncio.wait_for(task, timeout=5)
    finally:
        if original is not None:
            rstack.seaweed.client().put_object(Bucket=rstack.bucket, Key=backup.object_key,
                                               Body=original)
    progress = await handle.query(QUERY_PROGRESS, result_type=RestoreProgress)
    assert progress.phase == RestorePhase.COMPENSATED, progress
    assert progress.needs_attention == ()

    # the workflow's own proof: every datadir put back hashes (no exclusions, server
    # stopped) exactly as when it was set aside
    child = rstack.client.get_workflow_handle(progress.shards[0].workflow_id or "")
    with pytest.raises(WorkflowFailureError) as info:
        await child.result()
    shard = ShardRestoreResult.model_validate(info.value.cause.details[0])  # type: ignore[union-attr]
    assert len(shard.instances) == 2
    for inst in shard.instances:
        assert inst.digest_before and inst.digest_before == inst.digest_returned, inst
    assert all(c.ok for c in shard.compensations)

    # the instances serve again with the same data, the replica replicates
    assert cluster.table_checksums(primary) == sums
    cluster.wait_replicas_caught_up()
    assert cluster.table_checksums(replica) == sums
    # The IO thread may still be between reconnect attempts (MASTER_CONNECT_RETRY=1) if the
    # replica was unfenced a moment before its primary came back: give it a few retries.
    status = await eventually(lambda: cluster.slave_status(replica), 30,
                              "the replica's IO thread to run",
                              until=lambda s: s["Slave_IO_Running"] == "Yes", interval=0.5)
    assert (status["Slave_IO_Running"], status["Slave_SQL_Running"]) == ("Yes", "Yes")
    assert leftovers(primary) == [] and leftovers(replica) == []
    # and independently of the workflow: at rest, the datadir equals the reference
    await asyncio.to_thread(instances.stop, p_inst, creds)
    after = file_hashes(primary.datadir)
    await asyncio.to_thread(instances.start, p_inst, creds, (), 120.0)
    assert differences(before, after) == []


async def test_cancel_while_awaiting_approval_changes_nothing(
    rstack: RestoreStack, backup: BackupManifest,
) -> None:
    p_inst, creds = rstack.instance(rstack.primary()), rstack.credentials
    pid_before = instances.server_pid(p_inst, creds)
    handle = await rstack.restore(require_approval=True, source=RestoreSource(
        location=rstack.location, backup_id=backup.backup_id))
    await wait_phase(handle, RestorePhase.AWAITING_APPROVAL)
    await handle.signal(SIGNAL_CANCEL, CancelInput(reason="test"))
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), timeout=60)
    progress = await handle.query(QUERY_PROGRESS, result_type=RestoreProgress)
    assert progress.phase == RestorePhase.COMPENSATED
    assert instances.server_pid(p_inst, creds) == pid_before
    assert leftovers(rstack.primary()) == []
