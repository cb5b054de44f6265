"""Spec rules with their exact messages, the values they accept, and what reaches the contracts.

The rejected documents live in ``bad_documents/`` (run through the CLI); this file covers the
accepted side and the messages of rules that need a document built in code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fixtures.spec_docs import CLUSTER, schedule, write
from shardkeeper.datapath.engines import mariabackup
from shardkeeper.errors import SpecInvalid
from shardkeeper.spec import flags
from shardkeeper.spec.convert import period_seconds, run_input, stagger_window_seconds
from shardkeeper.spec.load import SpecSet, load
from shardkeeper.spec.pod import quantity_value
from shardkeeper.spec.schedule import BackupSchedule
from shardkeeper.spec.validate import check_references


def _load(tmp_path: Path, *docs: dict[str, Any]) -> SpecSet:
    specs = load([write(tmp_path, CLUSTER, *docs)])
    check_references(specs)
    return specs


def _error(tmp_path: Path, *docs: dict[str, Any]) -> str:
    with pytest.raises(SpecInvalid) as info:
        _load(tmp_path, *docs)
    return str(info.value)


def _spec(specs: SpecSet) -> Any:
    res = specs.schedules[0].resource
    assert isinstance(res, BackupSchedule)
    return res.spec


@pytest.mark.parametrize(
    ("frequency", "seconds"),
    [("1m", 60), ("2m", 120), ("30m", 1800), ("45m", 2700), ("90m", 5400), ("1h30m", 5400),
     ("6h", 21600), ("48h", 172800), ("7d", 604800), ("31d", 2678400)],
)
def test_any_whole_minute_frequency_from_1m_to_31d(tmp_path: Path, frequency: str,
                                                   seconds: int) -> None:
    specs = _load(tmp_path, schedule(frequency=frequency))
    assert period_seconds(_spec(specs)) == seconds
    assert run_input(specs.schedules[0], specs).stagger_window_seconds == seconds


@pytest.mark.parametrize(
    ("cron", "period"),
    [("@daily", 86400), ("@hourly", 3600), ("*/15 * * * *", 900), ("0 2 * * 1-5", 86400),
     ("0 3 * * sun", 7 * 86400), ("0 0 1 * *", 28 * 86400), ("0 2 * jan,jul *", 86400)],
)
def test_cron_period_is_the_shortest_wall_clock_gap(tmp_path: Path, cron: str,
                                                    period: int) -> None:
    doc = schedule(schedule=cron, timeZone="Europe/Berlin")
    del doc["spec"]["frequency"]
    spec = _spec(_load(tmp_path, doc))
    # wall-clock: a DST day's 23 h gap must not change the window (and every offset)
    assert period_seconds(spec) == period


def test_stagger_window_is_capped_at_the_period(tmp_path: Path) -> None:
    assert stagger_window_seconds(_spec(_load(tmp_path, schedule(staggerWindow="2h")))) == 7200
    assert stagger_window_seconds(_spec(_load(tmp_path, schedule(staggerWindow="9h")))) == 21600


def test_every_field_reaches_the_contract(tmp_path: Path) -> None:
    doc = schedule(
        concurrencyPolicy="Replace", startingDeadlineSeconds=300, maxConcurrentShards=2,
        jobTimeout="90m", successfulJobsHistoryLimit=0, failedJobsHistoryLimit=5,
        retention={"keepLast": 3, "retentionDays": 14}, target="primary",
        strategies=[{"name": "all", "scope": "Cluster",
                     "extraFlags": {"--use-memory": "1G", "compress-threads": 4}}],
        resources={"requests": {"cpu": 0.5, "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        tolerations=[{"key": "dedicated", "operator": "Equal", "value": "backup",
                      "effect": "NoExecute", "tolerationSeconds": 60}],
        nodeSelector={"kubernetes.io/os": "linux"},
        annotations={"example.com/team": "dba"},
        affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}},
    )
    specs = _load(tmp_path, doc)
    inp = run_input(specs.schedules[0], specs)
    p = inp.policy
    assert (p.concurrency_policy, p.starting_deadline_seconds, p.max_concurrent_shards) == (
        "Replace", 300, 2)
    assert (p.job_timeout_seconds, p.successful_jobs_history_limit,
            p.failed_jobs_history_limit) == (5400, 0, 5)
    assert (p.retention.keep_last, p.retention.retention_days, p.target) == (3, 14, "primary")
    assert inp.strategies[0].extra_flags == {"--use-memory": "1G", "compress-threads": "4"}
    assert p.resources == {"requests": {"cpu": "0.5", "memory": "256Mi"},
                           "limits": {"memory": "1Gi"}}
    assert p.tolerations == ({"key": "dedicated", "operator": "Equal", "value": "backup",
                              "effect": "NoExecute", "tolerationSeconds": 60},)
    assert p.node_selector == {"kubernetes.io/os": "linux"}
    assert p.annotations == {"example.com/team": "dba"}
    assert p.affinity == {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}}


def test_defaults(tmp_path: Path) -> None:
    p = run_input((specs := _load(tmp_path, schedule())).schedules[0], specs).policy
    assert (p.concurrency_policy, p.starting_deadline_seconds, p.max_concurrent_shards) == (
        "Forbid", None, None)
    assert (p.retention.retention_days, p.retention.keep_last, p.job_timeout_seconds) == (
        7, None, None)
    assert p.target == "prefer-replica"


@pytest.mark.parametrize("value", [-1, "-1"])
def test_job_timeout_minus_one_disables(tmp_path: Path, value: object) -> None:
    specs = _load(tmp_path, schedule(jobTimeout=value))
    assert run_input(specs.schedules[0], specs).policy.job_timeout_seconds is None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"jobTimeout": -5}, "spec.jobTimeout: invalid jobTimeout -5: use a duration such as 2h"),
        ({"staggerWindow": "soon"}, "spec.staggerWindow: invalid duration 'soon'"),
        ({"maxReplicaLag": "-1m"}, "(durations cannot be negative)"),
        ({"tolerations": [{"operator": "Equal", "value": "x"}]},
         "spec.tolerations[0]: an empty 'key' needs operator 'Exists'"),
        ({"tolerations": [{"key": "k", "operator": "Exists", "value": "x"}]},
         "spec.tolerations[0]: operator 'Exists' takes no 'value'"),
        ({"tolerations": [{"key": "k", "effect": "Sometimes"}]},
         "spec.tolerations[0].effect: Input should be 'NoSchedule', 'PreferNoSchedule' or "
         "'NoExecute'"),
        ({"resources": {"limits": {"gpu": "1"}}},
         "spec.resources.limits: unknown resource 'gpu'; accepted: cpu, memory, "
         "ephemeral-storage"),
        ({"annotations": {"bad key!": "x"}}, "spec.annotations: invalid annotation key 'bad key!'"),
        ({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]},
             "topologyKey": "kubernetes.io/hostname"}]}}},
         "matchExpressions[0]: operator 'In' needs 'values'"),
        ({"strategies": [{"name": "all", "scope": "Cluster", "extraFlags": {"x": True}}]},
         "spec.strategies[0].extraFlags.x: use a string value"),
        ({"strategies": [{"name": "a", "keyspace": "customer", "shard": "-80"},
                         {"name": "b", "scope": "Keyspace", "keyspace": "customer"}]},
         "spec.strategies[1]: strategy 'b' and 'a' both cover shard customer/-80"),
    ],
)
def test_rule_messages(tmp_path: Path, edit: dict[str, Any], message: str) -> None:
    text = _error(tmp_path, schedule(**edit))
    assert message in text, text
    assert "document 2 (BackupSchedule/every-6h)" in text


def test_two_documents_of_one_schedule_are_rejected(tmp_path: Path) -> None:
    assert "schedule defined twice for cluster 'demo'" in _error(tmp_path, schedule(), schedule())


def test_errors_are_collected_across_documents(tmp_path: Path) -> None:
    text = _error(tmp_path, schedule("a", frequency="0m"), schedule("b", target="x"))
    assert "spec.frequency" in text and "spec.target" in text


@pytest.mark.parametrize(
    "name",
    ["stream", "--stream", "target-dir", "target_dir", "--loose-stream", "--skip-target-dir",
     "defaults-file", "defaults-extra-file", "password", "--pass", "--loose-password",
     "backup", "prepare", "-p", "p", "--no-defaults", "socket", "use-memory", "--parallel",
     "compress-threads", "--throttle", "ftwrl-wait-timeout", "--loose-use-memory", "stre",
     "--skip-loose-stream", "BACKUP", "-", "--", "--x y"],
)
def test_extra_flags_rules_match_the_engine(name: str) -> None:
    """The spec rejects exactly what the engine would reject at run time."""
    spec_rejects = flags.flag_problem(name, "1") is not None
    try:
        mariabackup.normalise_flags({name: "1"})
        engine_rejects = False
    except SpecInvalid:
        engine_rejects = True
    assert spec_rejects == engine_rejects
    assert flags.FORBIDDEN_FLAGS == mariabackup.FORBIDDEN_FLAGS
    assert flags.MODIFIERS == mariabackup._MODIFIERS


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", "0.5"), ("2", "2"), ("1Gi", str(2**30)), ("1.5k", "1500"), ("1e3", "1000"),
     (".5", "0.5")],
)
def test_quantities(text: str, value: str) -> None:
    assert quantity_value(text) == type(quantity_value("1"))(value)


@pytest.mark.parametrize("text", ["-1", "1 Gi", "1GB", "abc", "1.2.3", ""])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(ValueError, match="invalid quantity"):
        quantity_value(text)
