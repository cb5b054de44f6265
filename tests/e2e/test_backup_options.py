"""User story: a schedule's engine, compression, encryption and destination reach the bytes.

Two BackupSchedules of the real cluster, applied and triggered through their Temporal
Schedules: physical (mariabackup) backups compressed with zstd and encrypted with a key from
an environment variable, to S3; logical (mariadb-dump) backups of one keyspace's database to
a filesystem destination. Each shard gets one committed backup whose metadata.json records how
the stream was encoded (never the key), whose stored bytes hash to the manifest, and which the
restore data path turns back into the source's data (``CHECKSUM TABLE``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datapath.restored import RestoredServer, table_checksums
from fixtures.e2e_stack import Stack, write_schedule_with
from fixtures.e2e_stack import stack as stack
from fixtures.servers import PASSWORD_ENV
from shardkeeper import naming
from shardkeeper.contracts.backup import BackupRunResult, Outcome
from shardkeeper.contracts.common import (
    CredentialRef,
    DatabaseCredentials,
    Destination,
    FilesystemLocation,
    Instance,
    Role,
    S3Location,
)
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.control import progress, schedules
from shardkeeper.control.backups import list_backups
from shardkeeper.datapath.restore.logical import restore_logical
from shardkeeper.datapath.restore.physical import copy_back, stage_backup
from shardkeeper.datapath.restore.resolve import resolve_backup
from shardkeeper.datapath.stores.destination import open_store, preflight
from shardkeeper.spec.convert import policy_of
from shardkeeper.spec.load import SpecSet, load
from shardkeeper.spec.schedule import BackupSchedule
from shardkeeper.spec.validate import check_references

pytestmark = pytest.mark.e2e
KEY_ENV = "SHARDKEEPER_TEST_E2E_BACKUP_KEY"
ALL_SHARDS = {("commerce", "-"), ("customer", "-80"), ("customer", "80-")}
CUSTOMER_SHARDS = {("customer", "-80"), ("customer", "80-")}


def _destination(specs: SpecSet) -> Destination:
    sched = specs.schedules[0].resource
    assert isinstance(sched, BackupSchedule)
    return policy_of(sched.spec).destination


async def _apply_and_trigger(stack: Stack, files: list[Path]) -> BackupRunResult:
    specs = load(files)
    check_references(specs)
    await asyncio.to_thread(preflight, _destination(specs))  # what `apply` checks first
    applied = await schedules.apply(stack.client, specs, stack.task_queue)
    assert [a.action for a in applied] == ["created"]
    name = applied[0].name
    await stack.client.get_schedule_handle(
        naming.schedule_id(stack.cluster.cluster, name)).trigger()
    run = await progress.latest_run(stack.client, stack.cluster.cluster, name, after=0)
    return await asyncio.wait_for(run.result(), timeout=240)


def _metadata_text(location: Destination, m: BackupManifest) -> str:
    return open_store(location).read_bytes(
        m.object_key.rsplit("/", 1)[0] + "/" + naming.MANIFEST_OBJECT).decode()


def _stored_sha256(location: Destination, key: str) -> tuple[str, int]:
    reader = open_store(location).open_read(key)
    digest, size = hashlib.sha256(), 0
    try:
        for chunk in reader.chunks(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    finally:
        reader.close()
    return digest.hexdigest(), size


def _payload_texts(node: object) -> list[str]:
    """Every payload of a history (JSON-encoded as base64 ``data`` fields), decoded."""
    if isinstance(node, dict):
        found = []
        for k, v in node.items():
            if k == "data" and isinstance(v, str):
                found.append(base64.b64decode(v).decode(errors="replace"))
            else:
                found += _payload_texts(v)
        return found
    if isinstance(node, list):
        return [t for item in node for t in _payload_texts(item)]
    return []


@pytest.fixture
def backup_key() -> CredentialRef:
    raw = os.urandom(32)
    os.environ[KEY_ENV] = base64.b64encode(raw).decode()  # the worker and its agents see it
    return CredentialRef(env=KEY_ENV)


async def test_schedule_options_reach_the_stored_backups(
    stack: Stack, backup_key: CredentialRef, tmp_path: Path
) -> None:
    key_text = os.environ[KEY_ENV]
    suffix = uuid.uuid4().hex[:6]
    volume = tmp_path / "volume"
    volume.mkdir()
    physical_files = write_schedule_with(
        tmp_path, stack, f"zstd-enc-{suffix}",
        compression={"algorithm": "zstd", "level": 3},
        encryption={"keyFrom": {"env": KEY_ENV}},
    )
    logical_files = write_schedule_with(
        tmp_path, stack, f"logical-fs-{suffix}",
        engine="logical", databases=["customer"],
        # Shard strategies, not a Keyspace one: a Keyspace strategy would own customer and take
        # it out of the physical schedule's Cluster strategy (ownership is decided at run time)
        strategies=[{"name": "customer-lo", "scope": "Shard", "keyspace": "customer",
                     "shard": "-80"},
                    {"name": "customer-hi", "scope": "Shard", "keyspace": "customer",
                     "shard": "80-"}],
        destination={"filesystem": {"path": str(volume), "prefix": "dumps"}},
    )
    s3_loc = _destination(load(physical_files))
    fs_loc = _destination(load(logical_files))
    assert isinstance(s3_loc, S3Location) and isinstance(fs_loc, FilesystemLocation)

    physical, logical = await asyncio.gather(
        _apply_and_trigger(stack, physical_files), _apply_and_trigger(stack, logical_files))

    for result, shards in ((physical, ALL_SHARDS), (logical, CUSTOMER_SHARDS)):
        assert {(s.keyspace, s.shard) for s in result.shards} == shards
        assert all(s.outcome == Outcome.SUCCEEDED for s in result.shards), result.shards

    # one committed backup per shard and run, found through the object store alone
    by_location: dict[str, list[BackupManifest]] = {}
    for label, loc, result in (("s3", s3_loc, physical), ("fs", fs_loc, logical)):
        by_location[label] = [m for m in list_backups([loc], stack.cluster.cluster)
                              if m.backup_id == result.backup_id]
        assert len(by_location[label]) == len(result.shards)

    for m in by_location["s3"]:
        assert m.engine == "mariabackup"
        assert m.object_key.endswith("/backup.xbstream.zst.enc")
        meta = json.loads(_metadata_text(s3_loc, m))
        assert meta["stream"]["compression"] == {"algorithm": "zstd", "level": 3}
        enc = meta["stream"]["encryption"]
        assert enc["algorithm"] == "aes-256-gcm-chunked-v1" and len(enc["key_id"]) == 16
        assert enc["key_id"] == hashlib.sha256(base64.b64decode(key_text)).hexdigest()[:16]
        assert m.stream is not None and m.size_bytes < m.stream.raw_size_bytes
        assert _stored_sha256(s3_loc, m.object_key) == (m.sha256, m.size_bytes)
    for m in by_location["fs"]:
        assert m.engine == "logical" and m.object_key.startswith("dumps/")
        assert m.object_key.endswith("/backup.sql")
        meta = json.loads(_metadata_text(fs_loc, m))
        assert meta["stream"]["format"] == "sql"
        assert meta["stream"]["databases"] == ["customer"]
        assert meta["stream"]["compression"] is None and meta["stream"]["encryption"] is None
        assert _stored_sha256(fs_loc, m.object_key) == (m.sha256, m.size_bytes)
        assert (volume / m.object_key).is_file()

    # the key never leaves its environment variable: not in metadata, not in histories
    texts = [_metadata_text(s3_loc, m) for m in by_location["s3"]]
    for s in physical.shards:
        history = await stack.client.get_workflow_handle(s.workflow_id or "").fetch_history()
        texts += _payload_texts(json.loads(history.to_json()))
    blob = "\n".join(texts)
    assert KEY_ENV in blob, "the reference travels"
    assert key_text not in blob
    assert base64.b64decode(key_text).hex() not in blob

    # `shardkeeper backups list` reads the filesystem destination from the schedule file
    from shardkeeper.cli.app import app

    listed = await asyncio.to_thread(
        CliRunner().invoke, app,
        ["backups", "list", *(f for p in logical_files for f in ("-f", str(p))), "-o", "json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert {(r["keyspace"], r["shard"]) for r in rows
            if r["backup_id"] == logical.backup_id} == CUSTOMER_SHARDS

    # restore: the physical backup of commerce/- into a fresh server, then the logical
    # backup of customer/80- into that same server, compared with the sources
    cluster = stack.cluster
    commerce = cluster.primary("commerce", "-")
    customer = cluster.primary("customer", "80-")
    expected_commerce = cluster.table_checksums(commerce)
    expected_customer = cluster.table_checksums(customer)
    physical_m = resolve_backup(s3_loc, cluster.cluster, "commerce", "-", physical.backup_id)
    logical_m = resolve_backup(fs_loc, cluster.cluster, "customer", "80-", logical.backup_id)

    staged = await asyncio.to_thread(
        stage_backup, s3_loc, physical_m, tmp_path / "staged", backup_key)
    assert staged.sha256 == physical_m.sha256
    home = tmp_path / "restored"
    copy_back(staged.staged_dir, home / "data")
    with RestoredServer(cluster, commerce, home / "data", home, sid=961) as db:
        assert db.checksums("commerce") == expected_commerce
        done = await asyncio.to_thread(
            restore_logical, fs_loc, logical_m,
            Instance(name="restored", role=Role.PRIMARY, socket=str(db.socket)),
            DatabaseCredentials(user=cluster.user, password=CredentialRef(env=PASSWORD_ENV)),
        )
        assert done.sha256 == logical_m.sha256
        assert table_checksums(db.connect(), "customer") == expected_customer
