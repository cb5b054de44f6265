"""``shardkeeper agent restore``: request file in; progress, report or error, exit code out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dp_support import RequestFactory, commit

from shardkeeper.contracts.agent import (
    AgentProgress,
    AgentRestoreReport,
    AgentRestoreRequest,
    CompressionSpec,
)
from shardkeeper.contracts.common import FilesystemLocation
from shardkeeper.control.stack.mariadb import MariaDBCluster
from shardkeeper.datapath.backup.run import run_backup


def _agent_restore(
    tmp_path: Path, request: AgentRestoreRequest
) -> tuple[int, dict[str, Path], str]:
    files = {name: tmp_path / f"{name}.json" for name in ("request", "report", "error")}
    files["request"].write_text(request.model_dump_json())
    env = {
        **os.environ,
        "SHARDKEEPER_REQUEST_FILE": str(files["request"]),
        "SHARDKEEPER_REPORT_FILE": str(files["report"]),
        "SHARDKEEPER_ERROR_FILE": str(files["error"]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "shardkeeper", "agent", "restore"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert not done.stderr.startswith("Traceback"), done.stderr[-3000:]
    return done.returncode, files, done.stdout


def test_agent_restores_the_latest_backup_into_a_datadir(
    make_request: RequestFactory,
    mariadb_cluster: MariaDBCluster,
    fs_location: FilesystemLocation,
    tmp_path: Path,
) -> None:
    request = make_request(
        mariadb_cluster.replicas("commerce", "-")[0],
        location=fs_location,
        compression=CompressionSpec(),
    )
    progress: list[AgentProgress] = []
    report = run_backup(request, progress.append)
    manifest = commit(request, report)
    # Humans get an ETA: the source's size is estimated up front.
    assert progress[-1].total_bytes_estimate and progress[-1].total_bytes_estimate > 0
    assert report.stream is not None and progress[-1].raw_bytes == report.stream.raw_size_bytes
    datadir = tmp_path / "restored" / "data"

    code, files, stdout = _agent_restore(
        tmp_path,
        AgentRestoreRequest(
            cluster=request.cluster,
            keyspace="commerce",
            shard="-",
            source=fs_location,
            datadir=str(datadir),
        ),
    )

    assert code == 0, files["error"].read_text() if files["error"].exists() else stdout
    restored = AgentRestoreReport.model_validate_json(files["report"].read_text())
    assert restored.backup_id == manifest.backup_id and restored.sha256 == manifest.sha256
    assert restored.datadir == str(datadir) and restored.binlog.gtid
    assert (datadir / "ibdata1").is_file() and (datadir / "commerce" / "orders.ibd").is_file()
    assert not (datadir / ".shardkeeper-restore-in-progress").exists()
    lines = [AgentProgress.model_validate_json(line) for line in stdout.splitlines()]
    assert lines[0].phase == "starting" and lines[-1].phase == "restored"
    assert mariadb_cluster.password not in stdout


def test_agent_restore_of_a_missing_backup_is_permanent(
    fs_location: FilesystemLocation, tmp_path: Path
) -> None:
    code, files, _stdout = _agent_restore(
        tmp_path,
        AgentRestoreRequest(
            cluster="demo", keyspace="nope", shard="-", source=fs_location,
            datadir=str(tmp_path / "data"),
        ),
    )

    assert code == 2
    error = json.loads(files["error"].read_text())
    assert error["error_type"] == "BackupNotFound" and "no backups under" in error["message"]
    assert not (tmp_path / "data").exists()
