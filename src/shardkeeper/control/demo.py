"""Documents of the embedded demo: a BackupSchedule for the demo cluster and local S3."""

from __future__ import annotations

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
) -> dict[str, Any]:
    """A nightly schedule of the whole cluster, shards spread over ``stagger_window``."""
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
    }
    if jobs_dir:
        spec["executor"] = {"kind": "local", "jobsDir": jobs_dir}
    return {
        "apiVersion": "shardkeeper.io/v1alpha1",
        "kind": "BackupSchedule",
        "metadata": {"name": name},
        "spec": spec,
    }
