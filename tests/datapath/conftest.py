"""Fixtures of the data-path tests: S3 locations with credentials by reference, requests."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from dp_support import (
    ACCESS_ENV,
    PASSWORD_ENV,
    SECRET_ENV,
    RequestFactory,
    ScriptEngine,
    ScriptRequest,
    instance_of,
)

from shardkeeper import naming
from shardkeeper.contracts.agent import AgentBackupRequest
from shardkeeper.contracts.common import (
    CredentialRef,
    DatabaseCredentials,
    Instance,
    Role,
    S3Credentials,
    S3Location,
)
from shardkeeper.control.stack.mariadb_cluster import InstanceInfo, MariaDBCluster
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
def make_request(s3_location: S3Location, mariadb_cluster: MariaDBCluster) -> RequestFactory:
    """Build a backup request of one instance into ``s3_location``."""

    def build(
        info: InstanceInfo | None = None,
        *,
        source: Instance | None = None,
        backup_id: str | None = None,
        location: S3Location | None = None,
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
            key=naming.backup_key(
                loc.prefix, mariadb_cluster.cluster, info.keyspace, info.shard, bid
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
