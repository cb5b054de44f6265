"""``shardkeeper plan``: offline output (json, yaml, table), time zones, exclusions, errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from fixtures.plan_app import plan_app
from fixtures.spec_docs import CLUSTER, schedule, write

NOW = "2026-11-22T10:00:00Z"


def _plan(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(plan_app(), ["plan", *args])
    return result.exit_code, result.output


def _json(tmp_path: Path, *docs: dict[str, Any], count: int = 2) -> dict[str, Any]:
    path = write(tmp_path, CLUSTER, *docs)
    code, output = _plan("-f", str(path), "--now", NOW, "--count", str(count), "-o", "json")
    assert code == 0, output
    return json.loads(output)  # type: ignore[no-any-return]


def test_demo_plan_json(tmp_path: Path) -> None:
    doc = _json(tmp_path, schedule())
    assert doc == {
        "entries": [
            {"schedule": "every-6h", "cluster": "demo", "keyspace": "commerce", "shard": "-",
             "strategy": "all", "offset_seconds": 3480, "cron": "58 */6 * * *",
             "next_runs": ["2026-11-22T12:58:00+00:00", "2026-11-22T18:58:00+00:00"],
             "suspended": False},
            {"schedule": "every-6h", "cluster": "demo", "keyspace": "customer", "shard": "80-",
             "strategy": "all", "offset_seconds": 15360, "cron": "16 4-23/6 * * *",
             "next_runs": ["2026-11-22T10:16:00+00:00", "2026-11-22T16:16:00+00:00"],
             "suspended": False},
            {"schedule": "every-6h", "cluster": "demo", "keyspace": "customer", "shard": "-80",
             "strategy": "all", "offset_seconds": 19860, "cron": "31 5-23/6 * * *",
             "next_runs": ["2026-11-22T11:31:00+00:00", "2026-11-22T17:31:00+00:00"],
             "suspended": False},
        ],
        "excluded": [],
    }


def test_yaml_is_the_same_document_and_table_shows_every_shard(tmp_path: Path) -> None:
    path = write(tmp_path, CLUSTER, schedule())
    code, out_yaml = _plan("-f", str(path), "--now", NOW, "-o", "yaml")
    assert code == 0
    code, out_json = _plan("-f", str(path), "--now", NOW, "-o", "json")
    assert yaml.safe_load(out_yaml) == json.loads(out_json)
    code, table = _plan("-f", str(path), "--now", NOW)
    assert code == 0
    for text in ("+58m", "+4h16m", "58 */6 * * *", "2026-11-22T12:58:00+00:00", "-80", "80-"):
        assert text in table


def test_cron_schedule_in_berlin_across_spring_forward(tmp_path: Path) -> None:
    sched = schedule(frequency=None, schedule="0 2 * * *", timeZone="Europe/Berlin",
                     staggerWindow="0s", strategies=[{"name": "one", "keyspace": "commerce",
                                                      "shard": "-"}])
    del sched["spec"]["frequency"]
    path = write(tmp_path, CLUSTER, sched)
    code, output = _plan("-f", str(path), "--now", "2026-03-27T12:00:00+01:00", "--count", "3",
                         "-o", "json")
    assert code == 0, output
    (entry,) = json.loads(output)["entries"]
    assert entry["cron"] == "0 2 * * *"
    # 02:00 does not exist on 2026-03-29 in Berlin; Temporal skips that day's run
    assert entry["next_runs"] == ["2026-03-28T02:00:00+01:00", "2026-03-30T02:00:00+02:00",
                                  "2026-03-31T02:00:00+02:00"]


def test_frequency_runs_are_shown_in_the_time_zone_with_a_utc_cron(tmp_path: Path) -> None:
    doc = _json(tmp_path, schedule(frequency="24h", timeZone="America/New_York"), count=1)
    first = doc["entries"][0]
    assert first["cron"].startswith("CRON_TZ=UTC ")
    assert first["next_runs"][0].endswith("-05:00")


def test_45m_and_90m_have_no_cron_line_but_runs(tmp_path: Path) -> None:
    for freq in ("45m", "90m"):
        doc = _json(tmp_path, schedule(frequency=freq), count=3)
        assert all(e["cron"] is None and len(e["next_runs"]) == 3 for e in doc["entries"])


def test_exclusions_are_listed_with_their_reason(tmp_path: Path) -> None:
    doc = _json(tmp_path, schedule(),
                schedule("customer-hourly", frequency="1h",
                         strategies=[{"name": "cust", "scope": "Keyspace",
                                      "keyspace": "customer"}]))
    assert doc["excluded"] == [{
        "schedule": "every-6h", "strategy": "all", "keyspace": "customer",
        "reason": "owned by Keyspace strategy 'cust' of schedule 'customer-hourly'",
    }]
    assert {(e["schedule"], e["keyspace"]) for e in doc["entries"]} == {
        ("every-6h", "commerce"), ("customer-hourly", "customer")}


def test_suspended_schedule_has_no_runs_and_excludes_nothing(tmp_path: Path) -> None:
    doc = _json(tmp_path, schedule(),
                schedule("customer-hourly", frequency="1h", suspend=True,
                         strategies=[{"name": "cust", "scope": "Keyspace",
                                      "keyspace": "customer"}]))
    assert doc["excluded"] == []
    paused = [e for e in doc["entries"] if e["schedule"] == "customer-hourly"]
    assert paused and all(e["suspended"] and e["next_runs"] == [] for e in paused)
    assert len([e for e in doc["entries"] if e["schedule"] == "every-6h"]) == 3


def test_bad_now_is_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, CLUSTER, schedule())
    code, output = _plan("-f", str(path), "--now", "yesterday")
    assert code == 2
    assert "--now: 'yesterday' is not an RFC 3339 time" in output
    code, output = _plan("-f", str(path), "--now", "2026-01-01T00:00:00")
    assert code == 2, "a time without an offset is ambiguous"


def test_missing_file_is_exit_2(tmp_path: Path) -> None:
    code, output = _plan("-f", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "no such file or directory" in output
    assert "Traceback" not in output
