"""`shardkeeper delete schedule`: what it is asked to delete is checked before any server.

Deleting on a real server (backups kept, unknown name exit code 2) is in
tests/e2e/test_ownership.py.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from fixtures.spec_docs import CLUSTER, write
from shardkeeper.cli.app import app

runner = CliRunner()
# Nothing listens here: a command that got as far as connecting would fail with exit code 1.
NO_SERVER = {"TEMPORAL_ADDRESS": "127.0.0.1:9"}


def test_a_name_needs_its_cluster() -> None:
    result = runner.invoke(app, ["delete", "schedule", "nightly"], env=NO_SERVER)
    assert result.exit_code == 2
    assert "give a schedule NAME and --cluster, or --filename FILE" in result.output


def test_a_name_and_files_are_refused_together(tmp_path: Path) -> None:
    path = write(tmp_path, CLUSTER)
    result = runner.invoke(app, ["delete", "schedule", "nightly", "-c", "demo", "-f", str(path)],
                           env=NO_SERVER)
    assert result.exit_code == 2 and "not both" in result.output


def test_files_without_a_schedule_delete_nothing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["delete", "schedule", "-f", str(write(tmp_path, CLUSTER))],
                           env=NO_SERVER)
    assert result.exit_code == 2
    assert "no BackupSchedule documents in the given files" in result.output
