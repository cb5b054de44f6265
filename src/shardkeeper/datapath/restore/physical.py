"""The physical restore: stage a stored backup, put it into a datadir.

This module owns the physical restore (download → verify while streaming → decrypt →
decompress → ``mbstream -x`` → ``--prepare`` → ``--move-back``/``--copy-back`` → ownership).
Finding the backup is ``resolve.py``. Every step leaves nothing usable behind when it
fails: staging happens in a hidden temporary directory renamed into place only after the
digest matched and prepare succeeded, and a copy-back marks the datadir as "restore in
progress" until it is complete, so an interrupted restore is recognised (and cleared) by the
next attempt instead of looking like a datadir. The logical restore is in ``logical.py``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

from shardkeeper.contracts.agent import BinlogPosition
from shardkeeper.contracts.common import CredentialRef, Destination
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.datapath.engines import PhysicalEngine, get_engine
from shardkeeper.datapath.restore.download import Decoder, DownloadResult, download
from shardkeeper.datapath.restore.resolve import Progress, encryption_key_for
from shardkeeper.datapath.stores.destination import open_store
from shardkeeper.datapath.stores.protocol import Store
from shardkeeper.datapath.tools import child
from shardkeeper.datapath.tools.enginelog import EngineLog, Tool
from shardkeeper.errors import (
    EngineFailed,
    SpecInvalid,
)

log = structlog.get_logger(__name__)

RESTORE_MARKER = ".shardkeeper-restore-in-progress"
MBSTREAM = "mbstream"

@dataclass(frozen=True)
class StageReport:
    """A verified, extracted and prepared backup, ready for copy-back."""

    staged_dir: Path
    backup_id: str
    size_bytes: int
    sha256: str
    raw_size_bytes: int
    binlog: BinlogPosition
    download_seconds: float
    prepare_seconds: float


@dataclass(frozen=True)
class CopyBackReport:
    """A datadir filled from a staged backup."""

    datadir: Path
    files: int
    seconds: float


def _physical_engine(manifest: BackupManifest) -> PhysicalEngine:
    engine = get_engine(manifest.engine)
    fmt = manifest.stream.format if manifest.stream else "xbstream"
    if fmt != "xbstream" or engine.format != "xbstream":
        raise SpecInvalid(
            f"backup {manifest.backup_id} is a {fmt} backup ({manifest.engine}); "
            "restore it with restore_logical"
        )
    if not hasattr(engine, "prepare_command"):  # pragma: no cover - every xbstream engine
        raise SpecInvalid(f"engine {engine.name} cannot prepare a backup")
    return engine  # type: ignore[return-value]


def _require_empty_target(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise SpecInvalid(f"staging target {target} exists and is not an empty directory")


def stage_backup(
    location: Destination,
    manifest: BackupManifest,
    target_dir: Path | str,
    key_ref: CredentialRef | None = None,
    on_progress: Progress | None = None,
    *,
    parallel: int = 2,
    use_memory_bytes: int | None = None,
) -> StageReport:
    """Download, verify, decode, extract and prepare a physical backup into ``target_dir``.

    The work happens in a hidden sibling of ``target_dir``; ``target_dir`` appears (by
    rename) only when the SHA-256 and size matched the manifest and prepare succeeded.

    Args:
        location: The store holding the backup.
        manifest: The backup's manifest (from :func:`resolve_backup`).
        target_dir: Must not exist, or be an empty directory.
        key_ref: The encryption key's reference, when the backup is encrypted.
        on_progress: Called about once a second with the phase and byte counts.
        parallel: ``mbstream --parallel``.
        use_memory_bytes: ``--use-memory`` of the prepare step.

    Raises:
        ChecksumMismatch: The stored object differs from the manifest (both digests).
        AccessDenied: Wrong encryption key (checked before anything is downloaded).
        SpecInvalid: Not a physical backup, no key for an encrypted one, target not empty.
        EngineFailed: mbstream or prepare failed (message with their log tail).
        BackupNotFound, EndpointUnavailable, ...: The store failed.
    """
    engine = _physical_engine(manifest)
    key = encryption_key_for(manifest, key_ref)
    target = Path(target_dir)
    _require_empty_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    mbstream = shutil.which(MBSTREAM)
    if mbstream is None:
        raise SpecInvalid(f"{MBSTREAM} is not on PATH (Debian: apt-get install mariadb-backup)")
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    store = open_store(location)
    log.info(
        "restore.staging",
        backup_id=manifest.backup_id,
        key=manifest.object_key,
        size_bytes=manifest.size_bytes,
        target=str(target),
    )
    try:
        result = _extract(store, manifest, key, mbstream, work, parallel, on_progress)
        if on_progress is not None:
            on_progress("preparing", result.size_bytes, result.decoded_bytes)
        clock = time.monotonic()
        _run_tool(engine, engine.prepare_command(work, use_memory_bytes), "prepare")
        prepare_seconds = time.monotonic() - clock
        facts = engine.staged_facts(work)
        if target.exists():
            target.rmdir()  # checked empty above
        os.replace(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    log.info(
        "restore.staged",
        backup_id=manifest.backup_id,
        target=str(target),
        seconds=round(result.seconds + prepare_seconds, 2),
    )
    return StageReport(
        staged_dir=target,
        backup_id=manifest.backup_id,
        size_bytes=result.size_bytes,
        sha256=result.sha256,
        raw_size_bytes=result.decoded_bytes,
        binlog=facts.binlog,
        download_seconds=result.seconds,
        prepare_seconds=prepare_seconds,
    )


def _extract(
    store: Store,
    manifest: BackupManifest,
    key: bytes | None,
    mbstream: str,
    work: Path,
    parallel: int,
    on_progress: Progress | None,
) -> DownloadResult:
    """Download and decode the backup into ``mbstream -x`` in ``work``; verified on the way.

    Raises:
        ChecksumMismatch: The stored object differs from the manifest.
        EngineFailed: mbstream failed (message with its log tail).
    """
    proc = child.spawn(
        [mbstream, "-x", "-C", str(work), f"--parallel={max(1, parallel)}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    if proc.stdin is None or proc.stderr is None:  # pragma: no cover - PIPE given
        raise RuntimeError("mbstream pipes missing")
    tool_log = EngineLog(proc.stderr, Tool(MBSTREAM), ())
    stdin = proc.stdin

    def write(data: bytes | memoryview) -> None:
        stdin.write(data)

    try:
        result = download(
            store,
            manifest.object_key,
            expected_sha256=manifest.sha256,
            expected_size_bytes=manifest.size_bytes,
            decoder=Decoder(manifest.stream, key),
            sink=write,
            on_progress=(lambda s, d: on_progress("downloading", s, d))
            if on_progress
            else None,
        )
        stdin.close()
        code = proc.wait()
        tool_log.join(timeout=5.0)
        if code != 0:
            raise EngineFailed(
                f"{MBSTREAM} exited with status {code}; last lines:\n{tool_log.tail()}"
            )
    finally:
        with contextlib.suppress(OSError):
            stdin.close()
        child.stop(proc)
        proc.stderr.close()
    return result


def _run_tool(engine: PhysicalEngine, argv: list[str], step: str) -> None:
    """Run a prepare/copy-back step; its stderr becomes log lines."""
    log.info("restore.step", step=step, argv=argv)
    proc = child.spawn(argv, stdout=subprocess.DEVNULL)
    if proc.stderr is None:  # pragma: no cover - PIPE given
        raise RuntimeError("tool stderr missing")
    tool_log = EngineLog(proc.stderr, engine, ())
    try:
        code = proc.wait()
        tool_log.join(timeout=10.0)
    finally:
        child.stop(proc)
        proc.stderr.close()
    if not engine.succeeded(code, tool_log.saw_success):
        raise EngineFailed(
            f"{engine.name} {step} exited with status {code}; last lines:\n{tool_log.tail()}"
        )


def _clear(directory: Path) -> None:
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def copy_back(
    staged_dir: Path | str,
    datadir: Path | str,
    *,
    allow_non_empty: bool = False,
    move: bool = True,
    engine_name: str = "mariabackup",
) -> CopyBackReport:
    """Put a staged (prepared) backup into ``datadir`` and give it the datadir's owner.

    The instance must be stopped. ``datadir`` is created if missing (mode 0750).

    Args:
        staged_dir: The directory :func:`stage_backup` produced.
        datadir: The target data directory.
        allow_non_empty: Let files already in ``datadir`` stay (they are not overwritten).
        move: ``--move-back`` (fast, consumes the staged copy; same filesystem) instead
            of ``--copy-back``.
        engine_name: The engine of the backup (its copy-back tool).

    Raises:
        SpecInvalid: ``datadir`` is not empty and ``allow_non_empty`` is false, or the
            staged directory is missing.
        EngineFailed: The copy-back failed; the datadir keeps its "restore in progress"
            marker so the next attempt clears it.
    """
    staged, target = Path(staged_dir), Path(datadir)
    if not staged.is_dir():
        raise SpecInvalid(f"staged backup {staged} does not exist")
    engine = get_engine(engine_name)
    if not hasattr(engine, "copy_back_command"):
        raise SpecInvalid(f"engine {engine.name} has no copy-back; it is not a physical engine")
    physical: PhysicalEngine = engine  # type: ignore[assignment]
    target.mkdir(mode=0o750, parents=True, exist_ok=True)
    marker = target / RESTORE_MARKER
    if marker.exists():
        log.warning("restore.clearing_interrupted", datadir=str(target))
        _clear(target)
    elif any(target.iterdir()) and not allow_non_empty:
        raise SpecInvalid(
            f"datadir {target} is not empty; restore into an empty datadir or allow it "
            "explicitly (allow_non_empty)"
        )
    owner = target.stat()
    marker.touch()
    clock = time.monotonic()
    # Our own emptiness check is done: the marker file must not make the tool refuse.
    argv = physical.copy_back_command(staged, target, move=move, force_non_empty=True)
    _run_tool(physical, argv, "move-back" if move else "copy-back")
    files = _fix_ownership(target, owner.st_uid, owner.st_gid)
    marker.unlink()
    if move:
        shutil.rmtree(staged, ignore_errors=True)
    seconds = time.monotonic() - clock
    log.info("restore.copied_back", datadir=str(target), files=files, seconds=round(seconds, 2))
    return CopyBackReport(datadir=target, files=files, seconds=seconds)


def _fix_ownership(root: Path, uid: int, gid: int) -> int:
    """Give every entry under ``root`` the datadir's owner (when we are allowed to)."""
    count = 0
    can_chown = os.geteuid() == 0
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            count += 1
            if not can_chown:
                continue
            st = os.lstat(path)
            if (st.st_uid, st.st_gid) != (uid, gid):
                os.lchown(path, uid, gid)
    return count
