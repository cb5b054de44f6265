"""Shared pieces of every document: the model base, metadata, names, references, durations."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, model_validator
from pydantic.alias_generators import to_camel

from shardkeeper import naming
from shardkeeper.errors import SpecInvalid

API_VERSION: Final = "shardkeeper.io/v1alpha1"


class SpecModel(BaseModel):
    """camelCase in YAML, snake_case in Python, unknown fields are errors (typos fail)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
    )


def user_name(kind: str) -> AfterValidator:
    """Field validator of a user name of ``kind`` (the grammar lives in ``naming``)."""

    def check(value: str) -> str:
        try:
            naming.check_user_name(kind, value)
        except SpecInvalid as err:
            raise ValueError(str(err)) from None  # pydantic then names the field
        return value

    return AfterValidator(check)


Name = Annotated[str, user_name("name")]
"""A Kubernetes object name (metadata names and references to them), at most 63 characters."""
StrategyName = Annotated[str, user_name("strategy")]
"""A strategy name: letters, digits, '-', '_', '.' (seed names such as 'customer-80-')."""
KeyspaceName = Annotated[str, user_name("keyspace")]
"""A Vitess keyspace name: lowercase letters, digits, '_' and '-'."""


class Metadata(SpecModel):
    """Kubernetes-style object metadata."""

    name: Name
    """Lowercase letters, digits, '-' and '.' (a Kubernetes object name), at most 63."""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


# --- Kubernetes object names (Secrets, namespaces, service accounts) and Secret keys. ------
_DNS_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.ASCII)
_DNS_SUBDOMAIN_RE = re.compile(
    r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*",
    re.ASCII,
)
_SECRET_KEY_RE = re.compile(r"[-._a-zA-Z0-9]{1,253}", re.ASCII)
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}", re.ASCII)
DNS_LABEL_FORM = "at most 63 lowercase letters, digits and '-', starting and ending with a " \
    "letter or digit (e.g. 'shardkeeper')"
DNS_SUBDOMAIN_FORM = "lowercase letters, digits, '-' and '.', starting and ending with a " \
    "letter or digit (a Kubernetes object name, e.g. 's3-credentials')"


def dns_label(kind: str) -> AfterValidator:
    """Field validator of a Kubernetes DNS-1123 label such as a namespace."""

    def check(value: str) -> str:
        if not _DNS_LABEL_RE.fullmatch(value):
            raise ValueError(f"invalid {kind} {value!r}: use {DNS_LABEL_FORM}")
        return value

    return AfterValidator(check)


def dns_subdomain(kind: str) -> AfterValidator:
    """Field validator of a Kubernetes object name (DNS-1123 subdomain) such as a Secret's."""

    def check(value: str) -> str:
        if not _DNS_SUBDOMAIN_RE.fullmatch(value) or ".." in value:
            raise ValueError(f"invalid {kind} {value!r}: use {DNS_SUBDOMAIN_FORM}")
        return value

    return AfterValidator(check)


# --- Host names: what reaches a client's option file or a URL's authority. ------------------
_HOST_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"(?=.{{1,253}}$){_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?", re.ASCII)


