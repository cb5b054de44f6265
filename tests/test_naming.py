"""Derived identifiers: DNS-1123 job names and backup ids."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shardkeeper import naming
from shardkeeper.errors import SpecInvalid

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


def test_job_labels_select_a_shards_jobs_and_name_one_backup() -> None:
    selector = naming.job_labels("demo", "nightly", "customer", "-80")
    assert selector == {
        "shardkeeper.io/cluster": "demo",
        "shardkeeper.io/schedule": "nightly",
        "shardkeeper.io/keyspace": "customer",
        "shardkeeper.io/shard": "-80",
    }
    one = naming.job_labels("demo", "nightly", "customer", "-80", strategy="physical",
                            backup_id="20261122T020000Z")
    assert one == {**selector, "shardkeeper.io/strategy": "physical",
                   "shardkeeper.io/backup-id": "20261122T020000Z"}
    # pruning lists by the selector, so every backup job must carry all of it
    assert selector.items() <= one.items()


def test_restore_job_labels() -> None:
    assert naming.restore_job_labels("demo", "undo-friday") == {
        "shardkeeper.io/cluster": "demo", "shardkeeper.io/restore": "undo-friday"}


def test_job_names_spell_open_shard_ends_readably() -> None:
    # vitess-operator's spelling (seed 000 pods: customer-x-80, customer-80-x, commerce-x-x)
    assert [naming.shard_label(s) for s in ("-80", "80-", "-", "40-80", "0")] == [
        "x-80", "80-x", "x-x", "40-80", "0"]
    low = naming.job_name("demo", "nightly", "customer", "-80", "all", "20261122T020000Z")
    high = naming.job_name("demo", "nightly", "customer", "80-", "all", "20261122T020000Z")
    assert low.startswith("sk-demo-nightly-customer-x-80-all-")
    assert high.startswith("sk-demo-nightly-customer-80-x-all-")
    assert DNS_LABEL.match(low) and DNS_LABEL.match(high)


def test_seed_user_names_are_accepted_and_give_dns_safe_job_names() -> None:
    for kind, value in [("strategy", "customer-80-"), ("strategy", "BackupShard"),
                        ("strategy", "commerce_x"), ("name", "daily-backup"),
                        ("name", "every-minute-customer"), ("name", "backup.sample"),
                        ("keyspace", "customer"), ("shard", "-80"), ("shard", "80-"),
                        ("shard", "-"), ("shard", "40-80"), ("shard", "0")]:
        naming.check_user_name(kind, value)
    a = naming.job_name("example", "daily", "customer", "80-", "customer-80-", "20261122T020000Z")
    b = naming.job_name("example", "daily", "customer", "80-", "customer-80", "20261122T020000Z")
    c = naming.job_name("example", "daily", "customer", "80-", "Customer-80", "20261122T020000Z")
    assert len({a, b, c}) == 3 and all(DNS_LABEL.match(n) and len(n) <= 63 for n in (a, b, c))


@pytest.mark.parametrize(("kind", "value", "reason"), [
    ("strategy", "../up", "path separators"), ("strategy", "a/b", "path separators"),
    ("strategy", "a\\b", "path separators"), ("strategy", "a..b", "'..'"),
    ("strategy", ".hidden", "starting with a letter or digit"),
    ("strategy", "x;rm -rf", "whitespace"), ("strategy", "x`id`", "'`' not allowed"),
    ("strategy", "$(id)", "'$' '(' ')' not allowed"), ("strategy", "a\nb", "control"),
    ("strategy", "a\x00b", "control"), ("strategy", "\u0430ll", "ASCII"),
    ("strategy", "x" * 64, "at most 63"), ("strategy", "", "empty"),
    ("name", "Nightly", "lowercase"), ("name", "a_b", "use lowercase letters, digits, '-' and '.'"),
    ("name", "nightly\n", "control"), ("keyspace", "-customer", "not starting"),
    ("shard", "80-40", "start is not before its end"), ("shard", "-8G", "lowercase hex"),
    ("shard", "../80", "path separators"),
])
def test_hostile_names_are_refused_with_the_reason_and_the_form(
    kind: str, value: str, reason: str
) -> None:
    with pytest.raises(SpecInvalid) as err:
        naming.check_user_name(kind, value)
    assert reason in str(err.value) and f"{value!r}" in str(err.value)
    assert "; use " in str(err.value), "the message says what is accepted"


# --- restore ids and paths, one-shot runs, schedule ids ------------------------------------


def test_restore_workflow_ids_are_stable_and_nest_the_shard_children() -> None:
    assert naming.restore_workflow_id("demo", "back") == "shardkeeper/demo/restore/back"
    assert (naming.shard_restore_workflow_id("demo", "back", "customer", "-80")
            == "shardkeeper/demo/restore/back/customer/-80")
    assert (naming.shard_restore_workflow_id("demo", "back", "customer", "-80")
            != naming.shard_restore_workflow_id("demo", "back", "customer", "80-"))


def test_a_restore_workflow_is_found_by_its_name_alone() -> None:
    wid = naming.restore_workflow_id("demo", "back")
    assert naming.is_restore_workflow_of(wid, "back")
    assert not naming.is_restore_workflow_of(wid, "ack")  # a suffix of the name is not it
    assert not naming.is_restore_workflow_of(wid + "/customer/-80", "back")  # a child
    assert not naming.is_restore_workflow_of("other/demo/restore/back", "back")
    assert naming.generated_restore_name("0a1b2c3d") == "restore-0a1b2c3d"


def test_restore_key_is_stable_per_run_and_short() -> None:
    key = naming.restore_key("shardkeeper/demo/restore/back", "run-1")
    assert key == naming.restore_key("shardkeeper/demo/restore/back", "run-1")
    assert key != naming.restore_key("shardkeeper/demo/restore/back", "run-2")
    assert re.fullmatch(r"r[0-9a-f]{10}", key)


def test_restore_job_names_are_dns_labels_distinct_per_shard_and_capped() -> None:
    key = naming.restore_key("w", "r")
    low = naming.restore_job_name("demo", "customer", "-80", "shard-0-replica", key)
    high = naming.restore_job_name("demo", "customer", "80-", "shard-0-replica", key)
    assert low != high and DNS_LABEL.match(low) and DNS_LABEL.match(high)
    assert low == naming.restore_job_name("demo", "customer", "-80", "shard-0-replica", key)
    long = naming.restore_job_name("c" * 63, "k" * 63, "-80", "i" * 63, key)
    assert len(long) <= 63 and DNS_LABEL.match(long)


def test_restore_paths_sit_beside_the_datadir() -> None:
    assert naming.aside_path("/var/lib/mysql/", "r1") == "/var/lib/mysql.sk-aside-r1"
    assert naming.journal_path("/var/lib/mysql", "r1") == "/var/lib/mysql.sk-aside-r1.json"
    assert naming.staging_path("/var/lib/mysql/", "r1") == "/var/lib/mysql.sk-staging-r1"


def test_manual_runs_have_their_own_ids_and_backup_id_suffixes() -> None:
    wid = naming.manual_run_workflow_id("demo", "now-20260101t020000")
    assert wid == "shardkeeper/demo/manual/now-20260101t020000"
    assert wid != naming.run_workflow_id("demo", "now-20260101t020000")
    assert naming.manual_suffix(wid) == naming.manual_suffix(wid)
    assert naming.is_backup_id(naming.backup_id_for(datetime(2026, 1, 1, tzinfo=UTC),
                                                    naming.manual_suffix(wid)))
    at = datetime(2026, 1, 1, 3, 0, 0, tzinfo=timezone(timedelta(hours=1)))
    assert naming.manual_backup_name(at) == "now-20260101t020000"
    naming.check_user_name("name", naming.manual_backup_name(at))


def test_schedule_id_parts_read_back_only_shardkeeper_schedule_ids() -> None:
    assert naming.schedule_id_parts(naming.schedule_id("demo", "nightly")) == ("demo", "nightly")
    assert naming.schedule_id_parts("other/demo/nightly") is None
    assert naming.schedule_id_parts("shardkeeper/demo") is None
    assert naming.schedule_id_parts(naming.run_workflow_id("demo", "nightly")) is None
