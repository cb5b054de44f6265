"""`shardkeeper apply`: bad input is refused with a clear message, exit code, nothing written.

Documents are validated before anything else; S3 settings are checked (HeadBucket + List)
before a schedule is created, so a wrong endpoint or credential never leaves a schedule
that would fail at 2 a.m.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from temporalio.client import Client
from typer.testing import CliRunner

from fixtures.e2e_stack import cli_documents
from shardkeeper.cli.app import app
from shardkeeper.control.stack.mariadb import MariaDBCluster
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.control.stack.temporal_server import TemporalDevServer

runner = CliRunner()


def _docs(tmp_path: Path, cluster: MariaDBCluster, seaweed: SeaweedFS, bucket: str) -> list[Path]:
    return cli_documents(tmp_path, cluster, seaweed, bucket)


def _edit_schedule(path: Path, edit: dict[str, object]) -> None:
    doc = yaml.safe_load(path.read_text())
    spec = doc["spec"]
    for dotted, value in edit.items():
        *parents, last = dotted.split(".")
        node = spec
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        if value is None:
            del node[last]
        else:
            node[last] = value
    path.write_text(yaml.safe_dump(doc))


async def _apply(files: list[Path], address: str) -> tuple[int, str]:
    """Invoke the CLI in a thread: it runs its own event loop, as from a shell."""
    args = ["apply", "--address", address]
    for f in files:
        args += ["-f", str(f)]
    result = await asyncio.to_thread(runner.invoke, app, args)
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"strategies.0.scope": "Shards"},
         "spec.strategies[0].scope: Input should be 'Shard', 'Keyspace' or 'Cluster'"),
        ({"strategies": [{"name": "one", "scope": "Shard", "keyspace": "customer"}]},
         "scope 'Shard' needs both 'keyspace' and 'shard'"),
        ({"strategies": [{"name": "ks", "scope": "Keyspace", "keyspace": "orders"}]},
         "spec.strategies[0].keyspace: unknown keyspace 'orders'"),
        ({"retentionn": {"keepLast": 3}}, "spec.retentionn: unknown field"),
        ({"destination.s3.buckett": "x"}, "spec.destination.s3.buckett: unknown field"),
    ],
    ids=["unknown-scope", "shard-without-shard", "unknown-keyspace", "unknown-field",
         "unknown-nested-field"],
)
async def test_invalid_documents_exit_2_naming_the_field(
    tmp_path: Path, mariadb_cluster: MariaDBCluster, seaweed: SeaweedFS, s3_bucket: str,
    temporal_dev: TemporalDevServer, temporal_client: Client, edit: dict[str, object],
    expected: str,
) -> None:
    files = _docs(tmp_path, mariadb_cluster, seaweed, s3_bucket)
    _edit_schedule(files[1], edit)
    code, output = await _apply(files, temporal_dev.address)
    assert code == 2, output
    assert expected in " ".join(output.split()), output
    assert str(files[1]) in output.replace("\n", ""), "the message names the file"
    assert "Traceback" not in output
    assert not [s async for s in await temporal_client.list_schedules()
                if s.id.endswith(yaml.safe_load(files[1].read_text())["metadata"]["name"])]


async def test_malformed_yaml_names_the_line(
    tmp_path: Path, temporal_dev: TemporalDevServer
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: shardkeeper.io/v1alpha1\nkind: BackupSchedule\nspec: [unclosed\n")
    code, output = await _apply([bad], temporal_dev.address)
    assert code == 2
    assert "malformed YAML at line" in output and "bad.yaml" in output.replace("\n", "")
    assert "Traceback" not in output


async def test_wrong_s3_credentials_are_refused_before_anything_is_created(
    tmp_path: Path, mariadb_cluster: MariaDBCluster, seaweed: SeaweedFS, s3_bucket: str,
    temporal_dev: TemporalDevServer, temporal_client: Client,
) -> None:
    files = _docs(tmp_path, mariadb_cluster, seaweed, s3_bucket)
    os.environ["SHARDKEEPER_TEST_WRONG_SECRET"] = "not-the-secret-" + uuid.uuid4().hex
    _edit_schedule(files[1], {"destination.s3.credentials.secretAccessKey":
                              {"env": "SHARDKEEPER_TEST_WRONG_SECRET"}})
    code, output = await _apply(files, temporal_dev.address)
    assert code == 2, output
    assert "AccessDenied" in output and s3_bucket in output
    assert os.environ["SHARDKEEPER_TEST_WRONG_SECRET"] not in output
    assert "Traceback" not in output
    name = yaml.safe_load(files[1].read_text())["metadata"]["name"]
    assert not [s async for s in await temporal_client.list_schedules() if s.id.endswith(name)]
    assert seaweed.client().list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0


async def test_unreachable_s3_endpoint_is_refused(
    tmp_path: Path, mariadb_cluster: MariaDBCluster, seaweed: SeaweedFS, s3_bucket: str,
    temporal_dev: TemporalDevServer,
) -> None:
    from shardkeeper.control.stack.ports import free_port

    files = _docs(tmp_path, mariadb_cluster, seaweed, s3_bucket)
    dead = f"http://127.0.0.1:{free_port()}"
    _edit_schedule(files[1], {"destination.s3.endpoint": dead})
    code, output = await _apply(files, temporal_dev.address)
    assert code == 1, output
    assert "EndpointUnavailable" in output and dead in output.replace("\n", "")
    assert "Traceback" not in output


def test_console_script_reports_errors_without_traceback(tmp_path: Path) -> None:
    """The real entry point (not the in-process runner) exits 2 with one message."""
    doc = tmp_path / "typo.yaml"
    doc.write_text(yaml.safe_dump({
        "apiVersion": "shardkeeper.io/v1alpha1", "kind": "Cluster",
        "metadata": {"name": "demo"},
        "spec": {"keyspaces": [{"name": "commerce", "shards": [{"name": "-", "instances": [
            {"name": "a", "role": "leader", "host": "127.0.0.1", "port": 3307}]}]}]},
    }))
    proc = subprocess.run([sys.executable, "-m", "shardkeeper", "apply", "-f", str(doc)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    err = " ".join(proc.stderr.split())
    assert "spec.keyspaces[0].shards[0].instances[0].role" in err
    assert "'primary' or 'replica'" in err
    assert "Traceback" not in proc.stderr + proc.stdout
