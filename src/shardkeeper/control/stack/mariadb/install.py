"""Fresh datadirs for new instances, copied from one bootstrapped template.

One ``mariadb-install-db`` plus copies is several times faster than one bootstrap per instance
on a small machine; the template already holds the accounts, and nothing in it is specific to
an instance (``server_id`` and ports come from the command line).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from shardkeeper.control.stack.binaries import StackStartError, log_tail
from shardkeeper.control.stack.mariadb.instance import InstanceInfo, mariadb_program
from shardkeeper.processes import server_env


def install(planned: Sequence[InstanceInfo], template: Path) -> None:
    """Give every planned instance a fresh home and a copy of the ``template`` datadir.

    Args:
        planned: The instances; whatever their homes held before is removed.
        template: A bootstrapped datadir (see :func:`template_datadir`).
    """

    def copy(inst: InstanceInfo) -> None:
        if inst.home.exists():
            shutil.rmtree(inst.home)
        (inst.home / "tmp").mkdir(parents=True)
        shutil.copytree(template, inst.datadir, symlinks=True)

    # Copies overlap well: the kernel does the work (sendfile) without the GIL.
    with ThreadPoolExecutor(max_workers=max(1, len(planned))) as pool:
        list(pool.map(copy, planned))


def template_datadir(home: Path, accounts_sql: str, options: Sequence[str]) -> Path:
    """The bootstrapped template datadir under ``home``, made once and then reused.

    Args:
        home: The template's directory (``<home>/data`` is the datadir).
        accounts_sql: Bootstrap SQL creating the accounts (it holds passwords).
        options: Server options the bootstrap shares with the servers (InnoDB sizes …).

    Returns:
        The datadir.

    Raises:
        StackStartError: With the install log's tail if ``mariadb-install-db`` fails.
    """
    datadir = home / "data"
    if (home / "complete").exists():
        return datadir
    if home.exists():
        shutil.rmtree(home)
    (home / "tmp").mkdir(parents=True)
    accounts = home / "accounts.sql"
    # Passwords reach the server through a private file, never through argv.
    fd = os.open(accounts, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(accounts_sql)
    argv = [
        str(mariadb_program("mariadb-install-db")),
        "--no-defaults",
        f"--datadir={datadir}",
        "--auth-root-authentication-method=socket",
        "--skip-test-db",
        "--skip-name-resolve",
        f"--extra-file={accounts}",
        # Not /tmp: bootstraps running side by side trip over each other's temp tables.
        f"--tmpdir={home / 'tmp'}",
        *options,
    ]
    log_path = home / "install.log"
    try:
        with log_path.open("wb") as log:
            code = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=server_env(),
            ).returncode
    finally:
        accounts.unlink(missing_ok=True)
    if code != 0:
        raise StackStartError(
            f"mariadb-install-db exited {code}; last lines of {log_path}:\n"
            f"{log_tail(log_path, 12)}"
        )
    (home / "complete").touch()
    return datadir
