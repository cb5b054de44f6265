"""Where backups go: an S3-compatible bucket and prefix, or a directory on a volume.

S3 credentials are given by reference, never inline.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, model_validator

from shardkeeper.spec.base import (
    REFERENCE_FORMS,
    KeyPrefix,
    SpecModel,
    ValueFrom,
    absolute_path,
    is_host,
    path_problem,
)

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _bucket(value: str) -> str:
    if not _BUCKET_RE.match(value) or ".." in value:
        raise ValueError(
            f"invalid bucket name {value!r}: use 3 to 63 lowercase letters, digits, '.' and "
            "'-', starting and ending with a letter or digit (e.g. 'shardkeeper-backups')"
        )
    return value


_URL_PATH_RE = re.compile(r"[A-Za-z0-9._~/-]*", re.ASCII)
ENDPOINT_FORM = "an http:// or https:// URL with a host and at most a plain path, e.g. " \
    "http://127.0.0.1:8333 or https://s3.eu-central-1.amazonaws.com"


def _endpoint(value: str) -> str:
    if "@" in value:
        # user:password@host: the value is never echoed, it holds a credential
        raise ValueError(
            "invalid endpoint: credentials in the URL are not accepted (the value is not shown: "
            "it may hold a secret); give them by reference in 'credentials' "
            f"(accessKeyId and secretAccessKey: {REFERENCE_FORMS})"
        )
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
        parts = urlsplit("")
    plain = value.isascii() and value.isprintable() and not {" ", "?", "#"} & set(value)
    if (parts.scheme not in ("http", "https") or not is_host(parts.hostname or "")
            or not port_ok or not plain or not _URL_PATH_RE.fullmatch(parts.path)):
        raise ValueError(f"invalid endpoint {value!r}: use {ENDPOINT_FORM}")
    return value


# botocore's own rule for region names; anything else would be refused by it at backup time
_REGION_RE = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?", re.ASCII)


def _region(value: str) -> str:
    if not _REGION_RE.fullmatch(value):
        raise ValueError(
            f"invalid region {value!r}: use at most 63 letters, digits and '-', starting and "
            "ending with a letter or digit (e.g. us-east-1 or eu-central-1)"
        )
    return value


# S3 storage classes whose objects read back at once. GLACIER and DEEP_ARCHIVE objects need a
# RestoreObject request (hours) before a GET, so the verification re-read of every backup, and
# any restore, would fail: they are refused, not passed through.
STORAGE_CLASSES = (
    "STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR",
    "REDUCED_REDUNDANCY",
)
_ARCHIVE_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
SERVER_SIDE_ENCRYPTION = ("AES256", "aws:kms")
SIGNATURE_VERSIONS = ("v4", "v2")


def _storage_class(value: str) -> str:
    accepted = ", ".join(STORAGE_CLASSES)
    if value in _ARCHIVE_CLASSES:
        raise ValueError(
            f"storage class {value!r} is an archive class: its objects cannot be read back "
            "without a restore request, so verification and restores would fail; "
            f"accepted: {accepted}"
        )
    if value not in STORAGE_CLASSES:
        raise ValueError(f"unknown storage class {value!r}; accepted: {accepted}")
    return value


def _kms_key_id(value: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise ValueError(
            f"invalid KMS key id {value!r}: use a key id, key ARN or alias such as "
            "alias/shardkeeper-backups (no spaces)"
        )
    return value


class S3CredentialsSpec(SpecModel):
    """Access key pair by reference; omit to use the process's standard AWS chain."""

    access_key_id: ValueFrom
    secret_access_key: ValueFrom

    @model_validator(mode="before")
    @classmethod
    def _references(cls, data: Any) -> Any:
        if not isinstance(data, dict | BaseModel):
            raise ValueError(
                "an inline value is not accepted (the value is not shown: it may be a secret); "
                f"set accessKeyId and secretAccessKey, each a reference: {REFERENCE_FORMS}"
            )
        return data


class S3Spec(SpecModel):
    """An S3-compatible object store location."""

    bucket: Annotated[str, AfterValidator(_bucket)]
    prefix: KeyPrefix = ""
    """Keys start with it: segments of letters, digits, '-', '_' and '.' (e.g. 'backups')."""
    endpoint: Annotated[str, AfterValidator(_endpoint)] | None = None
    region: Annotated[str, AfterValidator(_region)] = "us-east-1"
    force_path_style: bool = False
    credentials: S3CredentialsSpec | None = None
    ca_bundle: Annotated[
        str, absolute_path("caBundle", "/etc/ssl/certs/ca-certificates.crt")] | None = None
    insecure_skip_verify: bool = False
    server_side_encryption: Literal["AES256", "aws:kms"] | None = None
    """Server-side encryption of every object written: AES256 (SSE-S3) or aws:kms (SSE-KMS);
    unset: the bucket's default."""
    sse_kms_key_id: Annotated[str, AfterValidator(_kms_key_id)] | None = None
    """SSE-KMS key id, ARN or alias (needs serverSideEncryption aws:kms; unset: the account's
    aws/s3 key)."""
    storage_class: Annotated[str, AfterValidator(_storage_class)] | None = None
    """Storage class of the backup objects, e.g. STANDARD_IA; unset: the bucket's default."""
    signature_version: Literal["v4", "v2"] = "v4"
    """Request signing: v4 (SigV4), or v2 for old S3-compatible stores that only speak it."""

    @model_validator(mode="after")
    def _encryption_settings(self) -> S3Spec:
        if self.sse_kms_key_id is not None and self.server_side_encryption != "aws:kms":
            raise ValueError(
                "'sseKmsKeyId' needs serverSideEncryption 'aws:kms' (got "
                f"{self.server_side_encryption!r}); accepted serverSideEncryption: "
                f"{', '.join(SERVER_SIDE_ENCRYPTION)}"
            )
        if self.server_side_encryption == "aws:kms" and self.signature_version != "v4":
            raise ValueError(
                "serverSideEncryption 'aws:kms' needs signatureVersion 'v4' (S3 refuses "
                "SSE-KMS requests signed with v2); accepted signatureVersion: "
                f"{', '.join(SIGNATURE_VERSIONS)}"
            )
        return self


def _absolute_path(value: str) -> str:
    problem = path_problem(value)
    if problem == "not an absolute path":
        raise ValueError(
            f"invalid path {value!r}: use an absolute directory such as /var/backups/shardkeeper"
        )
    if problem:
        raise ValueError(
            f"invalid path {value!r}: {problem}; use an absolute directory such as "
            "/var/backups/shardkeeper (no '.' or '..' segment, no control or shell character)"
        )
    return value


class FilesystemSpec(SpecModel):
    """A directory (a mounted volume) holding backups in the object-store layout."""

    path: Annotated[str, AfterValidator(_absolute_path)]
    """Absolute directory; the agent creates it when missing."""
    prefix: KeyPrefix = ""
    """Subdirectory of ``path`` holding the backups; never leaves ``path``."""


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
