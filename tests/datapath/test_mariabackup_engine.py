"""The mariadb-backup command line: secrets only in a 0600 file, unsafe flags refused."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from shardkeeper.contracts.agent import AgentBackupRequest
from shardkeeper.contracts.common import (
    CredentialRef,
    DatabaseCredentials,
    Instance,
    Role,
    S3Location,
)
from shardkeeper.datapath.engines import get_engine
from shardkeeper.datapath.engines.mariabackup import (
    MariaBackupEngine,
    normalise_flags,
    parse_backup_info,
    parse_binlog_info,
    parse_slave_info,
)
from shardkeeper.errors import EngineUnsupported, SpecInvalid

PASSWORD = 'pa ss"w\\ord#;x'


def _request(role: Role = Role.REPLICA, **fields: object) -> AgentBackupRequest:
    return AgentBackupRequest(
        cluster="demo",
        keyspace="customer",
        shard="-80",
        backup_id="20260101T020000Z",
        source=Instance(name="customer-x80-1", role=role, socket="/run/db.sock", port=3307,
                        host="127.0.0.1"),
        credentials=DatabaseCredentials(user="backup", password=CredentialRef(env="SK_UT_PW")),
        destination=S3Location(bucket="b"),
        key="demo/customer/-80/20260101T020000Z/backup.xbstream",
        **fields,  # type: ignore[arg-type,unused-ignore]
    )


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SK_UT_PW", PASSWORD)


def test_password_only_in_a_private_defaults_file(tmp_path: Path) -> None:
    command = MariaBackupEngine().command(_request(parallel=4), tmp_path)

    argv = command.argv
    assert Path(argv[0]).name in ("mariadb-backup", "mariabackup")
    assert argv[1] == f"--defaults-extra-file={tmp_path / 'engine.cnf'}"  # first option
    assert argv[2:] == [
        "--backup",
        "--stream=xbstream",
        f"--target-dir={tmp_path / 'target'}",
        "--parallel=4",
        "--slave-info",
        "--safe-slave-backup",
    ]
    assert PASSWORD not in " ".join(argv) and "pa ss" not in " ".join(argv)
    assert not any(a.startswith(("--password", "-p")) for a in argv)
    defaults = tmp_path / "engine.cnf"
    assert stat.S_IMODE(defaults.stat().st_mode) == 0o600
    text = defaults.read_text()
    assert text.splitlines()[0] == "[client]"
    assert 'password="pa ss\\"w\\\\ord#;x"' in text
    assert 'socket="/run/db.sock"' in text and 'port="3307"' in text
    assert command.secrets == (PASSWORD,)


def test_primary_gets_no_replica_flags_and_extra_flags_follow(tmp_path: Path) -> None:
    request = _request(Role.PRIMARY, extra_flags={"use_memory": "1G", "--no-lock": ""})
    argv = MariaBackupEngine().command(request, tmp_path).argv
    assert "--slave-info" not in argv
    assert argv[-2:] == ["--no-lock", "--use-memory=1G"]


@pytest.mark.parametrize(
    "flag",
    ["stream", "--target-dir", "defaults_file", "password", "--password", "-p", "p", "user",
     "socket", "no-defaults", "skip-slave-info", "password-file", "pass", "--loose-pass",
     "str", "targ", "loose-skip-safe-slave-backup"],
)
def test_flags_that_break_streaming_or_leak_are_refused(flag: str) -> None:
    # Short options, abbreviations (the parser expands unique prefixes) and modifiers too.
    with pytest.raises(SpecInvalid, match="extraFlags"):
        normalise_flags({flag: "x"})


def test_flag_values_with_line_breaks_are_refused() -> None:
    with pytest.raises(SpecInvalid):
        normalise_flags({"use-memory": "1G\n--password=x"})


def test_password_with_a_line_break_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SK_UT_PW", "a\nb")
    with pytest.raises(SpecInvalid) as caught:
        MariaBackupEngine().command(_request(), tmp_path)
    assert "a\nb" not in str(caught.value)


def test_unknown_engine() -> None:
    with pytest.raises(EngineUnsupported, match="xtrabackup"):
        get_engine("xtrabackup")


def test_info_parsers() -> None:
    assert parse_binlog_info(b"mysql-bin.000003\t1234\t0-1-9,1-2-3\n").model_dump() == {
        "file": "mysql-bin.000003", "position": 1234, "gtid": "0-1-9,1-2-3",
    }
    assert parse_binlog_info(b"mysql-bin.000003\t1234\n").gtid is None
    gtid = parse_slave_info(
        b"SET GLOBAL gtid_slave_pos = '0-1-8';\nCHANGE MASTER TO master_use_gtid = slave_pos;\n"
    )
    assert gtid is not None and gtid.gtid == "0-1-8"
    classic = parse_slave_info(
        b"CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000002', MASTER_LOG_POS=4242;\n"
    )
    assert classic is not None and (classic.file, classic.position) == ("mysql-bin.000002", 4242)
    assert parse_slave_info(b"") is None
    info = parse_backup_info(b"tool_version = 10.11.19-MariaDB\nserver_version = 10.11.19-x\n")
    assert info == {"tool_version": "10.11.19-MariaDB", "server_version": "10.11.19-x"}
    facts = MariaBackupEngine().facts(
        {"xtrabackup_info": b"binlog_pos = filename 'b.1', position '7', "
                            b"GTID of the last change '0-1-2'\n"}
    )
    assert (facts.binlog.file, facts.binlog.position, facts.binlog.gtid) == ("b.1", 7, "0-1-2")
