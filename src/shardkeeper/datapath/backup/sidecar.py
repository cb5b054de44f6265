"""``shardkeeper agent serve``: the database pod's sidecar that streams a backup over mTLS.

On Kubernetes only a container of the database pod can read the datadir, so the backup Job
does not run ``mariadb-backup`` itself: it asks the sidecar of the chosen instance
(``GET /backup``) and uploads what comes back (the seeds' instance-manager model).

Protocol: HTTPS; the client must present a certificate signed by the sidecar's client CA
(``CERT_REQUIRED``). ``GET /backup?parallel=N&replica=1`` answers ``200`` with a chunked
body made of frames, each ``1-byte type + 4-byte big-endian length + payload``:

- ``D``: engine stdout (xbstream bytes), in order;
- ``K``: keepalive, empty, sent while the engine is silent for a second (waiting for locks
  or a replica's SQL thread) so the client can keep reporting progress;
- ``S``: last frame, JSON ``{"ok": bool, "returncode": int, "message": str}``.

The status travels in the body, not in HTTP trailers, because Python's ``http.client`` (and
many proxies) drop trailers. A stream that ends without ``S`` is incomplete: the engine or
the connection died. Only ``ok: true`` (exit status 0 *and* "completed OK!" in the engine's
log) makes the bytes a backup; ``mariadb-backup`` pointed at a wrong socket still writes
megabytes before failing.

One backup at a time per sidecar (``503`` with ``Retry-After`` while busy); the password is
passed to the engine through a 0600 defaults file and redacted from messages.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import select
import shutil
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from shardkeeper.contracts.agent import AgentBackupRequest
from shardkeeper.contracts.common import DatabaseCredentials, Instance, Role, S3Location
from shardkeeper.datapath.engines.mariabackup import MariaBackupEngine
from shardkeeper.errors import EndpointUnavailable, EngineFailed

DATA: Final = b"D"
STATUS: Final = b"S"
KEEPALIVE: Final = b"K"
_KEEPALIVE_SECONDS: Final = 1.0
_HEADER = struct.Struct(">cI")
_CHUNK_BYTES: Final = 1024 * 1024
_MESSAGE_TAIL_CHARS: Final = 2000


@dataclass(frozen=True)
class SidecarConfig:
    """What the sidecar backs up and how it is reached.

    Attributes:
        instance: The local mariadbd (usually its socket).
        credentials: The backup account; the password by reference (an env var of the pod).
        cert: The server certificate (PEM). key: its private key.
        client_ca: CA bundle that client certificates must chain to.
    """

    instance: Instance
    credentials: DatabaseCredentials
    cert: Path
    key: Path
    client_ca: Path


def server_context(config: SidecarConfig) -> ssl.SSLContext:
    """TLS 1.2+ server context that requires a client certificate from ``client_ca``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.cert, config.key)
    context.load_verify_locations(config.client_ca)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class SidecarServer(ThreadingHTTPServer):
    """The HTTPS server; ``serve_forever`` in a thread or as the process's main loop."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], config: SidecarConfig) -> None:
        super().__init__(address, _Handler)
        self.config = config
        self.busy = threading.Lock()
        self.engine = MariaBackupEngine()
        # Handshake per connection in its handler thread, so one slow client cannot hold the
        # accept loop.
        self.context = server_context(config)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A refused client certificate or a dropped connection is not a server error."""
        if not isinstance(sys.exc_info()[1], OSError):  # ssl.SSLError is an OSError
            super().handle_error(request, client_address)

    def get_request(self) -> tuple[Any, Any]:
        """Accept and wrap in TLS (the handshake happens on first read, in the thread)."""
        sock, address = super().get_request()
        return self.context.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False), address


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SidecarServer

    def log_message(self, format: str, *args: Any) -> None:
        """Access logs are not needed; the engine's outcome travels in the stream."""

    def setup(self) -> None:
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError):
            self.request.close()
            raise
        super().setup()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/backup":
            self._plain(404, "not found")
            return
        if not self.server.busy.acquire(blocking=False):
            self._plain(503, "a backup is already running", {"Retry-After": "30"})
            return
        try:
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            self._stream(int(query.get("parallel", "2")), query.get("replica") == "1")
        finally:
            self.server.busy.release()

    def _plain(self, code: int, text: str, headers: dict[str, str] | None = None) -> None:
        body = text.encode()
        self.send_response(code)
        for name, value in {"Content-Type": "text/plain", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, parallel: int, replica: bool) -> None:
        config = self.server.config
        engine = self.server.engine
        workdir = Path(tempfile.mkdtemp(prefix="sk-serve-"))
        try:
            request = AgentBackupRequest(
                cluster="-", keyspace="-", shard="-", backup_id="-",
                source=config.instance.model_copy(
                    update={"role": Role.REPLICA if replica else Role.PRIMARY}),
                credentials=config.credentials, destination=S3Location(bucket="unused"),
                key="-", parallel=parallel)
            command = engine.command(request, workdir)
            errors = open(workdir / "engine.log", "w+b")  # noqa: SIM115 - closed below
            process = subprocess.Popen(command.argv, stdout=subprocess.PIPE, stderr=errors,
                                       stdin=subprocess.DEVNULL, cwd=workdir)
        except Exception as exc:  # the engine could not even start: say so, never hang
            shutil.rmtree(workdir, ignore_errors=True)
            self._plain(500, f"{type(exc).__name__}: {exc}")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.shardkeeper.frames")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            stdout = process.stdout
            assert stdout is not None
            fd = stdout.fileno()
            poller = select.poll()
            poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
            while True:
                if not poller.poll(_KEEPALIVE_SECONDS * 1000):
                    self._chunk(_HEADER.pack(KEEPALIVE, 0))
                    continue
                # raw reads: forward what the engine wrote without waiting for a full chunk
                chunk = os.read(fd, _CHUNK_BYTES)
                if not chunk:
                    break
                self._chunk(_HEADER.pack(DATA, len(chunk)) + chunk)
            code = process.wait()
            errors.seek(0)
            log = errors.read().decode(errors="replace")
            for secret in command.secrets:
                log = log.replace(secret, "***")
            lines = log.rstrip().splitlines()
            ok = engine.succeeded(code, bool(lines) and engine.is_success_line(lines[-1]))
            status = json.dumps({"ok": ok, "returncode": code,
                                 "message": log[-_MESSAGE_TAIL_CHARS:]}).encode()
            self._chunk(_HEADER.pack(STATUS, len(status)) + status)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            # The client went away: stop the engine, there is nobody to stream to.
            process.kill()
            process.wait()
        finally:
            if process.stdout is not None:
                process.stdout.close()
            errors.close()
            shutil.rmtree(workdir, ignore_errors=True)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (``[::]:8443`` for IPv6) as an address tuple.

    Raises:
        ValueError: Not ``host:port`` with a numeric port.
    """
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--listen must be host:port, got {listen!r}")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - a pod's sidecar port


def serve(config: SidecarConfig, address: tuple[str, int],
          on_ready: Callable[[tuple[str, int]], None] | None = None) -> None:
    """Serve until SIGTERM or SIGINT (the main thread's loop of ``agent serve``).

    Args:
        config: What to back up and the TLS material.
        address: Where to listen; port 0 picks a free one (``on_ready`` is told which).
        on_ready: Called with the bound address once the socket listens.
    """
    import signal

    server = SidecarServer(address, config)

    def stop(_signum: int, _frame: Any) -> None:
        # shutdown() waits for serve_forever, which runs in this thread: ask from another.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if on_ready is not None:
            bound = server.server_address
            on_ready((str(bound[0]), int(bound[1])))
        server.serve_forever()
    finally:
        server.server_close()


# ---------------------------------------------------------------------- client


class BackupStream(io.RawIOBase):
    """The engine's bytes from a sidecar; ``completed()`` says whether they are a backup."""

    def __init__(self, connection: http.client.HTTPSConnection,
                 response: http.client.HTTPResponse,
                 on_idle: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._connection = connection
        self._response = response
        self._on_idle = on_idle
        self._pending = b""
        self._left = 0
        self._status: dict[str, Any] | None = None

    def readable(self) -> bool:
        """Always: this is a read stream."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` with engine bytes; 0 at the end of the data."""
        view = memoryview(buffer).cast("B")
        while self._left == 0:
            if self._status is not None or not self._next_frame():
                return 0
        count = self._response.readinto(view[: min(len(view), self._left)])
        if count == 0:
            raise EndpointUnavailable("sidecar stream ended inside a data frame")
        self._left -= count
        return count

    def _next_frame(self) -> bool:
        header = self._response.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return False  # ended without a status frame: completed() reports it
        kind, length = _HEADER.unpack(header)
        if kind == DATA:
            self._left = length
            return True
        if kind == KEEPALIVE:
            self._response.read(length)
            if self._on_idle is not None:
                self._on_idle()
            return True
        payload = self._response.read(length)
        self._status = json.loads(payload) if kind == STATUS else {"ok": False}
        return False

    def completed(self) -> dict[str, Any]:
        """Check the engine's verdict; call after reading everything.

        Returns:
            The status frame (``ok``, ``returncode``, ``message``).

        Raises:
            EngineFailed: The engine failed, or the stream ended without a verdict.
        """
        while self._status is None and (self._left or self._next_frame()):
            self._response.read(self._left)
            self._left = 0
        if self._status is None:
            raise EngineFailed("sidecar stream ended without the engine's status")
        if not self._status.get("ok"):
            raise EngineFailed(
                f"engine failed in the sidecar (exit {self._status.get('returncode')}): "
                f"{self._status.get('message', '')}"
            )
        return self._status

    def close(self) -> None:
        """Close the connection (an unfinished engine is stopped by the sidecar)."""
        with contextlib.suppress(OSError):
            self._connection.close()
        super().close()


def open_backup_stream(
    url: str, ca: Path, cert: Path, key: Path, *, parallel: int = 2, replica: bool = False,
    timeout_seconds: float = 300.0, on_idle: Callable[[], None] | None = None,
) -> BackupStream:
    """Start a backup in a sidecar and return its byte stream.

    Args:
        url: The sidecar, e.g. ``https://customer-x80-1.customer-x80.db.svc:8443``.
        ca: CA bundle that signed the sidecar's certificate.
        cert: This client's certificate.
        key: Its private key.
        parallel: Engine copy threads.
        replica: The source is a replica (``--slave-info --safe-slave-backup``).
        timeout_seconds: Socket timeout for connecting and for each read.
        on_idle: Called on each keepalive (about once a second while the engine is silent).

    Raises:
        EndpointUnavailable: The sidecar is unreachable, busy, or refused the request.
    """
    parts = urlsplit(url)
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(cert, key)
    connection = http.client.HTTPSConnection(parts.hostname or "", parts.port or 8443,
                                             context=context, timeout=timeout_seconds)
    try:
        connection.request("GET", f"/backup?parallel={parallel}&replica={int(replica)}")
        response = connection.getresponse()
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        raise EndpointUnavailable(f"sidecar {url}: {type(exc).__name__}: {exc}") from None
    if response.status != 200:
        text = response.read().decode(errors="replace")[:500]
        connection.close()
        retry = response.getheader("Retry-After")
        raise EndpointUnavailable(
            f"sidecar {url}: HTTP {response.status}: {text}",
            retry_after_seconds=float(retry) if retry else None,
        )
    return BackupStream(connection, response, on_idle)
