"""The runner of one local job, and the on-disk layout of a job directory.

``python -m shardkeeper.activities.executor.local_runner <job_dir>`` is what
``LocalExecutor.launch`` starts. The runner claims the job directory, starts the agent
(``spec.json``'s argv) as its child, waits for it and records the exit status in
``exit_code`` — so the outcome survives a worker restart, and a worker that never saw the
job start can still read it. It imports nothing beyond the standard library, ``base`` and
``shardkeeper.processes``, never temporalio, and starts in a few tens of milliseconds.

Layout of ``<jobs_dir>/<name>/`` (the directory is 0700, so every file in it is private):

=============  ==============================================================================
spec.json      name, argv, labels, env, created_at; present from the moment the dir exists
request.json   the agent's request (mode 0600); its path goes to the agent in the environment
launch.lock    flock()ed by the worker while it launches; mtime = last launch attempt
runner.pid     the runner's identity: pid, /proc start time, boot id — created exclusively,
               so it is also the claim that only one runner ever starts the agent
child.pid      the agent's identity, same format
stdout.log     the agent's stdout (progress JSON lines); stderr.log: its stderr
runner.log     the runner's own stderr (tracebacks if the runner itself fails)
report.json    written by the agent on success; error.json: by the agent on failure
cancelled      marker written by cancel() before it signals anything
exit_code      {"exit_code", "signal", "finished_at", "reason"}, written atomically, once
=============  ==============================================================================

Process tree: the worker starts the runner in a new session; the runner forks once and the
first process exits as soon as the job is claimed (so ``launch`` learns of a runner that
cannot start, and the worker never has to reap a long-lived child). The agent runs in a
process group of its own and gets SIGTERM if the runner dies (``PR_SET_PDEATHSIG``), so no
agent outlives its runner unnoticed; whatever the agent leaves behind in its group is killed
when it exits, as a Kubernetes container's processes are.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Final

from shardkeeper.activities.executor.base import ERROR_FILE_ENV, REPORT_FILE_ENV, REQUEST_FILE_ENV
from shardkeeper.activities.executor.procfs import process_identity
from shardkeeper.processes import die_with_parent_hook

RUNNER_MODULE: Final = "shardkeeper.activities.executor.local_runner"

SPEC_FILE: Final = "spec.json"
REQUEST_FILE: Final = "request.json"
LAUNCH_LOCK: Final = "launch.lock"
RUNNER_PID_FILE: Final = "runner.pid"
CHILD_PID_FILE: Final = "child.pid"
STDOUT_LOG: Final = "stdout.log"
STDERR_LOG: Final = "stderr.log"
RUNNER_LOG: Final = "runner.log"
REPORT_FILE: Final = "report.json"
ERROR_FILE: Final = "error.json"
CANCELLED_MARKER: Final = "cancelled"
EXIT_CODE_FILE: Final = "exit_code"

# Runner exit statuses (the runner's own, not the agent's): the first process reports
# through them whether the job was claimed.
RUNNER_OK: Final = 0
RUNNER_NO_SPEC: Final = 3
RUNNER_NOT_CLAIMED: Final = 4

# The conventional "command could not be executed" status, recorded when exec fails.
EXIT_CANNOT_EXECUTE: Final = 127



def now_utc() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def write_atomic(path: Path, data: bytes, *, exclusive: bool = False) -> bool:
    """Write ``path`` so readers see either nothing or all of ``data`` (mode 0600).

    Args:
        path: The file to write.
        data: Its whole content.
        exclusive: Fail instead of replacing an existing file. ``link()`` makes this atomic
            *and* exclusive, which a plain ``rename()`` is not.

    Returns:
        True if written, False if ``exclusive`` and the file already existed.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if not exclusive:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_json_atomic(path: Path, value: dict[str, Any], *, exclusive: bool = False) -> bool:
    """``write_atomic`` for a JSON object."""
    return write_atomic(path, json.dumps(value, sort_keys=True).encode(), exclusive=exclusive)


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object file, or None when it is absent or not a JSON object."""
    try:
        data = json.loads(path.read_bytes())
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def exit_record(
    exit_code: int | None, *, signal_number: int | None = None, reason: str | None = None
) -> dict[str, Any]:
    """The content of ``exit_code``."""
    return {
        "exit_code": exit_code,
        "signal": signal_number,
        "finished_at": now_utc().isoformat(),
        "reason": reason,
    }


class _Runner:
    """One claimed job: start the agent, forward signals, record how it ended."""

    def __init__(self, job_dir: Path, spec: dict[str, Any]) -> None:
        self.job_dir = job_dir
        self.spec = spec
        self.child_pid: int | None = None
        self.pending_signal: int | None = None

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        """Forward SIGTERM/SIGINT to the agent (or remember it if not started yet)."""
        if self.child_pid is None:
            self.pending_signal = signum
            return
        # os.kill, not Popen.send_signal: the latter may reap the child, and the pid must
        # stay reserved until the runner has killed the agent's process group.
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.child_pid, signum)

    def child_env(self) -> dict[str, str]:
        """The agent's environment: the worker's, the spec's extras, the contract's paths.

        The worker's environment is kept because credential references may name variables
        in it.
        """
        env = dict(os.environ)
        env.update({str(k): str(v) for k, v in (self.spec.get("env") or {}).items()})
        # Progress lines go to a file; without this a Python agent's stdout is
        # block-buffered and progress would appear in bursts of 8 KiB.
        env.setdefault("PYTHONUNBUFFERED", "1")
        env[REQUEST_FILE_ENV] = str(self.job_dir / REQUEST_FILE)
        env[REPORT_FILE_ENV] = str(self.job_dir / REPORT_FILE)
        env[ERROR_FILE_ENV] = str(self.job_dir / ERROR_FILE)
        return env

    def record(self, record: dict[str, Any]) -> None:
        """Write ``exit_code`` unless someone (cancel) already did."""
        write_json_atomic(self.job_dir / EXIT_CODE_FILE, record, exclusive=True)

    def run(self) -> None:
        """Start the agent, wait for it, record its exit status."""
        if (self.job_dir / CANCELLED_MARKER).exists() or self.pending_signal is not None:
            self.record(exit_record(None, reason="cancelled before the agent started"))
            return
        argv = [str(a) for a in self.spec["argv"]]
        with (
            open(self.job_dir / STDOUT_LOG, "ab") as out,
            open(self.job_dir / STDERR_LOG, "ab") as err,
        ):
            try:
                child = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    cwd=self.job_dir,
                    env=self.child_env(),
                    close_fds=True,
                    # Its own group, so that everything the agent starts (mariadb-backup …)
                    # can be signalled together without touching the runner.
                    process_group=0,
                    # Safe here (unlike in the worker): the runner is single-threaded.
                    preexec_fn=die_with_parent_hook(signal.SIGTERM),
                )
            except OSError as exc:
                message = f"cannot execute {argv[0]!r}: {exc.strerror or exc}"
                write_json_atomic(
                    self.job_dir / ERROR_FILE,
                    {"error_type": "JobFailed", "message": message},
                    exclusive=True,
                )
                self.record(exit_record(EXIT_CANNOT_EXECUTE))
                return
        self.child_pid = child.pid
        write_json_atomic(self.job_dir / CHILD_PID_FILE, process_identity(child.pid))
        if self.pending_signal is not None:
            self.on_signal(self.pending_signal, None)
        # Wait without reaping: while the agent is a zombie its pid (= its group id) cannot
        # be reused, so killing the group below cannot hit an unrelated process.
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        code = child.wait()
        if code < 0:
            self.record(exit_record(128 - code, signal_number=-code))
        else:
            self.record(exit_record(code))


def _claim(job_dir: Path) -> bool:
    """Create ``runner.pid`` exclusively: of any number of runners, exactly one wins."""
    if (job_dir / EXIT_CODE_FILE).exists():
        return False
    identity = process_identity(os.getpid())
    return write_json_atomic(job_dir / RUNNER_PID_FILE, identity, exclusive=True)


def run_job(job_dir: Path, ready_fd: int | None = None) -> int:
    """Claim ``job_dir`` and run its agent to the end (the runner's main body).

    Args:
        job_dir: The job directory, with ``spec.json`` already in place.
        ready_fd: A pipe to tell the waiting parent that the claim is settled; closed here.

    Returns:
        The runner's exit status (``RUNNER_*``), not the agent's.
    """

    def ready(message: bytes) -> None:
        nonlocal ready_fd
        if ready_fd is not None:
            with contextlib.suppress(OSError):
                os.write(ready_fd, message)
            os.close(ready_fd)
            ready_fd = None

    try:
        spec = read_json(job_dir / SPEC_FILE)
        if spec is None or not spec.get("argv"):
            print(f"local_runner: no usable {SPEC_FILE} in {job_dir}", file=sys.stderr)
            return RUNNER_NO_SPEC
        runner = _Runner(job_dir, spec)
        # Handlers before the claim: a cancel() that sees runner.pid may signal at once.
        signal.signal(signal.SIGTERM, runner.on_signal)
        signal.signal(signal.SIGINT, runner.on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if not _claim(job_dir):
            # Another runner owns the job (or it has finished): nothing to do.
            ready(b"claimed-elsewhere")
            return RUNNER_NOT_CLAIMED
        ready(b"ok")
        runner.run()
        return RUNNER_OK
    finally:
        ready(b"")


def main(argv: list[str] | None = None) -> int:
    """Entry point: detach, then run the job in the grandchild of the worker.

    The process the worker started waits only until the claim is settled and exits 0 if
    the job is running (here or in a runner that won the claim), non-zero otherwise.
    """
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(f"usage: python -m {RUNNER_MODULE} <job_dir>", file=sys.stderr)
        return 64
    job_dir = Path(args[0])
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            answer = pipe.read()
        # Reap the runner if it already exited (it failed); otherwise init adopts it.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if answer == b"ok":
            return RUNNER_OK
        return RUNNER_OK if (job_dir / RUNNER_PID_FILE).exists() else RUNNER_NOT_CLAIMED
    os.close(read_fd)
    return run_job(job_dir, ready_fd=write_fd)


if __name__ == "__main__":
    sys.exit(main())
