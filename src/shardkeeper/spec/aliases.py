"""Other operators' spellings of shardkeeper fields, so their examples load as written.

Each alias has one documented meaning (README, "Seed compatibility"); a seed field that
shardkeeper cannot honour is refused with a message saying so, never dropped. The functions
rewrite a document mapping *before* validation, so every rule of the shardkeeper field applies.
"""

from __future__ import annotations

from typing import Any

from shardkeeper import naming

VITESS_SHARD_STRATEGY = "BackupShard"
"""vitess-operator v2.13 (seed 001): ``name`` is the strategy kind, ``keyspaceShard`` the target."""
METHOD_ENGINES = {"xtrabackup": "mariabackup", "mariabackup": "mariabackup", "logical": "logical"}
"""cloudnative-mysql's ``method`` (seed 002): XtraBackup's MariaDB fork is mariabackup."""


def _pop(data: dict[str, Any], camel: str, snake: str) -> Any:
    if camel in data:
        return data.pop(camel)
    return data.pop(snake, None)


def keyspace_shard(data: Any) -> Any:
    """``keyspaceShard: customer/-80`` → ``keyspace: customer``, ``shard: "-80"``.

    With ``name: BackupShard`` (the vitess strategy kind, repeated for every shard) the
    strategy is named after its shard as vitess-operator names its pods: ``customer-x-80``.

    Raises:
        ValueError: not ``<keyspace>/<shard>``, or mixed with ``keyspace``/``shard``/a scope.
    """
    if not isinstance(data, dict) or not {"keyspaceShard", "keyspace_shard"} & data.keys():
        return data
    data = dict(data)
    value = _pop(data, "keyspaceShard", "keyspace_shard")
    if not isinstance(value, str) or value.count("/") != 1:
        raise ValueError(
            f"invalid keyspaceShard {value!r}: use <keyspace>/<shard>, e.g. 'customer/-80'"
        )
    if {"keyspace", "shard"} & data.keys() or data.get("scope", "Shard") != "Shard":
        raise ValueError(
            "'keyspaceShard' names one shard (scope Shard): set it, or 'keyspace' and 'shard', "
            "not both"
        )
    keyspace, shard = value.split("/")
    data["keyspace"], data["shard"] = keyspace, shard
    if data.get("name") == VITESS_SHARD_STRATEGY:
        data["name"] = f"{keyspace}-{naming.shard_label(shard)}"
    return data


def _secret_ref(ref: Any) -> Any:
    # cloudnative-mysql writes a Secret key selector {name, key} where shardkeeper takes
    # {env|file|secret}; a selector is exactly {secret: selector}.
    if isinstance(ref, dict) and set(ref) == {"name", "key"}:
        return {"secret": ref}
    return ref


def object_store(store: Any) -> Any:
    """cloudnative-mysql's ``objectStore`` as shardkeeper's ``destination``.

    ``path`` is the key prefix; credentials may be Secret key selectors ``{name, key}``.
    """
    if not isinstance(store, dict):
        return store
    s3 = dict(store)
    if "path" in s3:
        if "prefix" in s3:
            raise ValueError("objectStore: set 'path' or 'prefix', not both (they are one field)")
        s3["prefix"] = s3.pop("path")
    creds = s3.get("credentials")
    if isinstance(creds, dict):
        s3["credentials"] = {k: _secret_ref(v) for k, v in creds.items()}
    return {"s3": s3}


def backup_fields(data: Any) -> Any:
    """Seed 002's Backup spelling: ``cluster: {name}``, ``method``, ``online``, ``objectStore``.

    Raises:
        ValueError: both spellings of one field, or ``online: false`` (never honoured).
    """
    if not isinstance(data, dict):
        return data
    data = dict(data)
    cluster = data.get("cluster")
    if isinstance(cluster, dict) and set(cluster) == {"name"}:
        data["cluster"] = cluster["name"]  # a LocalObjectReference
    if "method" in data:
        if "engine" in data:
            raise ValueError("set 'method' or 'engine', not both (method is engine's alias)")
        method = data.pop("method")
        if method not in METHOD_ENGINES:
            raise ValueError(
                f"unknown method {method!r}; accepted: {', '.join(METHOD_ENGINES)} "
                "(xtrabackup means engine mariabackup)"
            )
        data["engine"] = METHOD_ENGINES[method]
    if "online" in data:
        online = data.pop("online")
        if online is not True:
            raise ValueError(
                f"online: {online!r} is not supported: shardkeeper takes online (hot) backups "
                "only, with the server running; omit it or set online: true"
            )
    return object_store_field(data)


def object_store_field(data: Any) -> Any:
    """``objectStore: {...}`` → ``destination: {s3: {...}}`` in a spec mapping."""
    if not isinstance(data, dict) or ("objectStore" not in data and "object_store" not in data):
        return data
    data = dict(data)
    store = _pop(data, "objectStore", "object_store")
    if "destination" in data:
        raise ValueError("set 'objectStore' or 'destination', not both (objectStore is its alias)")
    data["destination"] = object_store(store)
    return data
