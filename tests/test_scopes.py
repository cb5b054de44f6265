"""Scope resolution across the schedules of a cluster (vitess-operator's override rules)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixtures.spec_docs import CLUSTER, cluster, schedule, write
from shardkeeper.control.plan import plan
from shardkeeper.spec.convert import excluded_keyspaces, run_input
from shardkeeper.spec.load import SpecSet, load
from shardkeeper.spec.validate import check_references

NOW_ISO = "2026-11-22T10:00:00+00:00"


def _load(tmp_path: Path, *docs: dict[str, Any]) -> SpecSet:
    specs = load([write(tmp_path, *docs)])
    check_references(specs)
    return specs


def _covered(specs: SpecSet) -> set[tuple[str, str, str, str]]:
    from datetime import datetime

    result = plan(specs, now=datetime.fromisoformat(NOW_ISO), count=0)
    return {(e.schedule, e.keyspace, e.shard, e.strategy) for e in result.entries}


def _keyspace(name: str, ks: str, **spec: Any) -> dict[str, Any]:
    return schedule(name, strategies=[{"name": f"{ks}-all", "scope": "Keyspace",
                                       "keyspace": ks}], **spec)


def test_keyspace_strategy_of_another_schedule_removes_its_keyspace_from_cluster_scope(
    tmp_path: Path,
) -> None:
    specs = _load(tmp_path, CLUSTER, schedule("daily", frequency="24h"),
                  _keyspace("customer-6h", "customer"))
    assert excluded_keyspaces(specs, "demo", "daily") == ("customer",)
    assert excluded_keyspaces(specs, "demo", "customer-6h") == ()
    assert _covered(specs) == {
        ("daily", "commerce", "-", "all"),
        ("customer-6h", "customer", "-80", "customer-all"),
        ("customer-6h", "customer", "80-", "customer-all"),
    }
    assert run_input(specs.schedules[0], specs).excluded_keyspaces == ("customer",)


def test_shard_strategies_are_additive(tmp_path: Path) -> None:
    extra = schedule("hot-shard", frequency="1h",
                     strategies=[{"name": "hot", "keyspace": "customer", "shard": "-80"}])
    specs = _load(tmp_path, CLUSTER, schedule("daily", frequency="24h"), extra)
    assert excluded_keyspaces(specs, "demo", "daily") == ()
    covered = _covered(specs)
    assert ("daily", "customer", "-80", "all") in covered
    assert ("hot-shard", "customer", "-80", "hot") in covered
    assert len(covered) == 4


def test_suspended_schedules_do_not_exclude(tmp_path: Path) -> None:
    specs = _load(tmp_path, CLUSTER, schedule("daily", frequency="24h"),
                  _keyspace("customer-6h", "customer", suspend=True))
    assert excluded_keyspaces(specs, "demo", "daily") == ()
    assert {e[1] for e in _covered(specs) if e[0] == "daily"} == {"commerce", "customer"}


def test_keyspace_strategy_in_the_same_schedule_removes_it_from_its_cluster_strategy(
    tmp_path: Path,
) -> None:
    both = schedule("mixed", strategies=[
        {"name": "all", "scope": "Cluster"},
        {"name": "cust", "scope": "Keyspace", "keyspace": "customer", "extraFlags": {"x-y": "1"}},
    ])
    specs = _load(tmp_path, CLUSTER, both)
    assert {(e[1], e[3]) for e in _covered(specs)} == {
        ("commerce", "all"), ("customer", "cust")}


def test_other_clusters_do_not_exclude(tmp_path: Path) -> None:
    other = cluster()
    other["metadata"]["name"] = "other"
    for ks in other["spec"]["keyspaces"]:
        for sh in ks["shards"]:
            for inst in sh["instances"]:
                inst["name"] = "o-" + inst["name"]
    foreign = _keyspace("other-customer", "customer", cluster="other")
    specs = _load(tmp_path, CLUSTER, other, schedule("daily"), foreign)
    assert excluded_keyspaces(specs, "demo", "daily") == ()


def test_two_cluster_strategies_excluded_by_two_schedules(tmp_path: Path) -> None:
    specs = _load(tmp_path, CLUSTER, schedule("a"), schedule("b", frequency="12h"),
                  _keyspace("c", "commerce"), _keyspace("d", "customer"))
    covered = _covered(specs)
    assert not [e for e in covered if e[0] in ("a", "b")], "everything is owned elsewhere"
    assert len(covered) == 3
