"""deploy/ manifests load into the official client's models: every field known, types right.

A model drops what it does not know, so each document is also serialized back and compared:
a typo'd field (``imagePullPolicys``) or a misplaced one shows up as a difference.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient

from shardkeeper.spec.load import load
from shardkeeper.spec.validate import check_references

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _prune(value: Any) -> Any:
    """Drop empty values (``{}``, ``[]``, None) that serialization may omit."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _model(document: dict[str, Any]) -> str:
    version = document["apiVersion"].rsplit("/", 1)[-1]
    return f"{version.capitalize()}{document['kind']}"


def round_trip(document: dict[str, Any], model: str | None = None) -> dict[str, Any]:
    """Load into the model named by apiVersion/kind and serialize it back."""
    client = ApiClient()
    loaded = client._ApiClient__deserialize(document, model or _model(document))  # type: ignore[attr-defined]
    result: dict[str, Any] = client.sanitize_for_serialization(loaded)
    return result


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _kustomized() -> list[dict[str, Any]]:
    out = subprocess.run(["kubectl", "kustomize", str(DEPLOY / "kubernetes")],
                         capture_output=True, text=True, timeout=60, check=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def test_the_kustomization_builds_every_manifest() -> None:
    kinds = sorted(d["kind"] for d in _kustomized())
    assert kinds == ["ConfigMap", "Deployment", "Role", "RoleBinding", "ServiceAccount",
                     "ServiceAccount"]
    assert {d["metadata"]["namespace"] for d in _kustomized()} == {"shardkeeper"}


@pytest.mark.parametrize("document", _kustomized(), ids=lambda d: d["kind"])
def test_each_manifest_matches_the_client_models(document: dict[str, Any]) -> None:
    assert _prune(round_trip(document)) == _prune(document)


def test_a_typo_is_caught_by_the_round_trip() -> None:
    deployment = next(d for d in _kustomized() if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["imagePullPolicys"] = container.pop("imagePullPolicy")
    assert _prune(round_trip(deployment)) != _prune(deployment)


def test_the_role_grants_no_secret_access_and_only_what_the_worker_uses() -> None:
    role = next(d for d in _kustomized() if d["kind"] == "Role")
    grants = {(g, r): set(rule["verbs"]) for rule in role["rules"]
              for g in rule["apiGroups"] for r in rule["resources"]}
    assert ("", "secrets") not in grants
    assert grants[("batch", "jobs")] == {"create", "get", "list", "watch", "patch", "delete"}
    assert grants[("", "pods/log")] == {"get"}
    assert all("*" not in verbs for verbs in grants.values())


def test_the_sidecar_patch_holds_a_valid_pod_template() -> None:
    (patch,) = _documents(DEPLOY / "examples" / "mariadb-sidecar-patch.yaml")
    template = patch["spec"]["template"]
    assert _prune(round_trip(template, "V1PodTemplateSpec")) == _prune(template)


def test_the_example_schedule_is_a_valid_kubernetes_schedule() -> None:
    specs = load([DEPLOY / "examples" / "cluster.yaml", DEPLOY / "examples" /
                  "backupschedule.yaml"])
    check_references(specs)
    (schedule,) = [s.resource for s in specs.schedules]
    assert schedule.spec.executor.kind == "kubernetes"  # type: ignore[attr-defined]
