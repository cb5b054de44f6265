"""``extraFlags``: options passed through to the backup engine, checked before anything runs.

The same rules as the engine's own check at run time (``datapath/engines/mariabackup.py``,
kept equal by a test), applied when a document is loaded so a schedule that could never
stream is rejected by ``plan``/``apply`` instead of failing at 02:00. The spec layer may not
import the data path, hence the copy.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

# Options shardkeeper sets itself, that break streaming, carry a secret in argv or turn the
# run into something other than a backup. Compared after normalising '_' to '-'.
FORBIDDEN_FLAGS = frozenset(
    {
        "stream", "target-dir", "defaults-file", "defaults-extra-file",
        "defaults-group-suffix", "no-defaults", "print-defaults", "password", "user", "host",
        "port", "socket", "backup", "prepare", "copy-back", "move-back", "export", "parallel",
        "slave-info", "safe-slave-backup", "extra-lsndir", "incremental-basedir",
        "incremental-dir", "incremental-lsn", "version", "help",
    }
)
# The option parser's modifiers: --loose-stream, --skip-stream ... mean the same option.
MODIFIERS = ("loose-", "skip-", "disable-", "enable-", "maximum-", "no-")
_LONG_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def base_option(name: str) -> str:
    """The option a flag name refers to once dashes and modifiers are removed."""
    base = name.removeprefix("--").replace("_", "-").lower()
    while True:
        stripped = base
        for modifier in MODIFIERS:
            stripped = stripped.removeprefix(modifier)
        if stripped == base:
            return base
        base = stripped


def flag_problem(raw_name: str, value: str) -> str | None:
    """Why ``raw_name: value`` cannot be passed to the engine, or None when it can."""
    name = raw_name.removeprefix("--").replace("_", "-").lower()
    if not _LONG_NAME.match(name) or len(name) < 2:
        return (
            f"{raw_name!r} is not a long option name; short options are not accepted "
            "(use e.g. 'use-memory' or '--use-memory')"
        )
    base = base_option(name)
    # mariadb-backup accepts any unambiguous prefix (--pass is --password), so a prefix of a
    # forbidden option is as forbidden as the option itself.
    if any(f.startswith(base) for f in FORBIDDEN_FLAGS) or base.startswith("password"):
        return (
            f"--{name} is set by shardkeeper or would break streaming; forbidden: "
            f"{', '.join(sorted(FORBIDDEN_FLAGS))} (and their --loose-/--skip- forms)"
        )
    if any(c in value for c in "\n\r\0"):
        return f"the value of --{name} contains a line break or NUL"
    return None


def _scalar(value: object) -> object:
    # YAML turns `compress-threads: 4` into an int; flags are text on a command line.
    if isinstance(value, bool):
        raise ValueError("use a string value; an empty string renders a bare --flag")
    if isinstance(value, int | float):
        return str(value)
    return value


def _check(flags: dict[str, str]) -> dict[str, str]:
    problems = [p for name, value in flags.items() if (p := flag_problem(name, value))]
    if problems:
        raise ValueError("; ".join(problems))
    return flags


FlagValue = Annotated[str, BeforeValidator(_scalar)]
ExtraFlags = Annotated[dict[str, FlagValue], AfterValidator(_check)]
"""Engine option name (with or without ``--``) to value; ``""`` renders a bare ``--name``."""
