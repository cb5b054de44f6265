"""The agent's slim entry point: one parser, reached three ways, without the CLI's imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from shardkeeper import agent
from shardkeeper.activities.executor.render import pod_argv
from shardkeeper.activities.jobs import AGENT_BACKUP_ARGV
from shardkeeper.activities.restore import AGENT_RESTORE_ARGV
from shardkeeper.cli.app import app

HEAVY = ("typer", "click", "temporalio", "shardkeeper.cli.app", "shardkeeper.control")
"""What the agent never needs (rich is not here: structlog imports it when installed)."""

PROBE = """
import json, sys
from shardkeeper.cli.entry import main
sys.argv = ["shardkeeper", "agent", "backup", "--request", sys.argv[1]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "loaded": [m for m in %r if m in sys.modules]}))
"""


def test_shardkeeper_agent_runs_the_agent_without_the_cli_or_temporal(tmp_path: Path) -> None:
    """``shardkeeper agent backup`` (what a Job's image runs) imports no typer app or Temporal."""
    probe = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), str(tmp_path / "missing.json")],
        capture_output=True, text=True, timeout=120, check=False)
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result == {"code": 2, "loaded": []}, probe.stderr  # no request file: permanent


def test_python_m_shardkeeper_agent_lists_its_commands() -> None:
    out = subprocess.run([sys.executable, "-m", "shardkeeper.agent", "--help"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert all(c in out.stdout for c in ("backup", "restore", "serve"))


def test_the_typer_app_hands_agent_arguments_to_the_same_parser() -> None:
    result = CliRunner().invoke(app, ["agent", "serve", "--help"])
    assert result.exit_code == 0, result.output
    assert "--tls-cert" in result.output and "--password-file" in result.output
    refused = CliRunner().invoke(app, ["agent", "serve", "--password-env", "A",
                                       "--password-file", "/f"])
    assert refused.exit_code == 2  # one or the other, as before


def test_job_command_lines_start_the_slim_entry_here_and_in_a_pod() -> None:
    assert AGENT_BACKUP_ARGV[1:] == ["-m", "shardkeeper.agent", "backup"]
    assert AGENT_RESTORE_ARGV[1:] == ["-m", "shardkeeper.agent", "restore"]
    assert pod_argv(AGENT_BACKUP_ARGV, ("shardkeeper",)) == ["shardkeeper", "agent", "backup"]
    assert pod_argv(AGENT_RESTORE_ARGV, ("/venv/bin/python", "-m", "shardkeeper")) == [
        "/venv/bin/python", "-m", "shardkeeper", "agent", "restore"]


def test_serve_and_job_flags_parse_with_their_defaults() -> None:
    args = agent.parser().parse_args(["serve", "--host", "db", "--port", "3307"])
    assert (args.listen, args.host, args.port, args.user) == ("0.0.0.0:8443", "db", 3307, "root")
    job = agent.parser().parse_args(["restore", "--request", "r.json"])
    assert (job.command, job.request, job.report) == ("restore", "r.json", None)
