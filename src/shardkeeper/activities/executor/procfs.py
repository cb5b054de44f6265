"""What ``/proc`` says about a process: is the one recorded in a pid file still alive?

A pid alone is not trusted: after the process ends the kernel may hand the number to an
unrelated process. A process is identified by its pid, its start time (``/proc/<pid>/stat``)
and the boot id, since start times restart at each boot. Standard library only: the local
runner imports it and must start fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

_BOOT_ID_PATH: Final = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str:
    """This boot's id: a start time counted from boot means nothing after a reboot."""
    try:
        return _BOOT_ID_PATH.read_text().strip()
    except OSError:
        return ""


def _proc_stat(pid: int) -> list[str] | None:
    """Fields 3… of ``/proc/<pid>/stat`` (after ``(comm)``), or None if there is no such pid."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes().decode(errors="replace")
    except OSError:
        return None
    # comm may contain spaces and parentheses; it ends at the last ')'.
    return raw[raw.rfind(")") + 2 :].split()


def proc_start_time(pid: int) -> int | None:
    """Field 22 of ``/proc/<pid>/stat``: start time in clock ticks since boot."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def proc_pgid(pid: int) -> int | None:
    """Field 5 of ``/proc/<pid>/stat``: the process group id."""
    fields = _proc_stat(pid)
    return int(fields[2]) if fields and len(fields) > 2 else None


def process_identity(pid: int) -> dict[str, Any]:
    """What identifies ``pid`` beyond its number: start time and boot id."""
    return {"pid": pid, "start_time": proc_start_time(pid), "boot_id": boot_id()}


def identity_alive(identity: dict[str, Any] | None) -> bool:
    """Whether the process recorded in ``identity`` is still running.

    A pid alone is not trusted: after the process ends the kernel may hand the number to an
    unrelated process. The start time (and the boot id, since start times restart at each
    boot) must match too. Zombies count as dead: they have exited, only their parent has
    not reaped them yet.

    Args:
        identity: A ``process_identity`` record as read from a pid file.

    Returns:
        True only if a process with that pid, start time and boot id is alive.
    """
    if not identity:
        return False
    pid, start = identity.get("pid"), identity.get("start_time")
    if not isinstance(pid, int) or not isinstance(start, int) or pid <= 0:
        return False
    if identity.get("boot_id") != boot_id():
        return False
    fields = _proc_stat(pid)
    if not fields or len(fields) <= 19:
        return False
    return fields[0] not in ("Z", "X", "x") and int(fields[19]) == start
