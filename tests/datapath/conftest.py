"""Fixtures of the data-path tests: S3 locations with credentials by reference, requests."""

from __future__ import annotations

import base64
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dp_support import (
    ACCESS_ENV,
    KEY_ENV,
    PASSWORD_ENV,
    SECRET_ENV,
    RequestFactory,
    ScriptEngine,
    ScriptRequest,
    instance_of,
)
from restored import RestoredServer

from shardkeeper import naming
from shardkeeper.contracts.agent import AgentBackupRequest, stream_object_name
from shardkeeper.contracts.common import (
    CredentialRef,
    DatabaseCredentials,
    FilesystemLocation,
    Instance,
    Role,
    S3Credentials,
    S3Location,
)
from shardkeeper.control.stack.mariadb import InstanceInfo, MariaDBCluster
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.datapath.engines import ENGINES

MiB = 1 << 20


@pytest.fixture
def s3_location(
    seaweed: SeaweedFS, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> S3Location:
    """A location in a fresh bucket whose credentials are environment references."""
    monkeypatch.setenv(ACCESS_ENV, seaweed.access_key)
    monkeypatch.setenv(SECRET_ENV, seaweed.secret_key)
    return S3Location(
        bucket=s3_bucket,
        prefix="backups",
        endpoint=seaweed.endpoint,
        force_path_style=True,
        credentials=S3Credentials(
            access_key_id=CredentialRef(env=ACCESS_ENV),
            secret_access_key=CredentialRef(env=SECRET_ENV),
        ),
    )


@pytest.fixture
def fs_location(tmp_path: Path) -> FilesystemLocation:
    """A filesystem destination in a fresh directory (the seeds' volume location)."""
    return FilesystemLocation(path=str(tmp_path / "volume"), prefix="backups")


@pytest.fixture
def backup_key(monkeypatch: pytest.MonkeyPatch) -> CredentialRef:
    """A fresh AES-256 key in an environment variable, by reference."""
    monkeypatch.setenv(KEY_ENV, base64.b64encode(os.urandom(32)).decode())
    return CredentialRef(env=KEY_ENV)


@pytest.fixture
def make_request(s3_location: S3Location, mariadb_cluster: MariaDBCluster) -> RequestFactory:
    """Build a backup request of one instance into ``s3_location``."""

    def build(
        info: InstanceInfo | None = None,
        *,
        source: Instance | None = None,
        backup_id: str | None = None,
        location: S3Location | FilesystemLocation | None = None,
        **fields: Any,
    ) -> AgentBackupRequest:
        info = info or mariadb_cluster.replicas("commerce", "-")[0]
        loc = location or s3_location
        bid = backup_id or "20260101T000000Z-" + uuid.uuid4().hex[:6]
        return AgentBackupRequest(
            cluster=mariadb_cluster.cluster,
            keyspace=info.keyspace,
            shard=info.shard,
            backup_id=bid,
            source=source or instance_of(info),
            credentials=DatabaseCredentials(
                user=mariadb_cluster.user, password=CredentialRef(env=PASSWORD_ENV)
            ),
            destination=loc,
            key=naming.backup_prefix(
                loc.prefix, mariadb_cluster.cluster, info.keyspace, info.shard, bid
            )
            + stream_object_name(
                fields.get("engine", "mariabackup"),
                fields.get("compression"),
                fields.get("encryption"),
            ),
            **fields,
        )

    return build


@pytest.fixture
def script_request(
    s3_location: S3Location, monkeypatch: pytest.MonkeyPatch
) -> ScriptRequest:
    """A request served by a registered :class:`ScriptEngine` (no database involved)."""

    def build(**engine_args: Any) -> tuple[AgentBackupRequest, ScriptEngine]:
        engine = ScriptEngine(**engine_args)
        monkeypatch.setitem(ENGINES, "script", lambda: engine)
        bid = "20260101T000000Z-" + uuid.uuid4().hex[:6]
        request = AgentBackupRequest(
            cluster="demo",
            keyspace="ks",
            shard="-",
            backup_id=bid,
            source=Instance(name="fake-0", role=Role.PRIMARY, socket="/nonexistent"),
            credentials=DatabaseCredentials(user="nobody"),
            destination=s3_location,
            key=naming.backup_key(s3_location.prefix, "demo", "ks", "-", bid),
            engine="script",
            part_size_bytes=5 * MiB,
        )
        return request, engine

    return build


@pytest.fixture(scope="session")
def scratch_server(
    mariadb_cluster: MariaDBCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RestoredServer]:
    """A fresh, empty instance (the cluster's bootstrapped template) to restore dumps into."""
    home = tmp_path_factory.mktemp("scratch")
    template = mariadb_cluster.base_dir / ".template" / "data"
    shutil.copytree(template, home / "data", symlinks=True)
    server = RestoredServer(
        mariadb_cluster, mariadb_cluster.primary("commerce", "-"), home / "data", home, sid=990
    )
    server.start()
    yield server
    server.stop()
