"""Job rendering and the executor spec, without a server."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes.client import ApiClient
from pydantic import ValidationError

from shardkeeper.activities.executor.base import JobSpec
from shardkeeper.activities.executor.render import (
    REQUEST_ANNOTATION,
    label_selector,
    label_value,
    pod_argv,
    render_job,
    rewrite_secret_refs,
)
from shardkeeper.contracts.common import ExecutorConfig
from shardkeeper.spec.executor import ExecutorSpec, executor_config

_VALID = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@given(st.text(max_size=80), st.text(max_size=80))
def test_label_values_are_valid_and_injective(a: str, b: str) -> None:
    assert _VALID.match(label_value(a)) and len(label_value(a)) <= 63
    if a != b:
        assert label_value(a) != label_value(b)


def test_shard_names_encode_readably() -> None:
    assert [label_value(s) for s in ("40-80", "0")] == ["40-80", "0"]
    assert label_value("-80").startswith("x80_") and label_value("80-").startswith("80x_")
    assert label_value("-80") != label_value("x80")
    assert f"shardkeeper.io/shard={label_value('-80')}" in label_selector(
        {"shardkeeper.io/shard": "-80"})


def test_secret_references_become_env_references() -> None:
    request = json.dumps({"a": {"env": None, "file": None,
                                "secret": {"name": "s3", "key": "id"}},
                          "b": {"env": "KEEP", "file": None, "secret": None}})
    text, refs = rewrite_secret_refs(request)
    data = json.loads(text)
    assert data["a"]["env"] in refs and refs[data["a"]["env"]].name == "s3"
    assert data["b"] == {"env": "KEEP", "file": None, "secret": None}


def test_the_job_spec_becomes_a_job() -> None:
    config = ExecutorConfig(kind="kubernetes", image="img", namespace="ns",
                            active_deadline_seconds=600, ttl_seconds_after_finished=60,
                            node_selector={"pool": "backup"},
                            tolerations=({"key": "backup", "operator": "Exists"},),
                            annotations={"team": "db"})
    job = ApiClient().sanitize_for_serialization(render_job(JobSpec(
        name="sk-a", argv=["/venv/bin/python", "-m", "shardkeeper", "agent", "backup"],
        request_json="{}", labels={"shardkeeper.io/shard": "-80"}), config))
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    assert (spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (600, 60)
    assert spec["backoffLimit"] == 0 and "podFailurePolicy" not in spec
    assert pod["containers"][0]["args"] == ["shardkeeper", "agent", "backup"]
    assert pod["restartPolicy"] == "Never" and pod["nodeSelector"] == {"pool": "backup"}
    assert pod["containers"][0]["terminationMessagePolicy"] == "FallbackToLogsOnError"
    annotations = job["spec"]["template"]["metadata"]["annotations"]
    assert annotations["team"] == "db" and annotations[REQUEST_ANNOTATION] == "{}"
    assert pod_argv(["sleep", "1"], ("shardkeeper",)) == ["sleep", "1"]


def test_the_executor_spec_checks_its_kind() -> None:
    with pytest.raises(ValidationError, match="needs 'image'"):
        ExecutorSpec.model_validate({"kind": "kubernetes"})
    with pytest.raises(ValidationError, match="only for kind 'kubernetes'"):
        ExecutorSpec.model_validate({"kind": "local", "namespace": "x"})
    spec = ExecutorSpec.model_validate({
        "kind": "kubernetes", "image": "i", "kubeconfig": "/k",
        "secretEnv": {"DB_PASSWORD": {"name": "db", "key": "password"}}})
    config = executor_config(spec, job_timeout_seconds=3600)
    assert config.kind == "kubernetes" and config.access.kubeconfig == "/k"
    assert config.active_deadline_seconds == 3600
    assert config.secret_env["DB_PASSWORD"].key == "password"
    assert executor_config(ExecutorSpec()) == ExecutorConfig()
