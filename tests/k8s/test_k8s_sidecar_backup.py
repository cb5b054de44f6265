"""A Kubernetes backup Job that pulls the stream from the source pod's sidecar over mTLS.

The seeds' model end to end: the executor (configured with ``sidecar_port`` and
``sidecar_tls_secret``) rewrites the backup request to name the source instance's sidecar;
the fake kubelet runs the Job's agent as a local process with the client certificate from the
Secret; the agent connects to a real ``SidecarServer`` (real TLS, real mariadbd replica, real
mariadb-backup), hashes on the fly and uploads to the real SeaweedFS. A sidecar whose engine
fails leaves neither an object nor an open multipart upload.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from fixtures.servers import PASSWORD_ENV
from k8s.fake_api import FakeKubernetes
from k8s.test_k8s_executor import _wait
from k8s.test_k8s_sidecar import _issue
from shardkeeper.activities.executor.base import JobSpec, JobState
from shardkeeper.activities.executor.kubernetes import KubernetesExecutor
from shardkeeper.activities.executor.render import attach_sidecar, render_job
from shardkeeper.contracts.agent import AgentBackupReport, AgentBackupRequest
from shardkeeper.contracts.common import (
    CredentialRef,
    DatabaseCredentials,
    ExecutorConfig,
    Instance,
    KubernetesAccess,
    Role,
    S3Credentials,
    S3Location,
    SecretKeyRef,
)
from shardkeeper.control.stack.mariadb import MariaDBCluster
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.datapath.backup.sidecar import SidecarConfig, SidecarServer
from shardkeeper.errors import JobRejected

NAMESPACE = "backups"
TLS_SECRET = "sidecar-client-tls"
S3_KEY_ENV, S3_SECRET_ENV = "SK_TEST_S3_KEY", "SK_TEST_S3_SECRET"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, the sidecar's server certificate (127.0.0.1) and the Jobs' client certificate."""
    d = tmp_path_factory.mktemp("pki")
    authority = _issue(d, "ca", None, ca=True)
    _issue(d, "server", authority, server=True)
    _issue(d, "client", authority)
    return d


def _start_sidecar(pki: Path, instance: Instance) -> Iterator[int]:
    config = SidecarConfig(
        instance=instance,
        credentials=DatabaseCredentials(user="root", password=CredentialRef(env=PASSWORD_ENV)),
        cert=pki / "server.crt", key=pki / "server.key", client_ca=pki / "ca.crt")
    server = SidecarServer(("127.0.0.1", 0), config)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _executor(fake: FakeKubernetes, kubeconfig: Path, pki: Path, seaweed: SeaweedFS,
              sidecar_port: int) -> KubernetesExecutor:
    fake.secrets[(NAMESPACE, "s3")] = {"accessKeyId": seaweed.access_key,
                                       "secretAccessKey": seaweed.secret_key}
    fake.secrets[(NAMESPACE, TLS_SECRET)] = {
        "tls.crt": (pki / "client.crt").read_text(), "tls.key": (pki / "client.key").read_text(),
        "ca.crt": (pki / "ca.crt").read_text()}
    return KubernetesExecutor(ExecutorConfig(
        kind="kubernetes", access=KubernetesAccess(kubeconfig=str(kubeconfig)),
        namespace=NAMESPACE, image="shardkeeper:test",
        agent_command=(sys.executable, "-m", "shardkeeper"),
        secret_env={S3_KEY_ENV: SecretKeyRef(name="s3", key="accessKeyId"),
                    S3_SECRET_ENV: SecretKeyRef(name="s3", key="secretAccessKey")},
        sidecar_port=sidecar_port, sidecar_tls_secret=TLS_SECRET))


