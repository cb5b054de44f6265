"""Typed search-attribute keys (names from ``contracts.names``)."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from shardkeeper.contracts import names

CLUSTER = SearchAttributeKey.for_keyword(names.SA_CLUSTER)
SCHEDULE = SearchAttributeKey.for_keyword(names.SA_SCHEDULE)
KEYSPACE = SearchAttributeKey.for_keyword(names.SA_KEYSPACE)
SHARD = SearchAttributeKey.for_keyword(names.SA_SHARD)
BACKUP_ID = SearchAttributeKey.for_keyword(names.SA_BACKUP_ID)
OUTCOME = SearchAttributeKey.for_keyword(names.SA_OUTCOME)
STRATEGY = SearchAttributeKey.for_keyword(names.SA_STRATEGY)
PHASE = SearchAttributeKey.for_keyword(names.SA_PHASE)
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


def attributes(**values: str) -> TypedSearchAttributes:
    """Search attributes from keyword arguments named after the keys above (lowercase)."""
    keys = {
        "cluster": CLUSTER, "schedule": SCHEDULE, "keyspace": KEYSPACE,
        "shard": SHARD, "backup_id": BACKUP_ID, "outcome": OUTCOME, "strategy": STRATEGY,
        "phase": PHASE,
    }
    return TypedSearchAttributes([SearchAttributePair(keys[k], v) for k, v in values.items()])
