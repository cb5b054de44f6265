"""Helpers of the real-server restore tests: a private cluster, backups without Temporal,
tree hashes, and the discipline of stopping every mariadbd a test (re)started."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from temporalio.client import Client, WorkflowHandle

from shardkeeper import naming
from shardkeeper.activities import instances
from shardkeeper.contracts.agent import AgentBackupRequest
from shardkeeper.contracts.common import (
    CredentialRef,
    DatabaseCredentials,
    Instance,
    Role,
    S3Credentials,
    S3Location,
    TopologySource,
)
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.contracts.restore import RestoreInput, RestoreSource
from shardkeeper.control.stack.mariadb import InstanceInfo, MariaDBCluster
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.datapath.backup.run import run_backup
from shardkeeper.datapath.stores import catalog
from shardkeeper.workflows.restore import RestoreWorkflow

PASSWORD_ENV = "SHARDKEEPER_RESTORE_TEST_DB_PASSWORD"
S3_KEY_ENV = "SHARDKEEPER_RESTORE_TEST_S3_KEY"
S3_SECRET_ENV = "SHARDKEEPER_RESTORE_TEST_S3_SECRET"
KEYSPACE, SHARD = "shop", "-"

# Files a clean stop → start → stop cycle of an *untouched* datadir rewrites (measured with
# mariadbd 10.11): the redo log's checkpoint, the system tablespace header's flushed LSN,
# Aria's control file and log, the buffer-pool dump, and the binlog index (each start adds
# a new binlog file; every existing one stays byte-identical). Everything else must match.
RESTART_REWRITES = frozenset({"ib_logfile0", "ibdata1", "aria_log_control", "aria_log.00000001",
                              "ib_buffer_pool", "mysql-bin.index"})
NEW_BINLOG = re.compile(r"^mysql-bin\.\d{6}$")


@dataclass
class RestoreStack:
    """Everything a restore test touches."""

    client: Client
    seaweed: SeaweedFS
    cluster: MariaDBCluster
    cluster_yaml: Path
    bucket: str
    queue: str
    jobs_dir: Path
    base: Path
    extra: list[Instance] = field(default_factory=list)
    """Instances outside the cluster a test started (new-instance restores)."""

    @property
    def location(self) -> S3Location:
        return location_of(self.seaweed, self.bucket)

    @property
    def credentials(self) -> DatabaseCredentials:
        return DatabaseCredentials(user=self.cluster.user,
                                   password=CredentialRef(env=PASSWORD_ENV))

    def primary(self) -> InstanceInfo:
        return self.cluster.primary(KEYSPACE, SHARD)

    def replica(self) -> InstanceInfo:
        return self.cluster.replicas(KEYSPACE, SHARD)[0]

    def instance(self, info: InstanceInfo) -> Instance:
        return instance_of(self.cluster, info)

    async def restore(self, **overrides: Any) -> WorkflowHandle[RestoreWorkflow, Any]:
        fields: dict[str, Any] = {
            "name": f"t-{uuid.uuid4().hex[:8]}",
            "cluster": self.cluster.cluster,
            "target": TopologySource(kind="file", cluster=self.cluster.cluster,
                                     path=str(self.cluster_yaml)),
            "source": RestoreSource(location=self.location),
            "keyspace": KEYSPACE, "shard": SHARD,
        }
        fields.update(overrides)
        inp = RestoreInput.model_validate(fields)
        return await self.client.start_workflow(
            RestoreWorkflow.run, inp, id=naming.restore_workflow_id(inp.cluster, inp.name),
            task_queue=self.queue)


def location_of(seaweed: SeaweedFS, bucket: str, prefix: str = "backups") -> S3Location:
    return S3Location(bucket=bucket, prefix=prefix, endpoint=seaweed.endpoint,
                      force_path_style=True,
                      credentials=S3Credentials(access_key_id=CredentialRef(env=S3_KEY_ENV),
                                                secret_access_key=CredentialRef(env=S3_SECRET_ENV)))


def instance_of(cluster: MariaDBCluster, info: InstanceInfo) -> Instance:
    return Instance(name=info.name, role=Role(info.role), host=info.host, port=info.port,
                    socket=str(info.socket), datadir=str(info.datadir),
                    start_command=tuple(cluster.start_command(info)))


def take_backup(stack: RestoreStack, location: S3Location, backup_id: str,
                cluster_name: str | None = None) -> BackupManifest:
    """A committed backup of the shard's primary, made by the data path alone (no Temporal)."""
    name = cluster_name or stack.cluster.cluster
    key = naming.backup_key(location.prefix, name, KEYSPACE, SHARD, backup_id)
    source = stack.instance(stack.primary())
    request = AgentBackupRequest(cluster=name, keyspace=KEYSPACE, shard=SHARD,
                                 backup_id=backup_id, source=source,
                                 credentials=stack.credentials, destination=location, key=key)
    report = run_backup(request, lambda _p: None)
    manifest = BackupManifest(
        cluster=name, keyspace=KEYSPACE, shard=SHARD, backup_id=backup_id,
        source_instance=source.name, source_role=source.role.value, engine=report.engine,
        engine_version=report.engine_version, server_version=report.server_version,
        object_key=key, size_bytes=report.size_bytes, sha256=report.sha256,
        parts=report.parts, started_at=report.started_at, finished_at=report.finished_at,
        verified_at=datetime.now(UTC), binlog=report.binlog,
        replica_source_binlog=report.replica_source_binlog, stream=report.stream,
    )
    catalog.put_manifest(location, manifest)
    return manifest


def file_hashes(root: Path) -> dict[str, str]:
    """Relative path → sha256 of every file below ``root`` (symlinks by target)."""
    out: dict[str, str] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "link:" + os.readlink(path)
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def differences(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Files that differ, beyond what a clean restart rewrites (see RESTART_REWRITES)."""
    changed = [k for k in before if after.get(k) != before[k] and k not in RESTART_REWRITES]
    added = [k for k in after if k not in before and not NEW_BINLOG.match(k)]
    return sorted(changed + added)


def leftovers(info: InstanceInfo) -> list[str]:
    """Anything a restore left beside the datadir (set-aside, staging, journals)."""
    return sorted(p.name for p in info.datadir.parent.iterdir() if ".sk-" in p.name)


async def stop_all(stack: RestoreStack) -> None:
    """Shut down every mariadbd of the cluster and every extra instance (SQL SHUTDOWN)."""
    targets = [stack.instance(i) for i in stack.cluster.instances] + stack.extra
    for inst in targets:
        if await asyncio.to_thread(instances.listening, inst):
            await asyncio.to_thread(instances.stop, inst, stack.credentials, 120.0)


def write_cluster_doc(path: Path, name: str, members: list[tuple[Instance, str]]) -> Path:
    """A Cluster document of ``(instance, role)`` pairs in keyspace shop, shard '-'."""
    doc = {
        "apiVersion": "shardkeeper.io/v1alpha1", "kind": "Cluster", "metadata": {"name": name},
        "spec": {
            "credentials": {"user": "shardkeeper", "passwordFrom": {"env": PASSWORD_ENV}},
            "keyspaces": [{"name": KEYSPACE, "shards": [{"name": SHARD, "instances": [
                {"name": i.name, "role": role, "host": i.host, "port": i.port,
                 "socket": i.socket, "datadir": i.datadir,
                 "startCommand": list(i.start_command)} for i, role in members]}]}],
        },
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
