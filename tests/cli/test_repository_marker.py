"""The repository marker: `apply` claims `<prefix>/<cluster>/`, refuses what it must not mix.

Real Temporal dev server and SeaweedFS with enforced credentials; the marker is read back
from the bucket. A refused location exits 2 naming the location and the marker's contents,
and leaves no schedule and no new object.
"""

from __future__ import annotations

import asyncio
import json
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
from shardkeeper.datapath.stores.repository import LAYOUT_VERSION, MARKER_OBJECT

runner = CliRunner()


def _docs(tmp_path: Path, cluster: MariaDBCluster, seaweed: SeaweedFS, bucket: str) -> list[Path]:
    return cli_documents(tmp_path, cluster, seaweed, bucket)


async def _apply(files: list[Path], address: str) -> tuple[int, str]:
    args = ["apply", "--address", address, *[a for f in files for a in ("-f", str(f))]]
    result = await asyncio.to_thread(runner.invoke, app, args)
    if result.exit_code == 0:  # leave no schedule behind in the session's dev server
        deleted = await asyncio.to_thread(runner.invoke, app, [
            "delete", "schedule", "--address", address, "-f", str(files[1])])
        assert deleted.exit_code == 0, deleted.output
    return result.exit_code, " ".join(result.output.split())


def _marker_key(cluster: str) -> str:
    return f"backups/{cluster}/{MARKER_OBJECT}"


def _schedule_name(files: list[Path]) -> str:
    return str(yaml.safe_load(files[1].read_text())["metadata"]["name"])


async def _schedule_ids(client: Client) -> set[str]:
    return {s.id async for s in await client.list_schedules()}


async def test_apply_writes_the_marker_once_and_keeps_it(
    tmp_path: Path, mariadb_cluster: MariaDBCluster, seaweed: SeaweedFS, s3_bucket: str,
    temporal_dev: TemporalDevServer,
) -> None:
    files = _docs(tmp_path, mariadb_cluster, seaweed, s3_bucket)
    code, output = await _apply(files, temporal_dev.address)
    assert code == 0, output
    where = f"s3://{s3_bucket}/backups/{mariadb_cluster.cluster}/"
    assert f"repository {where} marked" in output
    s3 = seaweed.client()
    body = s3.get_object(Bucket=s3_bucket, Key=_marker_key(mariadb_cluster.cluster))["Body"]
    marker = json.loads(body.read())
    assert marker["layout_version"] == LAYOUT_VERSION
    assert marker["cluster"] == mariadb_cluster.cluster and marker["created_at"]

    code, output = await _apply(files, temporal_dev.address)
    assert code == 0, output
    assert "marked" not in output, "an existing marker of this cluster is left as it is"
    again = json.loads(s3.get_object(Bucket=s3_bucket,
                                     Key=_marker_key(mariadb_cluster.cluster))["Body"].read())
    assert again == marker


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ({"layout_version": 9, "cluster": None, "created_at": "2026-01-01T00:00:00Z",
          "created_by": "shardkeeper 9.0"},
         "holds a repository of layout version 9 (written by shardkeeper 9.0); this "
         "shardkeeper reads layout versions 1, 2"),
        ({"layout_version": LAYOUT_VERSION, "cluster": "someone-else",
          "created_at": "2026-01-01T00:00:00Z"},
         "is the repository of cluster 'someone-else', not"),
        ({"not": "a marker"}, f"{MARKER_OBJECT} is not a shardkeeper repository marker"),
    ],
    ids=["unknown-layout", "other-cluster", "not-a-marker"],
)
async def test_a_location_another_repository_holds_is_refused(
    tmp_path: Path, mariadb_cluster: MariaDBCluster, seaweed: SeaweedFS, s3_bucket: str,
    temporal_dev: TemporalDevServer, temporal_client: Client, marker: dict[str, object],
    expected: str,
) -> None:
    files = _docs(tmp_path, mariadb_cluster, seaweed, s3_bucket)
    if "cluster" in marker and marker["cluster"] is None:
        marker["cluster"] = mariadb_cluster.cluster
    s3 = seaweed.client()
    s3.put_object(Bucket=s3_bucket, Key=_marker_key(mariadb_cluster.cluster),
                  Body=json.dumps(marker).encode())
    before = await _schedule_ids(temporal_client)

    code, output = await _apply(files, temporal_dev.address)

    assert code == 2, output
    assert "RepositoryMismatch" in output and expected in output, output
    assert f"s3://{s3_bucket}/backups/{mariadb_cluster.cluster}/" in output
    assert "Traceback" not in output
    assert not [i for i in await _schedule_ids(temporal_client) - before
                if i.endswith(_schedule_name(files))], "nothing is applied"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    assert keys == [_marker_key(mariadb_cluster.cluster)], "the marker is left untouched"
    body = s3.get_object(Bucket=s3_bucket, Key=keys[0])["Body"].read()
    assert json.loads(body) == marker


async def test_two_clusters_share_a_prefix_each_under_its_own_marker(
    tmp_path: Path, mariadb_cluster: MariaDBCluster, seaweed: SeaweedFS, s3_bucket: str,
    temporal_dev: TemporalDevServer,
) -> None:
    s3 = seaweed.client()
    s3.put_object(Bucket=s3_bucket, Key=_marker_key("another-cluster"), Body=json.dumps({
        "layout_version": LAYOUT_VERSION, "cluster": "another-cluster",
        "created_at": "2026-01-01T00:00:00Z"}).encode())
    files = _docs(tmp_path, mariadb_cluster, seaweed, s3_bucket)
    code, output = await _apply(files, temporal_dev.address)
    assert code == 0, output
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket).get("Contents", [])}
    assert keys == {_marker_key("another-cluster"), _marker_key(mariadb_cluster.cluster)}
