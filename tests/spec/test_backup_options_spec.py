"""Engine, compression, encryption and the filesystem destination: spec → contracts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fixtures.spec_docs import CLUSTER, backup, schedule, write
from shardkeeper import naming
from shardkeeper.contracts.agent import CompressionSpec, EncryptionSpec, stream_object_name
from shardkeeper.contracts.backup import BackupPolicy
from shardkeeper.contracts.common import CredentialRef, FilesystemLocation, S3Location
from shardkeeper.datapath.stores.destination import describe_location, preflight
from shardkeeper.errors import AccessDenied, BucketMissing, PermanentError, SpecInvalid
from shardkeeper.spec.convert import backup_run_input, run_input
from shardkeeper.spec.load import load
from shardkeeper.spec.validate import check_references

OPTIONS = {
    "engine": "logical",
    "databases": ["commerce"],
    "compression": {"algorithm": "zstd", "level": 7},
    "encryption": {"keyFrom": {"secret": {"name": "backup-key", "key": "key"}}},
    "destination": {"filesystem": {"path": "/var/backups/sk", "prefix": "/dumps/"}},
}


def test_schedule_options_become_the_policy(tmp_path: Path) -> None:
    specs = load([write(tmp_path, CLUSTER, schedule(**OPTIONS))])
    check_references(specs)
    policy = run_input(specs.schedules[0], specs).policy
    assert policy.engine == "logical" and policy.databases == ("commerce",)
    assert policy.compression == CompressionSpec(algorithm="zstd", level=7)
    assert policy.encryption is not None and policy.encryption.key.secret is not None
    assert policy.encryption.key.secret.name == "backup-key"
    assert policy.destination == FilesystemLocation(path="/var/backups/sk", prefix="dumps")
    # the wire form round-trips through the Destination union
    again = BackupPolicy.model_validate_json(policy.model_dump_json())
    assert again == policy and isinstance(again.destination, FilesystemLocation)


def test_defaults_are_the_plain_physical_backup(tmp_path: Path) -> None:
    specs = load([write(tmp_path, CLUSTER, schedule())])
    policy = run_input(specs.schedules[0], specs).policy
    assert isinstance(policy.destination, S3Location)
    assert (policy.engine, policy.databases, policy.compression, policy.encryption) == (
        "mariabackup", (), None, None)
    name = stream_object_name(policy.engine, policy.compression, policy.encryption)
    assert naming.backup_key("p", "c", "k", "-", "id", name) == naming.backup_key(
        "p", "c", "k", "-", "id") == "p/c/k/-/id/backup.xbstream"


def test_old_policies_without_kind_or_options_still_load() -> None:
    old = {"destination": {"bucket": "b", "prefix": "x"}, "engine": "mariabackup"}
    policy = BackupPolicy.model_validate(old)
    assert isinstance(policy.destination, S3Location) and policy.compression is None


def test_a_backup_inherits_and_overrides_the_options(tmp_path: Path) -> None:
    specs = load([write(tmp_path, CLUSTER, schedule(**OPTIONS),
                        backup(compression={"level": 19}, engine="mariabackup"))])
    check_references(specs)
    policy = backup_run_input(specs.backups[0], specs, backup_id_suffix="m1").policy
    assert policy.engine == "mariabackup" and policy.databases == ()
    assert policy.compression == CompressionSpec(level=19)
    assert policy.encryption == EncryptionSpec(
        key=CredentialRef.model_validate({"secret": {"name": "backup-key", "key": "key"}}))
    assert isinstance(policy.destination, FilesystemLocation)


def test_a_backup_naming_databases_needs_the_logical_engine(tmp_path: Path) -> None:
    specs = load([write(tmp_path, CLUSTER, schedule(), backup(databases=["commerce"]))])
    with pytest.raises(SpecInvalid, match=r"spec\.databases: 'databases' needs engine 'logical'"):
        check_references(specs)


def test_filesystem_preflight(tmp_path: Path) -> None:
    preflight(FilesystemLocation(path=str(tmp_path)))
    assert list(tmp_path.iterdir()) == [], "the probe file is removed"
    with pytest.raises(BucketMissing, match="does not exist"):
        preflight(FilesystemLocation(path=str(tmp_path / "absent")))
    (tmp_path / "file").write_text("x")
    with pytest.raises(PermanentError, match="not a directory"):
        preflight(FilesystemLocation(path=str(tmp_path / "file")))
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(AccessDenied, match="not writable"):
            preflight(FilesystemLocation(path=str(locked)))


def test_describe_location() -> None:
    assert describe_location(FilesystemLocation(path="/v/", prefix="b")) == "/v/b"
    assert describe_location(S3Location(bucket="bk", prefix="p")) == "s3://bk/p"
