"""Shared pieces of every document: the model base, metadata, names, references, durations."""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator
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


class SecretKeySelector(SpecModel):
    """A key of a Kubernetes Secret."""

    name: str
    key: str


class ValueFrom(SpecModel):
    """Where a secret lives: exactly one of env, file or secret."""

    env: str | None = None
    file: str | None = None
    secret: SecretKeySelector | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ValueFrom:
        if sum(v is not None for v in (self.env, self.file, self.secret)) != 1:
            raise ValueError("set exactly one of 'env', 'file' or 'secret'")
        return self


_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
DURATION_EXAMPLES = "30m, 6h, 24h, 1h30m"


def parse_duration(text: str) -> int:
    """Seconds of a duration such as ``90m``, ``6h``, ``1h30m``, ``2d`` or ``45s``.

    Raises:
        ValueError: the text is not a non-negative duration with units d, h, m or s.
    """
    stripped = text.strip()
    m = _DURATION_RE.match(stripped)
    if not stripped or not m or not any(m.groups()):
        sign = " (durations cannot be negative)" if stripped.startswith("-") else ""
        raise ValueError(
            f"invalid duration {text!r}{sign}: use a number with a unit d, h, m or s "
            f"(examples: {DURATION_EXAMPLES})"
        )
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text


Duration = Annotated[str, AfterValidator(_check_duration)]
"""A duration string (``30m``, ``6h``, ``1h30m``); validated, kept as written."""
