"""Where backups go: an S3-compatible bucket and prefix (credentials by reference), or a
directory on a mounted volume."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, model_validator

from shardkeeper.spec.base import SpecModel, ValueFrom

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _bucket(value: str) -> str:
    if not _BUCKET_RE.match(value) or ".." in value:
        raise ValueError(
            f"invalid bucket name {value!r}: use 3 to 63 lowercase letters, digits, '.' and "
            "'-', starting and ending with a letter or digit (e.g. 'shardkeeper-backups')"
        )
    return value


def _endpoint(value: str) -> str:
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ValueError(
            f"invalid endpoint {value!r}: use an http:// or https:// URL with a host, "
            "e.g. http://127.0.0.1:8333 or https://s3.eu-central-1.amazonaws.com"
        )
    return value


class S3CredentialsSpec(SpecModel):
    """Access key pair by reference; omit to use the process's standard AWS chain."""

    access_key_id: ValueFrom
    secret_access_key: ValueFrom


class S3Spec(SpecModel):
    """An S3-compatible object store location."""

    bucket: Annotated[str, AfterValidator(_bucket)]
    prefix: str = ""
    endpoint: Annotated[str, AfterValidator(_endpoint)] | None = None
    region: str = "us-east-1"
    force_path_style: bool = False
    credentials: S3CredentialsSpec | None = None
    ca_bundle: str | None = None
    insecure_skip_verify: bool = False


def _absolute_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(
            f"invalid path {value!r}: use an absolute directory such as /var/backups/shardkeeper"
        )
    return value


class FilesystemSpec(SpecModel):
    """A directory (a mounted volume) holding backups in the object-store layout."""

    path: Annotated[str, AfterValidator(_absolute_path)]
    """Absolute directory; the agent creates it when missing."""
    prefix: str = ""


DESTINATION_KINDS = "'s3' (an S3-compatible bucket) or 'filesystem' (a directory path)"


class DestinationSpec(SpecModel):
    """Backup destination: exactly one of ``s3`` or ``filesystem``."""

    s3: S3Spec | None = None
    filesystem: FilesystemSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> DestinationSpec:
        kinds = [k for k in ("s3", "filesystem") if getattr(self, k) is not None]
        if len(kinds) != 1:
            got = "both" if kinds else "neither"
            raise ValueError(f"set exactly one of {DESTINATION_KINDS}; got {got}")
        return self