def is_host(value: str) -> bool:
    """Whether ``value`` is an IP address or a DNS name (labels of letters, digits, '-', '_')."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return bool(_HOSTNAME_RE.fullmatch(value))
    return True


# --- Paths on a host: absolute, no '.'/'..' segment, no control or invisible character and
# no character a shell gives a meaning to ($, `, ;, |, &, quotes, globs ...). Paths reach argv
# and filesystem calls only, so letters of any script and spaces (a home directory) are fine.
_PATH_PUNCTUATION = frozenset(" /._~@%+=,:-")
PATH_FORM = "an absolute path of letters, digits, spaces and '/', '-', '_', '.', '~', '@', " \
    "'%', '+', '=', ',' or ':' with no '.' or '..' segment"


def path_problem(value: str, *, show: bool = True) -> str | None:
    """Why ``value`` is not an acceptable absolute path, or None when it is.

    With ``show`` False the reason names no character of the value (it may be a secret).
    """
    if not value.startswith("/"):
        return "not an absolute path"
    if any(not c.isprintable() for c in value):
        return "control or invisible characters (line breaks, NUL, zero-width) are not allowed"
    bad = sorted({c for c in value if not (c.isalnum() or c in _PATH_PUNCTUATION)})
    if bad:
        return f"{' '.join(repr(c) for c in bad)} not allowed" if show else \
            "it holds characters that are not allowed"
    if any(part in (".", "..") for part in value.split("/")):
        return "a '.' or '..' segment is not allowed"
    return None


def absolute_path(kind: str, example: str) -> AfterValidator:
    """Field validator of an absolute path (a directory, a socket, a file)."""

    def check(value: str) -> str:
        problem = path_problem(value)
        if problem:
            raise ValueError(
                f"invalid {kind} {value!r}: {problem}; use {PATH_FORM} (e.g. {example})"
            )
        return value

    return AfterValidator(check)


# --- Object key prefixes: the part of every key above <cluster>/<keyspace>/<shard>/. -------
_PREFIX_SEGMENT_RE = re.compile(r"[A-Za-z0-9._-]+", re.ASCII)
MAX_PREFIX_LENGTH = 512
PREFIX_FORM = "segments of letters, digits, '-', '_' and '.' separated by '/', with no '.' or " \
    "'..' segment (e.g. 'backups' or 'prod/eu-1'); leading and trailing '/' are ignored"


def prefix_problem(value: str) -> str | None:
    """Why ``value`` is not an acceptable key prefix, or None when it is."""
    stripped = value.strip("/")
    if not stripped:
        return None  # no prefix: keys start at the cluster
    if len(value) > MAX_PREFIX_LENGTH:
        return f"it is {len(value)} characters long (at most {MAX_PREFIX_LENGTH})"
    if any(not c.isprintable() for c in value):
        return "control characters are not allowed"
    if not value.isascii():
        return "only ASCII characters are allowed (no look-alike letters)"
    if "\\" in value:
        return "'\\' is not allowed"
    parts = stripped.split("/")
    if any(part in (".", "..") for part in parts):
        return "a '.' or '..' segment would leave the prefix"
    if any(not part for part in parts):
        return "an empty segment ('//') is not allowed"
    bad = sorted({c for c in stripped if not _PREFIX_SEGMENT_RE.fullmatch(c)} - {"/"})
    if bad:
        return f"{' '.join(repr(c) for c in bad)} not allowed"
    return None


def _check_prefix(value: str) -> str:
    problem = prefix_problem(value)
    if problem:
        raise ValueError(f"invalid prefix {value!r}: {problem}; use {PREFIX_FORM}")
    return value


KeyPrefix = Annotated[str, AfterValidator(_check_prefix)]
"""The key prefix of a destination (``backups``, ``prod/eu-1``); never leaves the bucket."""


# --- Credentials: only ever by reference. Messages never show a value given in their place.
REFERENCE_FORMS = "{env: NAME}, {file: /absolute/path} or {secret: {name: NAME, key: KEY}}"
_NOT_SHOWN = "(the value is not shown: it may be a secret)"


def _selector(data: Any) -> Any:
    if data is not None and not isinstance(data, dict | BaseModel):
        raise ValueError(
            f"an inline value is not accepted {_NOT_SHOWN}; give a Kubernetes Secret key: "
            "{name: NAME, key: KEY}"
        )
    return data


class SecretKeySelector(SpecModel):
    """A key of a Kubernetes Secret."""

    name: str
    key: str

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        return _selector(data)

    @model_validator(mode="after")
    def _names(self) -> SecretKeySelector:
        if not _DNS_SUBDOMAIN_RE.fullmatch(self.name) or ".." in self.name:
            raise ValueError(f"invalid Secret name {self.name!r}: use {DNS_SUBDOMAIN_FORM}")
        if not _SECRET_KEY_RE.fullmatch(self.key):
            raise ValueError(
                f"invalid Secret key {self.key!r}: use at most 253 letters, digits, '-', '_' "
                "and '.' (e.g. 'secretAccessKey')"
            )
        return self


class ValueFrom(SpecModel):
    """Where a secret lives: exactly one of env, file or secret."""

    env: str | None = None
    file: str | None = None
    secret: SecretKeySelector | None = None

    @model_validator(mode="before")
    @classmethod
    def _reference(cls, data: Any) -> Any:
        if not isinstance(data, dict | BaseModel):
            raise ValueError(
                f"an inline value is not accepted {_NOT_SHOWN}; give a reference: "
                f"{REFERENCE_FORMS}"
            )
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> ValueFrom:
        if sum(v is not None for v in (self.env, self.file, self.secret)) != 1:
            raise ValueError("set exactly one of 'env', 'file' or 'secret'")
        if self.env is not None and not _ENV_NAME_RE.fullmatch(self.env):
            raise ValueError(
                f"'env' is not an environment variable name {_NOT_SHOWN}; use letters, digits "
                "and '_', not starting with a digit (e.g. SHARDKEEPER_S3_SECRET_KEY)"
            )
        problem = path_problem(self.file, show=False) if self.file is not None else None
        if problem:
            raise ValueError(
                f"'file' is not an acceptable path: {problem} {_NOT_SHOWN}; use {PATH_FORM} "
                "(e.g. /run/secrets/s3-secret-key)"
            )
        return self


# --- Numbers: YAML reads yes/no/on/off/true/false as booleans, and True is the integer 1.
def _not_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError(
            f"got a boolean ({str(value).lower()}), not a number (YAML reads yes, no, on and "
            "off as booleans)"
        )
    return value


NotBool = BeforeValidator(_not_bool)
"""Put before ``int`` so that ``keepLast: yes`` is an error, not 1."""
INT32_MAX: Final = 2**31 - 1
INT64_MAX: Final = 2**63 - 1

_DURATION_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", re.ASCII)
DURATION_EXAMPLES = "30m, 6h, 24h, 1h30m"
MAX_DURATION_SECONDS: Final = 366 * 86400
MAX_DURATION = "366d"
"""The longest duration a field takes (the longest period a schedule can have: @yearly)."""
_DURATION_MAX_CHARS = 64


def parse_duration(text: str, *, bounded: bool = True) -> int:
    """Seconds of a duration such as ``90m``, ``6h``, ``1h30m``, ``2d`` or ``45s``.

    Args:
        text: The duration as written (ASCII digits only).
        bounded: Refuse durations longer than :data:`MAX_DURATION` (False: the caller
            checks its own bound).

    Raises:
        ValueError: the text is not a non-negative duration with units d, h, m or s, or it
            is too long.
    """
    stripped = text.strip()
    m = _DURATION_RE.fullmatch(stripped) if len(stripped) <= _DURATION_MAX_CHARS else None
    if not stripped or not m or not any(m.groups()):
        sign = " (durations cannot be negative)" if stripped.startswith("-") else ""
        raise ValueError(
            f"invalid duration {text!r}{sign}: use a number with a unit d, h, m or s "
            f"(examples: {DURATION_EXAMPLES})"
        )
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    seconds = ((d * 24 + h) * 60 + mi) * 60 + s
    if bounded and seconds > MAX_DURATION_SECONDS:
        raise ValueError(
            f"invalid duration {text!r}: longer than {MAX_DURATION}, the longest accepted; "
            f"use a number with a unit d, h, m or s (examples: {DURATION_EXAMPLES})"
        )
    return seconds


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text


Duration = Annotated[str, AfterValidator(_check_duration)]
"""A duration string (``30m``, ``6h``, ``1h30m``); validated, kept as written."""
