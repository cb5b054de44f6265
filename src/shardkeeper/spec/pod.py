"""Where and how the backup job's pod runs: resources, placement and annotations.

Used by the Kubernetes executor; validated and stored now so a bad value is rejected when the
document is loaded. Shapes and rules follow the Kubernetes API (``ResourceRequirements``,
``Toleration``, ``Affinity``), with the same camelCase names, so a snippet copied from a pod
spec works here.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from shardkeeper.spec.base import INT64_MAX, NotBool, SpecModel

# <signedNumber><suffix>, suffix one of the binary SI, decimal SI or an exponent.
_QUANTITY_RE = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE]|[eE][+-]?\d+)?$")
_SUFFIX = {
    "": Decimal(1), "m": Decimal("0.001"), "k": Decimal(10) ** 3, "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18, "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
MAX_QUANTITY = Decimal(2**63 - 1)
"""Kubernetes refuses a quantity above 2^63-1 of its unit."""
_MAX_EXPONENT = 18
_MIN_EXPONENT = -999
_MAX_EXPONENT_CHARS = 5
RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_LABEL_KEY_RE = re.compile(rf"^({_DNS_SUBDOMAIN}/)?{_LABEL_NAME}$")
_LABEL_VALUE_RE = re.compile(rf"^({_LABEL_NAME})?$")


def quantity_value(text: str) -> Decimal:
    """The numeric value of a Kubernetes quantity such as ``500m``, ``2``, ``1.5Gi``, ``1e3``.

    Raises:
        ValueError: not a non-negative Kubernetes quantity.
    """
    m = _QUANTITY_RE.match(text)
    if not m:
        raise ValueError(
            f"invalid quantity {text!r}: use a Kubernetes quantity such as 500m, 2, 512Mi, 4Gi"
        )
    number, suffix = Decimal(m.group(1)), m.group(2) or ""
    if suffix in _SUFFIX:  # '', m, k ... E (exa), Ki ... Ei
        value = number * _SUFFIX[suffix]
    else:  # an exponent, read only when short: 1e999999999 would overflow Decimal
        exponent = int(suffix[1:]) if len(suffix) <= _MAX_EXPONENT_CHARS else (
            _MIN_EXPONENT if suffix[1] == "-" else _MAX_EXPONENT + 1)
        if exponent > _MAX_EXPONENT:
            raise ValueError(_too_large(text))
        value = number * Decimal(10) ** max(exponent, _MIN_EXPONENT)
    if value > MAX_QUANTITY:
        raise ValueError(_too_large(text))
    return value


def _too_large(text: str) -> str:
    return (f"invalid quantity {text!r}: larger than 2^63-1, the largest Kubernetes quantity; "
            "use e.g. 500m, 2, 512Mi, 4Gi")


def _quantity(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("use a Kubernetes quantity such as 500m, 2, 512Mi, 4Gi")
    if isinstance(value, int | float):  # YAML `cpu: 2` / `cpu: 0.5`
        value = str(value)
    if isinstance(value, str):
        quantity_value(value)
    return value


Quantity = Annotated[str, BeforeValidator(_quantity)]


def _resource_names(value: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(value) - set(RESOURCE_NAMES))
    if unknown:
        raise ValueError(
            f"unknown resource {', '.join(map(repr, unknown))}; accepted: "
            f"{', '.join(RESOURCE_NAMES)}"
        )
    return value


ResourceList = Annotated[dict[str, Quantity], AfterValidator(_resource_names)]


class ResourcesSpec(SpecModel):
    """Requests and limits of the backup job's container (Kubernetes quantities)."""

    requests: ResourceList = {}
    limits: ResourceList = {}

    @model_validator(mode="after")
    def _request_within_limit(self) -> ResourcesSpec:
        for name, request in self.requests.items():
            limit = self.limits.get(name)
            if limit is not None and quantity_value(request) > quantity_value(limit):
                raise ValueError(f"requests.{name} {request} is more than limits.{name} {limit}")
        return self