def _spec(name: str, seaweed: SeaweedFS, bucket: str, source: Instance) -> JobSpec:
    """A backup request as the workflow builds it: it knows nothing about sidecars."""
    backup_id = f"t{uuid.uuid4().hex[:8]}"
    request = AgentBackupRequest(
        cluster="demo", keyspace="customer", shard="-80", backup_id=backup_id, source=source,
        credentials=DatabaseCredentials(user="root"),
        destination=S3Location(
            bucket=bucket, prefix="backups", endpoint=seaweed.endpoint, force_path_style=True,
            credentials=S3Credentials(access_key_id=CredentialRef(env=S3_KEY_ENV),
                                      secret_access_key=CredentialRef(env=S3_SECRET_ENV))),
        key=f"backups/demo/customer/-80/{backup_id}/backup.xbstream",
        part_size_bytes=5 * 1024 * 1024)
    return JobSpec(name=name, argv=[sys.executable, "-m", "shardkeeper", "agent", "backup"],
                   request_json=request.model_dump_json(),
                   labels={"shardkeeper.io/cluster": "demo", "shardkeeper.io/shard": "-80"})


async def test_a_backup_job_streams_from_the_sidecar_into_s3(
    fake_k8s: FakeKubernetes, kubeconfig: Path, pki: Path, seaweed: SeaweedFS, s3_bucket: str,
    mariadb_cluster: MariaDBCluster, tmp_path: Path,
) -> None:
    replica = mariadb_cluster.replicas("customer", "-80")[0]
    sidecar_side = Instance(name=replica.name, role=Role.REPLICA, socket=str(replica.socket))
    for port in _start_sidecar(pki, sidecar_side):
        executor = _executor(fake_k8s, kubeconfig, pki, seaweed, port)
        # the Job's view of the source: a pod reachable by host, no socket it could open
        source = Instance(name=replica.name, role=Role.REPLICA, host="127.0.0.1",
                          port=replica.port)
        spec = _spec("sk-sidecar-ok", seaweed, s3_bucket, source)
        await executor.launch(spec)
        status = await _wait(executor, spec.name, timeout=120)
        logs = await executor.logs(spec.name, 40)
        assert status.state == JobState.SUCCEEDED, (status, logs)
        assert status.report_json is not None
        report = AgentBackupReport.model_validate_json(status.report_json)

    # the request the pod got names the sidecar, by Secret reference only
    job = fake_k8s.get("jobs", NAMESPACE, spec.name)
    assert job is not None
    delivered = json.loads(job["spec"]["template"]["metadata"]["annotations"]
                           ["shardkeeper.io/request"])
    assert delivered["sidecar"]["url"] == f"https://127.0.0.1:{port}/backup"
    pem = (pki / "client.key").read_text()
    assert pem.split("\n")[1] not in json.dumps(job)

    body = seaweed.client().get_object(Bucket=s3_bucket, Key=report.key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == report.sha256
    assert len(body) == report.size_bytes > 1024 * 1024
    assert report.stream is not None and report.stream.raw_size_bytes == len(body)
    # binlog facts parsed out of the remote stream, as from a local engine
    assert report.binlog.file and report.replica_source_binlog is not None
    assert report.engine_version
    target = tmp_path / "x"
    target.mkdir()
    subprocess.run(["mbstream", "-x", "-C", str(target)], input=body, check=True)
    assert (target / "xtrabackup_slave_info").exists()
    prepared = subprocess.run(["mariadb-backup", "--prepare", f"--target-dir={target}"],
                              capture_output=True, text=True, timeout=300)
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    assert seaweed.client().list_multipart_uploads(
        Bucket=s3_bucket).get("Uploads", []) == []


async def test_a_sidecar_whose_engine_fails_leaves_nothing_behind(
    fake_k8s: FakeKubernetes, kubeconfig: Path, pki: Path, seaweed: SeaweedFS, s3_bucket: str,
    mariadb_cluster: MariaDBCluster, tmp_path: Path,
) -> None:
    wrong = Instance(name="nowhere", role=Role.PRIMARY, socket=str(tmp_path / "no.sock"))
    for port in _start_sidecar(pki, wrong):
        executor = _executor(fake_k8s, kubeconfig, pki, seaweed, port)
        source = Instance(name="nowhere", role=Role.PRIMARY, host="127.0.0.1")
        spec = _spec("sk-sidecar-bad", seaweed, s3_bucket, source)
        await executor.launch(spec)
        status = await _wait(executor, spec.name, timeout=120)
        assert status.state == JobState.FAILED, status
        assert "EngineFailed" in (status.message or ""), status.message
        assert mariadb_cluster.password not in (status.message or "")

    s3 = seaweed.client()
    assert s3.list_objects_v2(Bucket=s3_bucket).get("Contents", []) == []
    assert s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def _pure_spec(engine: str = "mariabackup", host: str | None = "10.0.0.7",
               argv_tail: tuple[str, ...] = ("agent", "backup")) -> JobSpec:
    request = AgentBackupRequest(
        cluster="demo", keyspace="customer", shard="-80", backup_id="b1",
        source=Instance(name="p0", role=Role.REPLICA, host=host),
        credentials=DatabaseCredentials(), destination=S3Location(bucket="b"), key="k",
        engine=engine)
    return JobSpec(name="sk-pure", argv=["shardkeeper", *argv_tail],
                   request_json=request.model_dump_json(), labels={})


def _config(**kw: object) -> ExecutorConfig:
    return ExecutorConfig(kind="kubernetes", image="i", **kw)  # type: ignore[arg-type]


def test_the_rewrite_names_the_sidecar_by_secret_reference_only() -> None:
    spec = attach_sidecar(_pure_spec(), _config(sidecar_port=8443, sidecar_tls_secret="tls"))
    sidecar = AgentBackupRequest.model_validate_json(spec.request_json).sidecar
    assert sidecar is not None and sidecar.url == "https://10.0.0.7:8443/backup"
    assert sidecar.key.secret == SecretKeyRef(name="tls", key="tls.key")
    # rendered: the Secret keys become secretKeyRef variables of the pod
    job = render_job(spec, _config(sidecar_port=8443, sidecar_tls_secret="tls"))
    refs = {(v.value_from.secret_key_ref.name, v.value_from.secret_key_ref.key)
            for v in job.spec.template.spec.containers[0].env if v.value_from}
    assert {("tls", "tls.crt"), ("tls", "tls.key"), ("tls", "ca.crt")} <= refs


def test_the_rewrite_leaves_other_jobs_alone_and_refuses_what_cannot_work() -> None:
    on = _config(sidecar_port=8443, sidecar_tls_secret="tls")
    for spec in (_pure_spec(engine="logical"), _pure_spec(argv_tail=("agent", "restore"))):
        assert attach_sidecar(spec, on) == spec
    assert attach_sidecar(_pure_spec(), _config()) == _pure_spec()
    with pytest.raises(JobRejected, match="sidecarTlsSecret"):
        attach_sidecar(_pure_spec(), _config(sidecar_port=8443))
    with pytest.raises(JobRejected, match="no host"):
        attach_sidecar(_pure_spec(host=None), on)


def test_agent_serve_accepts_the_arguments_of_the_deploy_example() -> None:
    example = Path(__file__).parents[2] / "deploy/examples/mariadb-sidecar-patch.yaml"
    container = yaml.safe_load(example.read_text())["spec"]["template"]["spec"]["containers"][0]
    flags = {a.split("=")[0] for a in container["command"] if a.startswith("--")}
    out = subprocess.run([sys.executable, "-m", "shardkeeper", "agent", "serve", "--help"],
                         capture_output=True, text=True, timeout=60, env={"COLUMNS": "200",
                                                                          "PATH": "/usr/bin"})
    assert out.returncode == 0, out.stderr
    assert flags and all(f in out.stdout for f in flags), (flags, out.stdout)


def test_schedule_yaml_turns_the_sidecar_on() -> None:
    """sidecarPort/sidecarTlsSecret in a schedule's executor reach the executor config."""
    from shardkeeper.spec.executor import ExecutorSpec, executor_config

    spec = ExecutorSpec.model_validate({"kind": "kubernetes", "image": "sk:1",
                                        "sidecarPort": 9443, "sidecarTlsSecret": "sk-tls"})
    config = executor_config(spec)
    assert (config.sidecar_port, config.sidecar_tls_secret) == (9443, "sk-tls")
    with pytest.raises(ValueError, match="go together"):
        ExecutorSpec.model_validate({"kind": "kubernetes", "image": "sk:1", "sidecarPort": 1})
    with pytest.raises(ValueError, match="only for kind 'kubernetes'"):
        ExecutorSpec.model_validate({"kind": "local", "sidecarPort": 9443})
