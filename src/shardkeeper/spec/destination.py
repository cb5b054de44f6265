"""Where backups go: an S3-compatible bucket and prefix, credentials by reference."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

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


class DestinationSpec(SpecModel):
    """Backup destination (one kind for now: s3)."""

    s3: S3Spec
