"""Helpers shared by the data-path tests (importable as ``dp_support``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shardkeeper.contracts.agent import AgentBackupReport, AgentBackupRequest
from shardkeeper.contracts.common import Instance, Role
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.control.stack.mariadb import InstanceInfo
from shardkeeper.datapath.engines.base import EngineCommand, NullObserver, StreamFacts

ACCESS_ENV = "SK_TEST_S3_ACCESS_KEY"
SECRET_ENV = "SK_TEST_S3_SECRET_KEY"
PASSWORD_ENV = "SHARDKEEPER_TEST_DB_PASSWORD"
KEY_ENV = "SK_TEST_BACKUP_KEY"


def instance_of(info: InstanceInfo, **changes: Any) -> Instance:
    """The contract Instance of a started test instance (socket connection)."""
    fields: dict[str, Any] = {
        "name": info.name,
        "role": Role(info.role),
        "socket": str(info.socket),
    }
    fields.update(changes)
    return Instance(**fields)


RequestFactory = Callable[..., AgentBackupRequest]


class ScriptEngine:
    """A stand-in engine: a Python child that streams, talks and exits as told.

    Used for failure shapes mariadb-backup cannot be made to produce on demand (a failure
    after several parts were uploaded, exit 0 without the success line, a hang).
    """

    name = "script"
    format = "xbstream"
    stream_files: frozenset[str] = frozenset()

    def __init__(
        self,
        *,
        stream_bytes: int,
        exit_code: int = 0,
        success_line: bool = True,
        sleep_after_seconds: float = 0.0,
    ) -> None:
        self.script = (
            "import sys, time\n"
            "out = sys.stdout.buffer\n"
            "block = bytes(range(256)) * 4096\n"
            f"left = {stream_bytes}\n"
            "while left > 0:\n"
            "    n = min(left, len(block))\n"
            "    out.write(block[:n])\n"
            "    left -= n\n"
            "out.flush()\n"
            "print('[00] streaming finished', file=sys.stderr, flush=True)\n"
            f"time.sleep({sleep_after_seconds})\n"
            + ("print('[00] completed OK!', file=sys.stderr, flush=True)\n" if success_line else "")
            + f"sys.exit({exit_code})\n"
        )
        self.stream_bytes = stream_bytes

    def expected_sha256(self) -> str:
        import hashlib

        block = bytes(range(256)) * 4096
        sha, left = hashlib.sha256(), self.stream_bytes
        while left > 0:
            n = min(left, len(block))
            sha.update(block[:n])
            left -= n
        return sha.hexdigest()

    def version(self) -> str | None:
        return "script-1"

    def command(self, request: AgentBackupRequest, workdir: Path) -> EngineCommand:
        return EngineCommand(argv=[sys.executable, "-c", self.script])

    def is_success_line(self, line: str) -> bool:
        return line.endswith("completed OK!")

    def succeeded(self, returncode: int, saw_success_line: bool) -> bool:
        return returncode == 0 and saw_success_line

    def facts(self, files: Mapping[str, bytes]) -> StreamFacts:
        return StreamFacts()

    def observer(self) -> NullObserver:
        return NullObserver()


ScriptRequest = Callable[..., tuple[AgentBackupRequest, ScriptEngine]]


def commit(request: AgentBackupRequest, report: AgentBackupReport) -> BackupManifest:
    """Verify the stored object and write metadata.json, as the ShardBackup workflow does."""
    from shardkeeper.datapath.stores import catalog, verify

    verify.verify_object(request.destination, report.key, report.sha256, report.size_bytes)
    manifest = BackupManifest(
        cluster=request.cluster,
        keyspace=request.keyspace,
        shard=request.shard,
        backup_id=request.backup_id,
        source_instance=request.source.name,
        source_role=request.source.role.value,
        engine=report.engine,
        engine_version=report.engine_version,
        server_version=report.server_version,
        object_key=report.key,
        size_bytes=report.size_bytes,
        sha256=report.sha256,
        parts=report.parts,
        started_at=report.started_at,
        finished_at=report.finished_at,
        verified_at=datetime.now(UTC),
        binlog=report.binlog,
        replica_source_binlog=report.replica_source_binlog,
        stream=report.stream,
    )
    catalog.put_manifest(request.destination, manifest)
    return manifest
