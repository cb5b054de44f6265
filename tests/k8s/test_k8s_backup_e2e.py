"""Done means: a schedule whose executor is ``kubernetes`` backs up the demo cluster.

The same real servers as tests/e2e (Temporal dev server, SeaweedFS, mariadbd primaries and
replicas, mariadb-backup); the worker runs in-process and creates one Kubernetes Job per
shard through the real client against the fake API server, whose kubelet runs each Job's
container (``python -m shardkeeper agent backup`` in the agent wrapper) as a local process.
Credentials reach the pods only as Secret references.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from temporalio.client import Client

from fixtures.e2e_stack import S3_KEY_ENV, S3_SECRET_ENV, write_documents
from fixtures.k8s_api import container_base_env
from fixtures.servers import PASSWORD_ENV
from k8s.fake_api import FakeKubernetes
from shardkeeper import naming
from shardkeeper.contracts.backup import BackupRunResult, Outcome
from shardkeeper.contracts.common import CredentialRef, S3Credentials, S3Location
from shardkeeper.control import progress, schedules
from shardkeeper.control.stack.mariadb import MariaDBCluster
from shardkeeper.control.stack.seaweedfs import SeaweedFS
from shardkeeper.datapath.stores.catalog import list_backups
from shardkeeper.spec.load import SpecSet, load
from shardkeeper.spec.validate import check_references
from shardkeeper.worker.main import running_worker
from shardkeeper.worker.settings import WorkerSettings

pytestmark = pytest.mark.e2e
SHARDS = {("commerce", "-"), ("customer", "-80"), ("customer", "80-")}
NAMESPACE = "backups"


@dataclass
class K8sStack:
    """What the test touches."""

    client: Client
    fake: FakeKubernetes
    kubeconfig: Path
    seaweed: SeaweedFS
    cluster: MariaDBCluster
    bucket: str
    task_queue: str
    jobs_dir: Path
    specs: SpecSet
    schedule_name: str

    @property
    def location(self) -> S3Location:
        return S3Location(
            bucket=self.bucket, prefix="backups", endpoint=self.seaweed.endpoint,
            force_path_style=True,
            credentials=S3Credentials(access_key_id=CredentialRef(env=S3_KEY_ENV),
                                      secret_access_key=CredentialRef(env=S3_SECRET_ENV)),
        )


@pytest.fixture(scope="module")
def module_fake_k8s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeKubernetes]:
    """One fake API server for the module."""
    base = tmp_path_factory.mktemp("k8s-e2e")
    fake = FakeKubernetes(base / "pods", base_env=container_base_env(base)).start()
    yield fake
    fake.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def k8s_stack(
    tmp_path_factory: pytest.TempPathFactory,
    temporal_client: Client,
    seaweed: SeaweedFS,
    mariadb_cluster: MariaDBCluster,
    module_fake_k8s: FakeKubernetes,
) -> AsyncIterator[K8sStack]:
    """Documents with ``executor: kubernetes``, Secrets in the fake, a worker running."""
    import os

    # The worker resolves the same {env: …} references itself (readiness, verification).
    os.environ[S3_KEY_ENV] = seaweed.access_key
    os.environ[S3_SECRET_ENV] = seaweed.secret_key
    fake = module_fake_k8s
    fake.secrets[(NAMESPACE, "s3")] = {"accessKeyId": seaweed.access_key,
                                       "secretAccessKey": seaweed.secret_key}
    fake.secrets[(NAMESPACE, "db")] = {"password": mariadb_cluster.password}
    bucket = f"k8s-{uuid.uuid4().hex[:12]}"
    seaweed.create_bucket(bucket)
    base = tmp_path_factory.mktemp("k8s-docs")
    jobs_dir = base / "jobs"
    kubeconfig = fake.write_kubeconfig(base / "kubeconfig")
    name = f"k8s-{uuid.uuid4().hex[:6]}"
    files = write_documents(base, mariadb_cluster, seaweed, bucket, jobs_dir, name)
    schedule_file = files[1]
    document = yaml.safe_load(schedule_file.read_text())
    document["spec"]["executor"] = {
        "kind": "kubernetes",
        "namespace": NAMESPACE,
        "image": "shardkeeper:test",
        "kubeconfig": str(kubeconfig),
        # the fake kubelet runs the container command on this host
        "agentCommand": [sys.executable, "-m", "shardkeeper"],
        "secretEnv": {
            S3_KEY_ENV: {"name": "s3", "key": "accessKeyId"},
            S3_SECRET_ENV: {"name": "s3", "key": "secretAccessKey"},
            PASSWORD_ENV: {"name": "db", "key": "password"},
        },
    }
    schedule_file.write_text(yaml.safe_dump(document, sort_keys=False))
    specs = load(files)
    check_references(specs)
    queue = f"k8s-e2e-{uuid.uuid4()}"
    async with running_worker(temporal_client, WorkerSettings(task_queue=queue,
                                                              jobs_dir=jobs_dir)):
        yield K8sStack(temporal_client, fake, kubeconfig, seaweed, mariadb_cluster, bucket,
                       queue, jobs_dir, specs, name)


async def test_a_kubernetes_schedule_backs_up_every_shard_once(k8s_stack: K8sStack) -> None:
    stack = k8s_stack
    applied = await schedules.apply(stack.client, stack.specs, stack.task_queue)
    assert [a.action for a in applied] == ["created"]
    handle = stack.client.get_schedule_handle(
        naming.schedule_id(stack.cluster.cluster, stack.schedule_name))
    await handle.trigger()
    run = await progress.latest_run(stack.client, stack.cluster.cluster, stack.schedule_name,
                                    after=0)
    result: BackupRunResult = await asyncio.wait_for(run.result(), timeout=240)

    assert {(s.keyspace, s.shard) for s in result.shards} == SHARDS
    assert all(s.outcome == Outcome.SUCCEEDED for s in result.shards), result.shards
    manifests = [m for m in list_backups(stack.location, stack.cluster.cluster)
                 if m.backup_id == result.backup_id]
    assert sorted((m.keyspace, m.shard) for m in manifests) == sorted(SHARDS)
    s3 = stack.seaweed.client()
    for m in manifests:
        body = s3.get_object(Bucket=stack.bucket, Key=m.object_key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == m.sha256
        assert len(body) == m.size_bytes
        assert m.source_role == "replica"
    assert s3.list_multipart_uploads(Bucket=stack.bucket).get("Uploads", []) == []

    # the bytes went through Kubernetes Jobs, not local processes
    jobs = stack.fake.list("jobs", NAMESPACE)
    assert len(jobs) == len(SHARDS)
    assert all(any(c["type"] == "Complete" for c in j["status"]["conditions"]) for j in jobs)
    assert not stack.jobs_dir.exists() or not any(stack.jobs_dir.iterdir())
    shards = {json.loads(j["metadata"]["annotations"]["shardkeeper.io/labels"])
              ["shardkeeper.io/shard"] for j in jobs}
    assert shards == {s for _, s in SHARDS}

    # kubectl sees the schedule's Jobs by label
    out = subprocess.run(
        ["kubectl", "--kubeconfig", str(stack.kubeconfig), "-n", NAMESPACE, "get", "jobs",
         "-l", f"shardkeeper.io/schedule={stack.schedule_name}", "-o", "name"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.split()) == sorted(f"job.batch/{j['metadata']['name']}"
                                                for j in jobs)

    # no secret in any Job or pod object: the kubelet resolved the Secret references
    objects = json.dumps([*jobs, *stack.fake.list("pods", NAMESPACE)])
    for secret in (stack.cluster.password, stack.seaweed.secret_key):
        assert secret not in objects
