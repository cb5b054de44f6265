"""Logical restore: a verified dump streamed into the ``mariadb`` client.

SQL applied to a server cannot be taken back, so verification comes first: the stored
object is downloaded into a private spool file (its stored, compressed and encrypted form)
while its SHA-256 is computed, and only a matching spool is decoded and fed to the client.
A corrupted, truncated or wrongly keyed backup therefore writes nothing into the target.
The password reaches the client through a 0600 defaults file, never argv.
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

import pymysql
import structlog

from shardkeeper.contracts.agent import BinlogPosition
from shardkeeper.contracts.common import CredentialRef, DatabaseCredentials, Destination, Instance
from shardkeeper.contracts.manifest import BackupManifest
from shardkeeper.datapath.credentials import resolve
from shardkeeper.datapath.restore.download import Decoder, DownloadResult, download
from shardkeeper.datapath.restore.resolve import Progress, encryption_key_for
from shardkeeper.datapath.stores.destination import open_store
from shardkeeper.datapath.stores.filesystem import FileReader
from shardkeeper.datapath.stores.protocol import Store
from shardkeeper.datapath.tools import child
from shardkeeper.datapath.tools.client_options import write_client_defaults
from shardkeeper.datapath.tools.enginelog import EngineLog, Tool
from shardkeeper.errors import EndpointUnavailable, EngineFailed, SpecInvalid

log = structlog.get_logger(__name__)

CLIENTS = ("mariadb", "mysql")
_CHUNK_BYTES = 8 << 20


@dataclass(frozen=True)
class LogicalRestoreReport:
    """A dump applied to a server."""

    backup_id: str
    size_bytes: int
    sha256: str
    raw_size_bytes: int
    binlog: BinlogPosition
    download_seconds: float
    apply_seconds: float


def _client() -> str:
    for name in CLIENTS:
        path = shutil.which(name)
        if path:
            return path
    raise SpecInvalid(f"none of {', '.join(CLIENTS)} is on PATH (Debian: mariadb-client)")


def _existing_databases(
    instance: Instance, credentials: DatabaseCredentials, names: tuple[str, ...]
) -> list[str]:
    password = resolve(credentials.password) if credentials.password else ""
    where = (
        {"unix_socket": instance.socket}
        if instance.socket
        else {"host": instance.host or "127.0.0.1", "port": instance.port or 3306}
    )
    try:
        conn = pymysql.connect(
            user=credentials.user, password=password, connect_timeout=5, **where
        )
    except pymysql.MySQLError as exc:
        code = exc.args[0] if exc.args else "?"
        raise EndpointUnavailable(
            f"cannot connect to {instance.name} to check the target (MySQL error {code})"
        ) from None
    try:
        with conn.cursor() as cur:
            marks = ", ".join(["%s"] * len(names))
            query = f"SELECT schema_name FROM information_schema.schemata WHERE schema_name IN ({marks})"  # noqa: E501, S608 - placeholders only
            cur.execute(query, names)
            return sorted(str(row[0]) for row in cur.fetchall())
    finally:
        conn.close()


def restore_logical(
    location: Destination,
    manifest: BackupManifest,
    instance: Instance,
    credentials: DatabaseCredentials,
    key_ref: CredentialRef | None = None,
    on_progress: Progress | None = None,
    *,
    spool_dir: Path | str | None = None,
    allow_existing: bool = False,
) -> LogicalRestoreReport:
    """Verify a logical backup, then stream it into ``instance`` through ``mariadb``.

    Args:
        location: The store holding the backup.
        manifest: The backup's manifest (from ``resolve_backup``).
        instance: The target server (socket or host/port).
        credentials: Account on the target; the password by reference.
        key_ref: The encryption key's reference, when the backup is encrypted.
        on_progress: Called about once a second with the phase and byte counts.
        spool_dir: Where the verified download waits (needs the stored size free);
            default: the system temporary directory.
        allow_existing: Apply even if a database of the dump already exists on the target.

    Raises:
        ChecksumMismatch: The stored object differs from the manifest; nothing was applied.
        AccessDenied: Wrong encryption key; nothing was downloaded.
        SpecInvalid: Not a logical backup, or a dumped database already exists.
        EngineFailed: The client failed while applying (its redacted log tail).
    """
    fmt = manifest.stream.format if manifest.stream else "xbstream"
    if fmt != "sql":
        raise SpecInvalid(
            f"backup {manifest.backup_id} is a {fmt} backup ({manifest.engine}); restore it "
            "with stage_backup and copy_back"
        )
    key = encryption_key_for(manifest, key_ref)
    if not allow_existing:
        _refuse_existing(manifest, instance, credentials)
    client = _client()
    store = open_store(location)
    with tempfile.TemporaryDirectory(prefix="shardkeeper-restore-", dir=spool_dir) as work:
        workdir = Path(work)
        spool_path = workdir / "backup.spool"
        fetched = _spool(store, manifest, spool_path, on_progress)
        log.info("restore.verified", backup_id=manifest.backup_id, sha256=fetched.sha256)
        defaults = workdir / "client.cnf"
        password = write_client_defaults(defaults, instance, credentials)
        argv = [client, f"--defaults-extra-file={defaults}", "--batch", "--binary-mode"]
        clock = time.monotonic()
        applied = _apply(
            argv, spool_path, Decoder(manifest.stream, key), (password,) if password else (),
            on_progress, fetched.size_bytes,
        )
    seconds = time.monotonic() - clock
    log.info(
        "restore.applied",
        backup_id=manifest.backup_id,
        instance=instance.name,
        bytes=applied,
        seconds=round(seconds, 2),
    )
    return LogicalRestoreReport(
        backup_id=manifest.backup_id,
        size_bytes=fetched.size_bytes,
        sha256=fetched.sha256,
        raw_size_bytes=applied,
        binlog=manifest.binlog,
        download_seconds=fetched.seconds,
        apply_seconds=seconds,
    )


def _refuse_existing(
    manifest: BackupManifest, instance: Instance, credentials: DatabaseCredentials
) -> None:
    """Raise if a database of the dump already exists on the target."""
    databases = manifest.stream.databases if manifest.stream else ()
    if not databases:
        return
    present = _existing_databases(instance, credentials, databases)
    if present:
        raise SpecInvalid(
            f"database(s) {', '.join(present)} already exist on {instance.name}; restore "
            "into a fresh instance, drop them, or allow it explicitly (allow_existing)"
        )


def _spool(
    store: Store, manifest: BackupManifest, spool_path: Path, on_progress: Progress | None
) -> DownloadResult:
    """Download the stored stream as it is into a new 0600 file, verifying it on the way."""
    fd = os.open(spool_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb", buffering=0) as spool:

        def write(data: bytes | memoryview) -> None:
            spool.write(data)

        return download(
            store,
            manifest.object_key,
            expected_sha256=manifest.sha256,
            expected_size_bytes=manifest.size_bytes,
            decoder=None,
            sink=write,
            on_progress=(lambda s, d: on_progress("downloading", s, d))
            if on_progress
            else None,
        )


def _apply(
    argv: list[str],
    spool_path: Path,
    decoder: Decoder,
    secrets: tuple[str, ...],
    on_progress: Progress | None,
    stored_size: int,
) -> int:
    """Decode the spool into the client's stdin; return the SQL bytes written."""
    proc = child.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    if proc.stdin is None or proc.stderr is None:  # pragma: no cover - PIPE given
        raise RuntimeError("client pipes missing")
    tool_log = EngineLog(proc.stderr, Tool("mariadb"), secrets)
    written = read = 0
    last = time.monotonic()
    reader = FileReader(spool_path)
    try:
        try:
            for chunk in reader.chunks(_CHUNK_BYTES):
                read += len(chunk)
                for out in decoder.feed(chunk):
                    proc.stdin.write(out)
                    written += len(out)
                if on_progress is not None and time.monotonic() - last >= 1.0:
                    last = time.monotonic()
                    on_progress("applying", read, written)
            for out in decoder.finish():
                proc.stdin.write(out)
                written += len(out)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the client died: its status and log say why, below
        code = proc.wait()
        tool_log.join(timeout=5.0)
    finally:
        reader.close()
        with contextlib.suppress(OSError):
            proc.stdin.close()
        child.stop(proc)
        proc.stderr.close()
    if code != 0:
        raise EngineFailed(
            f"the mariadb client exited with status {code} after {written} of the dump's "
            f"bytes; last lines:\n{tool_log.tail()}"
        )
    if on_progress is not None:
        on_progress("applied", stored_size, written)
    return written
