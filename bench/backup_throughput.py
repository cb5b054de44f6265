"""Backup throughput: ``shardkeeper agent backup`` against the usual pipes, in one run.

Generates a one-shard database of >= 2 GB (server-side, MariaDBCluster), then measures on
this machine, each S3 row against a fresh SeaweedFS:

  (a) source limit   mariadb-backup --stream > /dev/null
  (b) sink limit     the same bytes uploaded from a file (aws s3 cp, s5cmd cp; fastest counts)
  (c) pipe           mariadb-backup --stream | aws s3 cp - s3://...
  (d) pipe           mariadb-backup --stream | rclone rcat            (if rclone is installed)
  (e) pipe           mariadb-backup --stream | s5cmd pipe s3://...
  agent              shardkeeper agent backup -> S3 (plus: zstd; signed payload for comparison)
  fs baseline        mariadb-backup --stream > file  (and > file && sync file: the agent fsyncs)
  agent fs           shardkeeper agent backup -> a directory

and prints the ratios the issue sets as targets. Usage:
``.venv/bin/python bench/backup_throughput.py [--rows N] [--workdir DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

from common import (
    Run,
    defaults_file,
    fresh_store,
    generated_cluster,
    measure,
    peer_tools,
    ratio,
    s3_env,
    write_results,
)

from shardkeeper.contracts.agent import AgentBackupRequest, CompressionSpec
from shardkeeper.contracts.common import (
    CredentialRef,
    DatabaseCredentials,
    FilesystemLocation,
    Instance,
    Role,
    S3Credentials,
    S3Location,
)


def _agent(
    work: Path, label: str, request: AgentBackupRequest, env: dict[str, str], nbytes: int
) -> Run:
    job = work / f"job-{label}"
    job.mkdir()
    (job / "request.json").write_text(request.model_dump_json())
    env = {
        **env,
        "SHARDKEEPER_REQUEST_FILE": str(job / "request.json"),
        "SHARDKEEPER_REPORT_FILE": str(job / "report.json"),
    }
    run = measure(
        f"agent backup ({label})",
        [sys.executable, "-m", "shardkeeper", "agent", "backup"],
        env=env,
        nbytes=nbytes,
    )
    if run.exit_code == 0:
        report = json.loads((job / "report.json").read_text())
        run.note = f"stored {report['size_bytes']} bytes in {report['parts']} parts"
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_500_000, help="rows per table (~0.9 KB/row)")
    parser.add_argument("--workdir", default=None, help="scratch directory (default: a temp dir)")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="sk-bench-backup-"))
    work.mkdir(parents=True, exist_ok=True)
    tools = peer_tools()
    cluster = generated_cluster(work, args.rows)
    runs: dict[str, Run] = {}
    try:
        primary = cluster.primary("bench", "-")
        cnf = defaults_file(work, cluster, primary)
        backup = (
            f"mariadb-backup --defaults-extra-file={cnf} --backup --stream=xbstream "
            f"--target-dir={work / 'mb-target'} --parallel=2 2>/dev/null"
        )

        def clean_target() -> None:
            shutil.rmtree(work / "mb-target", ignore_errors=True)

        stream_file = work / "stream.xbstream"
        runs["a_source_devnull"] = measure(
            "(a) mariadb-backup > /dev/null", f"{backup} > /dev/null"
        )
        clean_target()
        runs["fs_baseline_file"] = measure(
            "mariadb-backup > file", f"{backup} > {stream_file}"
        )
        clean_target()
        synced = work / "stream-synced.xbstream"
        # The agent's filesystem commit fsyncs (durability): compare with a pipe that does too.
        runs["fs_baseline_file_fsync"] = measure(
            "mariadb-backup > file && sync file", f"{backup} > {synced} && sync {synced}"
        )
        synced.unlink()
        clean_target()
        size = stream_file.stat().st_size
        print(f"  stream size: {size / (1 << 30):.2f} GiB", flush=True)
        for run in runs.values():
            run.bytes = size

        def s3_row(key: str, label: str, command: str) -> None:
            with fresh_store(work, key) as store:
                env = s3_env(store)
                runs[key] = measure(
                    label, command.format(endpoint=store.endpoint), env=env, nbytes=size
                )
            clean_target()

        if tools["aws"]:
            s3_row(
                "b_file_aws",
                "(b) aws s3 cp file",
                f"{tools['aws']} --endpoint-url {{endpoint}} s3 cp --quiet {stream_file} "
                "s3://bench/b",
            )
        if tools["s5cmd"]:
            for concurrency in (4, 8):
                s3_row(
                    f"b_file_s5cmd_c{concurrency}",
                    f"(b) s5cmd cp --concurrency {concurrency} file",
                    f"{tools['s5cmd']} --endpoint-url {{endpoint}} cp --concurrency "
                    f"{concurrency} {stream_file} s3://bench/b",
                )
        if tools["aws"]:
            s3_row(
                "c_pipe_aws",
                "(c) mariadb-backup | aws s3 cp -",
                f"{backup} | {tools['aws']} --endpoint-url {{endpoint}} s3 cp --quiet - "
                "s3://bench/c",
            )
        if tools["rclone"]:
            s3_row(
                "d_pipe_rclone",
                "(d) mariadb-backup | rclone rcat",
                f"{backup} | {tools['rclone']} rcat bench:bench/d",
            )
        if tools["s5cmd"]:
            s3_row(
                "e_pipe_s5cmd",
                "(e) mariadb-backup | s5cmd pipe",
                f"{backup} | {tools['s5cmd']} --endpoint-url {{endpoint}} pipe s3://bench/e",
            )
        stream_file.unlink()

        source = Instance(name=primary.name, role=Role.PRIMARY, socket=str(primary.socket))
        credentials = DatabaseCredentials(
            user=cluster.user, password=CredentialRef(env="SK_BENCH_PW")
        )
        base_env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
        base_env["SK_BENCH_PW"] = cluster.password

        def request(
            location: S3Location | FilesystemLocation, **fields: object
        ) -> AgentBackupRequest:
            bid = "20260101T000000Z-" + uuid.uuid4().hex[:6]
            return AgentBackupRequest(
                cluster="bench", keyspace="bench", shard="-", backup_id=bid, source=source,
                credentials=credentials, destination=location,
                key=f"bench/bench/-/{bid}/backup.xbstream", **fields,  # type: ignore[arg-type]
            )

        for label, extra_env, fields in (
            ("s3", {}, {}),
            ("s3, signed payload", {"SHARDKEEPER_S3_SIGN_PAYLOAD": "1"}, {}),
            ("s3, zstd -1", {}, {"compression": CompressionSpec(level=1)}),
        ):
            key = "agent_" + label.replace(", ", "_").replace(" ", "_").replace("-", "")
            with fresh_store(work, key) as store:
                location = S3Location(
                    bucket="bench", endpoint=store.endpoint, force_path_style=True,
                    credentials=S3Credentials(
                        access_key_id=CredentialRef(env="SK_BENCH_AK"),
                        secret_access_key=CredentialRef(env="SK_BENCH_SK"),
                    ),
                )
                env = {**base_env, **extra_env, "SK_BENCH_AK": store.access_key,
                       "SK_BENCH_SK": store.secret_key}
                runs[key] = _agent(work, key, request(location, **fields), env, size)
        volume = work / "volume"
        runs["agent_fs"] = _agent(
            work, "fs", request(FilesystemLocation(path=str(volume))), base_env, size
        )
        shutil.rmtree(volume, ignore_errors=True)
    finally:
        cluster.stop()

    _report(runs, size)


def _report(runs: dict[str, Run], size: int) -> None:
    def wall(key: str) -> float | None:
        return runs[key].wall_seconds if key in runs and runs[key].exit_code == 0 else None

    sinks = [wall(k) for k in runs if k.startswith("b_")]
    sink = min((s for s in sinks if s), default=None)
    limit = max(x for x in (wall("a_source_devnull"), sink) if x) if sink else None
    agent = wall("agent_s3")
    aws_rss = runs["c_pipe_aws"].peak_rss_mib.get("aws") if "c_pipe_aws" in runs else None
    agent_rss = max(
        (v for k, v in runs["agent_s3"].peak_rss_mib.items() if k.startswith("python")),
        default=None,
    )
    ratios = {
        "agent_wall_over_max_source_sink": ratio(agent, limit),
        "agent_wall_over_aws_pipe": ratio(agent, wall("c_pipe_aws")),
        "agent_wall_over_rclone_pipe": ratio(agent, wall("d_pipe_rclone")),
        "agent_wall_over_s5cmd_pipe": ratio(agent, wall("e_pipe_s5cmd")),
        "agent_cpu_over_aws_pipe_cpu": ratio(
            runs["agent_s3"].cpu_seconds,
            runs["c_pipe_aws"].cpu_seconds if "c_pipe_aws" in runs else None,
        ),
        "agent_rss_over_aws_rss": ratio(agent_rss, aws_rss),
        "agent_fs_wall_over_file_baseline": ratio(wall("agent_fs"), wall("fs_baseline_file")),
        "agent_fs_wall_over_file_fsync_baseline": ratio(
            wall("agent_fs"), wall("fs_baseline_file_fsync")
        ),
        "signed_payload_cpu_over_unsigned": ratio(
            runs["agent_s3_signed_payload"].cpu_seconds, runs["agent_s3"].cpu_seconds
        ),
    }
    print("\nratios (targets: wall <= 1.05 x max(a, b) and < c, d, e; CPU and RSS < aws-cli)")
    for name, value in ratios.items():
        print(f"  {name:<40} {value}")
    write_results(
        "backup_throughput",
        {
            "stream_bytes": size,
            "runs": {
                k: {**v.__dict__, "mib_per_second": v.mib_per_second} for k, v in runs.items()
            },
            "ratios": ratios,
        },
    )


if __name__ == "__main__":
    main()
