"""Move a stopped instance's datadir aside, put it back, or discard it after success.

The current datadir is never deleted before the restore succeeded: it is *renamed* to
``<datadir>.sk-aside-<key>`` (same filesystem, atomic, no copy). A small journal
(``<aside>.json``) is written before the rename, so a retry after a crash at any point knows
what was done. Returning removes whatever the restore put at the datadir path (a restored,
partial or crashed datadir, and the staging directory) and renames the set-aside one back;
its tree digest must equal the one taken before the move. Every operation is idempotent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import structlog

from shardkeeper.contracts.restore import (
    DatadirRecord,
    ReturnDatadirResult,
)
from shardkeeper.errors import PermanentError, SpecInvalid
from shardkeeper.naming import aside_path, journal_path, staging_path

log = structlog.get_logger(__name__)
_CHUNK = 1 << 20


class DatadirChanged(PermanentError):
    """A datadir put back is not byte-identical to what was set aside."""


def tree_digest(root: Path, on_file: Callable[[], None] | None = None) -> tuple[str, int]:
    """SHA-256 over every entry below ``root``: relative path, kind, and content (or target).

    Nothing is excluded: it is taken while the server is stopped, so every byte counts.

    Returns:
        (hex digest, number of files).
    """
    total = hashlib.sha256()
    files = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        total.update(f"d {rel_dir}\n".encode())
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(
                os.path.join(dirpath, d))]):
            path = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if os.path.islink(path):
                total.update(f"l {rel} {os.readlink(path)}\n".encode())
                continue
            sha = hashlib.sha256()
            with open(path, "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    sha.update(chunk)
            total.update(f"f {rel} {sha.hexdigest()}\n".encode())
            files += 1
            if on_file is not None:
                on_file()
    return total.hexdigest(), files


def _datadir(datadir: str | None, instance: str) -> Path:
    if not datadir:
        raise SpecInvalid(f"instance {instance} has no datadir in the Cluster document; "
                          "a restore needs it")
    return Path(datadir)


def _write_journal(path: Path, record: DatadirRecord) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(record.model_dump_json(indent=2))
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def set_aside(datadir: str | None, instance: str, key: str,
              on_file: Callable[[], None] | None = None) -> DatadirRecord:
    """Rename the (stopped) instance's datadir aside, journaled; idempotent."""
    current = _datadir(datadir, instance)
    aside, journal = Path(aside_path(str(current), key)), Path(journal_path(str(current), key))
    if journal.exists():
        record = DatadirRecord.model_validate_json(journal.read_text())
        if record.existed and not aside.exists() and current.exists():
            os.rename(current, aside)  # crashed between journal and rename
        if record.existed and not current.exists():
            current.mkdir(mode=0o750)
        return record
    existed = current.exists()
    digest, files = tree_digest(current, on_file) if existed else (None, 0)
    record = DatadirRecord(datadir=str(current), aside=str(aside), existed=existed,
                           digest=digest, files=files)
    _write_journal(journal, record)
    if existed:
        os.rename(current, aside)
        # An empty datadir with the old one's owner and mode: the agent restores into it and
        # gives every file that owner (the server's user, not the agent's).
        st = aside.stat()
        current.mkdir(mode=st.st_mode & 0o7777)
        os.chmod(current, st.st_mode & 0o7777)
        if os.geteuid() == 0:
            os.chown(current, st.st_uid, st.st_gid)
    log.info("datadir.set_aside", instance=instance, datadir=str(current), aside=str(aside),
             existed=existed, files=files)
    return record


def _remove(path: Path, key: str) -> None:
    """Remove a directory tree, renaming it first.

    A crash then never leaves a half-deleted datadir under a name anything would start.
    """
    if not path.exists() and not path.is_symlink():
        return
    doomed = path.with_name(f"{path.name}.sk-removing-{key}")
    os.rename(path, doomed)
    shutil.rmtree(doomed)


def return_back(datadir: str | None, instance: str, key: str,
                on_file: Callable[[], None] | None = None) -> ReturnDatadirResult:
    """Put the set-aside datadir back in place (the compensation of set_aside); idempotent.

    Raises:
        DatadirChanged: The datadir put back does not hash to what was set aside.
    """
    current = _datadir(datadir, instance)
    aside, journal = Path(aside_path(str(current), key)), Path(journal_path(str(current), key))
    _remove(Path(staging_path(str(current), key)), key)
    leftover = current.with_name(f"{current.name}.sk-removing-{key}")
    if leftover.exists():
        shutil.rmtree(leftover)
    if not journal.exists():
        return ReturnDatadirResult(datadir=str(current), returned=False)
    record = DatadirRecord.model_validate_json(journal.read_text())
    if aside.exists():
        _remove(current, key)
        os.rename(aside, current)
    elif not record.existed:
        _remove(current, key)  # the instance had no datadir: leave none
    digest = tree_digest(current, on_file)[0] if record.existed else None
    if digest != record.digest:
        raise DatadirChanged(
            f"instance {instance}: datadir {current} was put back but its digest {digest} "
            f"differs from {record.digest} taken when it was set aside"
        )
    journal.unlink()
    log.info("datadir.returned", instance=instance, datadir=str(current), digest=digest)
    return ReturnDatadirResult(datadir=str(current), returned=True, digest=digest)


def discard(datadir: str | None, instance: str, key: str) -> ReturnDatadirResult:
    """After success: remove the set-aside datadir, its journal and any staging leftovers."""
    current = _datadir(datadir, instance)
    aside, journal = Path(aside_path(str(current), key)), Path(journal_path(str(current), key))
    _remove(aside, key)
    _remove(Path(staging_path(str(current), key)), key)
    with contextlib.suppress(FileNotFoundError):
        journal.unlink()
    return ReturnDatadirResult(datadir=str(current), returned=False)


def describe_record(record: DatadirRecord) -> str:
    """One line for logs."""
    return json.dumps(record.model_dump(mode="json"))
