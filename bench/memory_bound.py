"""Memory bound of the uploader: peak RSS of a 1 GB and a 10 GB stream must be equal (10 %).

Each size runs ``run_backup`` in a fresh Python process with a stand-in engine that streams
zeros (``head -c N /dev/zero``) into a fresh SeaweedFS, and reads the process's own peak
RSS (``ru_maxrss``) at the end. It also prints the part-size plan that lets an
unknown-size stream reach 5 TiB within 10,000 parts. Usage:
``.venv/bin/python bench/memory_bound.py [--sizes-gb 1 10]`` (GB = 10^9 bytes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import fresh_store, ratio, write_results

from shardkeeper.contracts.agent import AgentBackupRequest
from shardkeeper.contracts.common import (
    CredentialRef,
    DatabaseCredentials,
    Instance,
    Role,
    S3Credentials,
    S3Location,
)
from shardkeeper.datapath.stores.multipart import (
    DEFAULT_PART_BYTES,
    MAX_PARTS,
    TARGET_OBJECT_BYTES,
    PartPlan,
)

GiB = 1 << 30
GB = 10**9
DRIVER = """
import json, resource, sys
from shardkeeper.datapath.engines import ENGINES
from shardkeeper.datapath.engines.base import EngineCommand, NullObserver

class Zeros:
    name = "zeros"
    format = "xbstream"
    def version(self): return None
    def command(self, request, workdir):
        return EngineCommand(argv=["head", "-c", sys.argv[2], "/dev/zero"])
    def is_success_line(self, line): return False
    def succeeded(self, returncode, saw_success_line): return returncode == 0
    def observer(self): return NullObserver()

ENGINES["zeros"] = Zeros
from shardkeeper.contracts.agent import AgentBackupRequest
from shardkeeper.datapath.backup.run import run_backup
request = AgentBackupRequest.model_validate_json(open(sys.argv[1]).read())
report = run_backup(request, lambda _p: None)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"peak_rss_mib": usage.ru_maxrss / 1024, "size": report.size_bytes,
                  "parts": report.parts, "cpu_seconds": usage.ru_utime + usage.ru_stime}))
"""


def print_plan(initial: int = DEFAULT_PART_BYTES) -> list[dict[str, int]]:
    """The ladder of part sizes and how far each step reaches."""
    plan = PartPlan(initial)
    rows: list[dict[str, int]] = []
    reached = 0
    print(f"part-size plan (initial {initial >> 20} MiB, {MAX_PARTS} parts max):")
    for number in range(1, MAX_PARTS + 1):
        size = plan.size_of(number)
        reached += size
        if rows and rows[-1]["part_bytes"] == size:
            rows[-1]["parts"] += 1
            rows[-1]["reaches"] = reached
        else:
            rows.append({"first_part": number, "parts": 1, "part_bytes": size, "reaches": reached})
    for row in rows:
        last = row["first_part"] + row["parts"] - 1
        print(
            f"  parts {row['first_part']:>5}-{last:>5}: {row['part_bytes'] / (1 << 20):>7.0f} MiB"
            f" each, total {row['reaches'] / GiB:>9.1f} GiB"
        )
    verdict = "reaches" if plan.max_object_bytes >= TARGET_OBJECT_BYTES else "does NOT reach"
    print(f"  max object {plan.max_object_bytes / (1 << 40):.2f} TiB: {verdict} 5 TiB")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-gb", type=float, nargs="+", default=[1, 10])
    args = parser.parse_args()
    plan = print_plan()
    work = Path(tempfile.mkdtemp(prefix="sk-bench-memory-"))
    results = []
    for gib in args.sizes_gb:
        nbytes = int(gib * GB)
        with fresh_store(work, f"{gib:g}g") as store:
            location = S3Location(
                bucket="bench", endpoint=store.endpoint, force_path_style=True,
                credentials=S3Credentials(
                    access_key_id=CredentialRef(env="SK_BENCH_AK"),
                    secret_access_key=CredentialRef(env="SK_BENCH_SK"),
                ),
            )
            request = AgentBackupRequest(
                cluster="bench", keyspace="mem", shard="-", backup_id=f"m{gib:g}",
                source=Instance(name="none", role=Role.PRIMARY, socket="/nonexistent"),
                credentials=DatabaseCredentials(user="none"),
                destination=location, key=f"mem/{gib:g}/backup.xbstream", engine="zeros",
            )
            path = work / f"request-{gib:g}.json"
            path.write_text(request.model_dump_json())
            env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
            env.update(SK_BENCH_AK=store.access_key, SK_BENCH_SK=store.secret_key)
            start = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-c", DRIVER, str(path), str(nbytes)],
                capture_output=True, text=True, env=env, check=False,
            )
            wall = time.monotonic() - start
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"{gib:g} GB run failed")
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row.update(gb=gib, wall_seconds=round(wall, 2))
            results.append(row)
            print(
                f"  {gib:>5g} GB: peak RSS {row['peak_rss_mib']:.1f} MiB, {row['parts']} parts,"
                f" {wall:.1f} s, {row['cpu_seconds']:.1f} CPU-s", flush=True,
            )
    rss = [r["peak_rss_mib"] for r in results]
    spread = ratio(max(rss), min(rss))
    print(f"peak RSS largest/smallest: {spread} (target <= 1.10)")
    write_results(
        "memory_bound",
        {"runs": results, "rss_ratio_largest_over_smallest": spread, "part_plan": plan},
    )


if __name__ == "__main__":
    main()
