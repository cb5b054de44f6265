"""Readiness, target and S3 object options in the YAML: spec → policy contract."""

from __future__ import annotations

from pathlib import Path

from fixtures.spec_docs import CLUSTER, backup, schedule, write
from shardkeeper.contracts.backup import BackupPolicy
from shardkeeper.contracts.common import S3Location
from shardkeeper.spec.convert import backup_run_input, run_input
from shardkeeper.spec.load import load

ENDPOINT = "http://127.0.0.1:8333"


def _s3(**options: object) -> dict[str, object]:
    return {"s3": {"bucket": "shardkeeper-demo", "endpoint": ENDPOINT, **options}}


def _policy(tmp_path: Path, **spec: object) -> BackupPolicy:
    specs = load([write(tmp_path, CLUSTER, schedule(**spec))])
    return run_input(specs.schedules[0], specs).policy


def test_defaults_back_up_what_can_be_backed_up(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    assert (policy.target, policy.readiness, policy.max_replica_lag_seconds) == (
        "prefer-replica", "source", 300)
    assert isinstance(policy.destination, S3Location)
    d = policy.destination
    assert (d.sse, d.sse_kms_key_id, d.storage_class, d.signature_version) == (
        None, None, None, "v4")


def test_strict_readiness_and_the_prefer_standby_alias(tmp_path: Path) -> None:
    policy = _policy(tmp_path, target="prefer-standby", readiness="all-tablets",
                     maxReplicaLag="30s")
    assert (policy.target, policy.readiness, policy.max_replica_lag_seconds) == (
        "prefer-replica", "all-tablets", 30)


def test_sse_kms_with_key_and_storage_class(tmp_path: Path) -> None:
    policy = _policy(tmp_path, destination=_s3(
        serverSideEncryption="aws:kms", sseKmsKeyId="alias/shardkeeper-backups",
        storageClass="STANDARD_IA"))
    d = policy.destination
    assert isinstance(d, S3Location)
    assert (d.sse, d.sse_kms_key_id, d.storage_class) == (
        "aws:kms", "alias/shardkeeper-backups", "STANDARD_IA")
    # the options survive the wire form the Schedule's action carries
    assert BackupPolicy.model_validate_json(policy.model_dump_json()) == policy


def test_sse_s3_and_signature_v2(tmp_path: Path) -> None:
    d = _policy(tmp_path, destination=_s3(serverSideEncryption="AES256",
                                          signatureVersion="v2")).destination
    assert isinstance(d, S3Location)
    assert (d.sse, d.sse_kms_key_id, d.signature_version) == ("AES256", None, "v2")


def test_a_backup_overrides_readiness_and_target(tmp_path: Path) -> None:
    path = write(tmp_path, CLUSTER, schedule(readiness="all-tablets", target="primary"),
                 backup(readiness="source", target="prefer-standby"))
    specs = load([path])
    policy = backup_run_input(specs.backups[0], specs, backup_id_suffix=None).policy
    assert (policy.readiness, policy.target) == ("source", "prefer-replica")
    inherited = load([write(tmp_path, CLUSTER, schedule(readiness="all-tablets"), backup(),
                            name="inherit.yaml")])
    base = backup_run_input(inherited.backups[0], inherited, backup_id_suffix=None).policy
    assert base.readiness == "all-tablets"
