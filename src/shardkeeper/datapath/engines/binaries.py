"""An engine's binary on PATH, and the version it reports.

Every engine is a MariaDB tool known under two names (the MariaDB one and the MySQL-era
one); this module owns finding the first on PATH and asking it ``--version``, so each engine
only says which names and which version pattern are its own.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from shardkeeper.errors import EngineUnsupported


def find_binary(names: tuple[str, ...]) -> str:
    """The path of the first of ``names`` on PATH.

    Raises:
        EngineUnsupported: None of them is installed.
    """
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise EngineUnsupported(f"none of {', '.join(names)} is on PATH")


def binary_version(names: tuple[str, ...], pattern: re.Pattern[str]) -> str | None:
    """The version a binary prints for ``--version``, or None when it cannot say.

    Args:
        names: The binary's names, tried in order on PATH.
        pattern: Finds the version in the output (stdout, then stderr); its first group is
            the version. Without a match the first line of the output stands for it.
    """
    try:
        done = subprocess.run(
            [find_binary(names), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, EngineUnsupported):
        return None
    text = (done.stdout + done.stderr).strip()
    match = pattern.search(text)
    return match.group(1) if match else (text.splitlines()[0] if text else None)
