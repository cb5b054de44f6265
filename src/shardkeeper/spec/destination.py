"""Where backups go: an S3-compatible bucket and prefix, credentials by reference."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from shardkeeper.spec.base import SpecModel, ValueFrom


class S3CredentialsSpec(SpecModel):
    """Access key pair by reference; omit to use the process's standard AWS chain."""

    access_key_id: ValueFrom
    secret_access_key: ValueFrom


class S3Spec(SpecModel):
    """An S3-compatible object store location."""

    bucket: Annotated[str, Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]+$")]
    prefix: str = ""
    endpoint: Annotated[str, Field(pattern=r"^https?://")] | None = None
    region: str = "us-east-1"
    force_path_style: bool = False
    credentials: S3CredentialsSpec | None = None
    ca_bundle: str | None = None
    insecure_skip_verify: bool = False


class DestinationSpec(SpecModel):
    """Backup destination (one kind for now: s3)."""

    s3: S3Spec
