"""A Temporal client for any cluster: the standard envconfig, the pydantic converter.

``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, TLS settings and TOML
profiles are read exactly as the ``temporal`` CLI and other SDKs read them; explicit
arguments win; without anything the local dev server (127.0.0.1:7233) is assumed.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig
from temporalio.service import RPCError

from shardkeeper.errors import EndpointUnavailable

DEFAULT_ADDRESS = "127.0.0.1:7233"


async def connect(address: str | None = None, namespace: str | None = None) -> Client:
    """Connect to Temporal; raises EndpointUnavailable naming the address on failure."""
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    config.setdefault("target_host", DEFAULT_ADDRESS)
    if address:
        config["target_host"] = address
    if namespace:
        config["namespace"] = namespace
    target = config.pop("target_host")
    try:
        return await Client.connect(target, data_converter=pydantic_data_converter, **config)
    except (RuntimeError, RPCError) as err:
        raise EndpointUnavailable(f"cannot reach Temporal at {target}: {err}") from None
