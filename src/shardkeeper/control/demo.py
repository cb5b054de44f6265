"""Documents of the embedded demo: a BackupSchedule for the demo cluster and local S3."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

DEMO_SCHEDULE = "demo-nightly"
DEMO_BUCKET = "shardkeeper-demo"
S3_ACCESS_KEY_ENV = "SHARDKEEPER_DEMO_S3_ACCESS_KEY"
S3_SECRET_KEY_ENV = "SHARDKEEPER_DEMO_S3_SECRET_KEY"  # noqa: S105 - a variable name
DB_PASSWORD_ENV = "SHARDKEEPER_DEMO_DB_PASSWORD"  # noqa: S105 - a variable name


def schedule_document(
    *,
    cluster: str,
    endpoint: str,
    bucket: str = DEMO_BUCKET,
    name: str = DEMO_SCHEDULE,
    prefix: str = "backups",
    stagger_window: str = "30s",
    cron: str = "0 2 * * *",
    access_key_env: str = S3_ACCESS_KEY_ENV,
    secret_key_env: str = S3_SECRET_KEY_ENV,
    jobs_dir: str | None = None,
    first_backup: str = "immediate",
) -> dict[str, Any]:
    """A nightly schedule of the whole cluster, shards spread over ``stagger_window``.

    ``first_backup`` immediate: applying it backs up every shard at once (what ``up`` shows);
    tests that trigger runs themselves pass next-slot.
    """
    spec: dict[str, Any] = {
        "cluster": cluster,
        "schedule": cron,
        "timeZone": "UTC",
        "staggerWindow": stagger_window,
        "strategies": [{"name": "all-shards", "scope": "Cluster"}],
        "destination": {
            "s3": {
                "bucket": bucket,
                "prefix": prefix,
                "endpoint": endpoint,
                "region": "us-east-1",
                "forcePathStyle": True,
                "credentials": {
                    "accessKeyId": {"env": access_key_env},
                    "secretAccessKey": {"env": secret_key_env},
                },
            }
        },
        "engine": "mariabackup",
        "target": "prefer-replica",
        "retention": {"keepLast": 7, "retentionDays": 7},
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 1,
        "firstBackup": first_backup,
    }
    if jobs_dir:
        spec["executor"] = {"kind": "local", "jobsDir": jobs_dir}
    return {
        "apiVersion": "shardkeeper.io/v1alpha1",
        "kind": "BackupSchedule",
        "metadata": {"name": name},
        "spec": spec,
    }


def write_env_file(path: Path, variables: dict[str, str]) -> Path:
    """Write ``export`` lines a second terminal sources to reach the running demo.

    The demo's credentials are generated per ``up`` and live only in its environment; the
    file (mode 0600, in the state directory) hands them over without printing them.
    """
    lines = ["# source this file in a second terminal to use the running demo"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")
    return path
