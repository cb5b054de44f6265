"""Strategy scopes to shards: the one place the scope rules live.

Rules (the vitess-operator semantics, kept across schedules):
- ``Shard`` covers one shard; it is additive and never excluded.
- ``Keyspace`` covers every shard of its keyspace, as discovered now.
- ``Cluster`` covers every shard of every keyspace, minus the keyspaces that a Keyspace-scope
  strategy of any active schedule of the same cluster owns (the "override").
Pure and deterministic: used by the BackupRun workflow at every run and by the CLI offline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shardkeeper.contracts.backup import Scope, StrategyPlan
from shardkeeper.contracts.common import ShardTopology, Topology


@dataclass(frozen=True, order=True)
class Target:
    """One shard a strategy backs up."""

    keyspace: str
    shard: str
    strategy: str


@dataclass(frozen=True)
class Skip:
    """A shard (or a strategy) that produced no target, and why."""

    keyspace: str
    shard: str
    strategy: str
    reason: str


def keyspace_owners(strategies: Iterable[StrategyPlan]) -> set[str]:
    """Keyspaces claimed by Keyspace-scope strategies (they leave Cluster scopes)."""
    return {s.keyspace for s in strategies if s.scope == Scope.KEYSPACE and s.keyspace}


def expand(
    topology: Topology,
    strategies: Sequence[StrategyPlan],
    excluded_keyspaces: Iterable[str] = (),
) -> tuple[list[Target], list[Skip]]:
    """Targets of a schedule's strategies against a topology, and what was skipped.

    Args:
        topology: the cluster as discovered now.
        strategies: the schedule's strategies, in order (the first claim of a shard wins).
        excluded_keyspaces: keyspaces owned by Keyspace strategies of other schedules.
    """
    by_keyspace: dict[str, list[ShardTopology]] = {}
    for s in topology.shards:
        by_keyspace.setdefault(s.keyspace, []).append(s)
    excluded = set(excluded_keyspaces) | keyspace_owners(strategies)
    targets: list[Target] = []
    skipped: list[Skip] = []
    claimed: dict[tuple[str, str], str] = {}

    def claim(keyspace: str, shard: str, strategy: str) -> None:
        owner = claimed.get((keyspace, shard))
        if owner is not None:
            reason = f"already covered by strategy {owner!r}"
            skipped.append(Skip(keyspace, shard, strategy, reason))
            return
        claimed[(keyspace, shard)] = strategy
        targets.append(Target(keyspace, shard, strategy))

    for st in strategies:
        if st.scope == Scope.SHARD:
            ks, sh = st.keyspace or "", st.shard or ""
            if not any(s.shard == sh for s in by_keyspace.get(ks, [])):
                skipped.append(Skip(ks, sh, st.name, "shard not found in the topology"))
                continue
            claim(ks, sh, st.name)
        elif st.scope == Scope.KEYSPACE:
            ks = st.keyspace or ""
            if ks not in by_keyspace:
                skipped.append(Skip(ks, "*", st.name, "keyspace not found in the topology"))
                continue
            for s in sorted(by_keyspace[ks], key=lambda x: x.shard):
                claim(ks, s.shard, st.name)
        else:
            for ks in sorted(by_keyspace):
                if ks in excluded:
                    continue
                for s in sorted(by_keyspace[ks], key=lambda x: x.shard):
                    claim(ks, s.shard, st.name)
    return targets, skipped