class TolerationSpec(SpecModel):
    """A Kubernetes toleration."""

    key: str | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: Annotated[
        int, NotBool, Field(ge=-INT64_MAX - 1, le=INT64_MAX)] | None = None
    """Only with effect NoExecute: how long the pod stays bound after the taint appears."""

    @model_validator(mode="after")
    def _rules(self) -> TolerationSpec:
        if self.operator == "Exists" and self.value:
            raise ValueError("operator 'Exists' takes no 'value'")
        if not self.key and self.operator != "Exists":
            raise ValueError("an empty 'key' needs operator 'Exists' (tolerates every taint)")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("'tolerationSeconds' needs effect 'NoExecute'")
        return self


SelectorOperator = Literal["In", "NotIn", "Exists", "DoesNotExist"]


class LabelSelectorRequirement(SpecModel):
    """``key operator values`` of a label selector."""

    key: str
    operator: SelectorOperator
    values: list[str] = []

    @model_validator(mode="after")
    def _values(self) -> LabelSelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator!r} needs 'values'")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator!r} takes no 'values'")
        return self


class NodeSelectorRequirement(SpecModel):
    """A node selector requirement (adds the numeric operators Gt and Lt)."""

    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] = []


class NodeSelectorTerm(SpecModel):
    """Requirements that must all match."""

    match_expressions: list[NodeSelectorRequirement] = []
    match_fields: list[NodeSelectorRequirement] = []


class NodeSelector(SpecModel):
    """Terms of which one must match."""

    node_selector_terms: Annotated[list[NodeSelectorTerm], Field(min_length=1)]


class PreferredSchedulingTerm(SpecModel):
    """A weighted node preference."""

    weight: Annotated[int, Field(ge=1, le=100)]
    preference: NodeSelectorTerm


class NodeAffinity(SpecModel):
    """Node affinity."""

    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] = []


class LabelSelector(SpecModel):
    """A Kubernetes label selector."""

    match_labels: dict[str, str] = {}
    match_expressions: list[LabelSelectorRequirement] = []


class PodAffinityTerm(SpecModel):
    """Pods (by label) near or away from which the job runs, per topology domain."""

    topology_key: Annotated[str, Field(min_length=1)]
    label_selector: LabelSelector | None = None
    namespaces: list[str] = []
    namespace_selector: LabelSelector | None = None


class WeightedPodAffinityTerm(SpecModel):
    """A weighted pod (anti-)affinity preference."""

    weight: Annotated[int, Field(ge=1, le=100)]
    pod_affinity_term: PodAffinityTerm


class PodAffinity(SpecModel):
    """Pod affinity or anti-affinity."""

    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] = []
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] = []


class AffinitySpec(SpecModel):
    """A Kubernetes affinity."""

    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAffinity | None = None


def _labels(kind: str, check_values: bool) -> AfterValidator:
    def check(value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            if not _LABEL_KEY_RE.match(key) or len(key) > 316:
                raise ValueError(
                    f"invalid {kind} key {key!r}: use an optional DNS prefix and a name of at "
                    "most 63 letters, digits, '-', '_' or '.' (e.g. 'example.com/backup')"
                )
            if check_values and not _LABEL_VALUE_RE.match(text):
                raise ValueError(
                    f"invalid {kind} value {text!r} for {key!r}: at most 63 letters, digits, "
                    "'-', '_' or '.', starting and ending with a letter or digit"
                )
        return value

    return AfterValidator(check)


NodeSelectorMap = Annotated[dict[str, str], _labels("nodeSelector", True)]
Annotations = Annotated[dict[str, str], _labels("annotation", False)]


class PodSettingsSpec(SpecModel):
    """Pod settings shared by BackupSchedule and Backup (Kubernetes executor)."""

    resources: ResourcesSpec | None = None
    affinity: AffinitySpec | None = None
    tolerations: list[TolerationSpec] = []
    node_selector: NodeSelectorMap = {}
    annotations: Annotations = {}
