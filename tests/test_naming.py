"""Derived identifiers: DNS-1123 job names and backup ids."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from shardkeeper import naming

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def test_dns_label_is_capped_at_63_and_valid() -> None:
    name = naming.dns_label("x" * 100, "customer", "-80")
    assert len(name) <= 63 and DNS_LABEL.match(name)
    assert len(naming.dns_label("a" * 200, max_length=20)) <= 20


def test_dns_label_distinguishes_inputs_that_sanitise_alike() -> None:
    a, b = naming.dns_label("customer", "-80"), naming.dns_label("customer", "80-")
    assert a != b and DNS_LABEL.match(a) and DNS_LABEL.match(b)
    assert naming.dns_label("A_B") != naming.dns_label("a-b")
    assert naming.dns_label("customer", "-80") == a, "deterministic"


def test_job_name_differs_per_attempt_and_shard() -> None:
    base = ("demo", "nightly", "customer", "-80", "all", "20261122T020000Z")
    names = {naming.job_name(*base), naming.job_name(*base, attempt=2),
             naming.job_name("demo", "nightly", "customer", "80-", "all", "20261122T020000Z")}
    assert len(names) == 3 and all(len(n) <= 63 and DNS_LABEL.match(n) for n in names)


def test_backup_ids() -> None:
    at = datetime(2026, 11, 22, 3, 0, tzinfo=timezone(timedelta(hours=1)))
    assert naming.backup_id_for(at) == "20261122T020000Z"
    assert naming.backup_id_for(at.astimezone(UTC), "m1a2b") == "20261122T020000Z-m1a2b"
    assert naming.is_backup_id("20261122T020000Z") and naming.is_backup_id("20261122T020000Z-m1")
    assert not naming.is_backup_id("2026-11-22")
    suffix = naming.manual_suffix("wf-1")
    assert suffix == naming.manual_suffix("wf-1") != naming.manual_suffix("wf-2")


def test_ids_and_keys() -> None:
    assert naming.schedule_id("demo", "nightly") == "shardkeeper/demo/nightly"
    assert naming.backup_key("/backups/", "demo", "customer", "-80", "20261122T020000Z") == (
        "backups/demo/customer/-80/20261122T020000Z/backup.xbstream")
    assert naming.manifest_key("", "demo", "commerce", "-", "X").endswith("/X/metadata.json")
