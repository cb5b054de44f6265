"""The cross-language API: stable names, documented schemas, plain snake_case JSON."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from temporalio import activity, workflow

from shardkeeper.contracts import agent, backup, budget, common, manifest, names, restore
from shardkeeper.contracts.backup import BackupRunInput
from shardkeeper.contracts.base import Contract
from shardkeeper.contracts.schema import PUBLIC_MODELS, schemas
from shardkeeper.worker.registry import WORKFLOWS, activities

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reference"


def test_registered_names_are_the_documented_constants(tmp_path: Path) -> None:
    workflow_names = {workflow._Definition.must_from_class(w).name for w in WORKFLOWS}
    assert {names.BACKUP_RUN, names.SHARD_BACKUP, names.RESTORE,
            names.SHARD_RESTORE} <= workflow_names
    activity_names = {activity._Definition.must_from_callable(a).name
                      for a in activities(tmp_path)}
    constants = {v for k, v in vars(names).items()
                 if k.isupper() and not k.startswith("SIGNAL_")
                 and isinstance(v, str) and v.islower() and "_" in v}
    assert activity_names == constants


def test_generated_schemas_match_docs() -> None:
    for name, text in schemas().items():
        path = DOCS / name
        assert path.exists(), f"run: python -m shardkeeper.contracts.schema docs/reference ({name})"
        assert path.read_text() == text, f"{name} drifted; regenerate docs/reference"


def test_wire_fields_are_snake_case_without_aliases() -> None:
    for model in PUBLIC_MODELS:
        for field_name, field in model.model_fields.items():
            assert field.alias in (None, field_name), (model.__name__, field_name)
            assert field_name == field_name.lower(), (model.__name__, field_name)


def test_a_foreign_json_payload_validates() -> None:
    """What a Node.js or Go client would send from the documented schema alone."""
    payload = json.loads("""{
      "cluster": "demo", "schedule": "manual",
      "topology_source": {"kind": "file", "cluster": "demo", "path": "/etc/sk/cluster.yaml"},
      "strategies": [{"name": "all", "scope": "Cluster"}],
      "policy": {"destination": {"bucket": "backups", "endpoint": "http://127.0.0.1:8333",
                                 "force_path_style": true,
                                 "credentials": {"access_key_id": {"env": "AK"},
                                                 "secret_access_key": {"env": "SK"}}}},
      "stagger_window_seconds": 0,
      "some_future_field": 1
    }""")
    inp = BackupRunInput.model_validate(payload)
    assert inp.policy.destination.credentials is not None
    assert inp.policy.destination.credentials.secret_access_key.env == "SK"


def test_every_published_property_is_described() -> None:
    """Foreign clients read the schemas alone: every field says what it means (its docstring)."""
    undescribed = []
    for name, text in schemas().items():
        schema = json.loads(text)
        owners = [(name, schema), *((f"{name}#{d}", s) for d, s in schema.get("$defs", {}).items())]
        for owner, model in owners:
            undescribed += [f"{owner}.{prop}" for prop, spec in model.get("properties", {}).items()
                            if not spec.get("description")]
    assert not undescribed, f"add an attribute docstring under: {undescribed}"


def test_every_contract_field_has_a_docstring() -> None:
    """Activity and internal contracts too: the wire is the wire, whoever reads it."""
    undocumented = [
        f"{module.__name__}.{cls.__name__}.{field}"
        for module in (agent, backup, budget, common, manifest, restore)
        for cls in vars(module).values()
        if inspect.isclass(cls) and issubclass(cls, Contract) and cls.__module__ == module.__name__
        for field, info in cls.model_fields.items() if not info.description
    ]
    assert not undocumented, f"add an attribute docstring under: {undocumented}"
