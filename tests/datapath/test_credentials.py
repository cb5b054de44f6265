"""Credential references resolve inside the process and never leak into messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from shardkeeper.contracts.common import CredentialRef, SecretKeyRef
from shardkeeper.datapath.credentials import resolve
from shardkeeper.errors import SpecInvalid


def test_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SK_UT_SECRET", "s3cr3t")
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    assert resolve(CredentialRef(env="SK_UT_SECRET")) == "s3cr3t"
    assert resolve(CredentialRef(file=str(secret))) == "from-file"


def test_missing_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SK_UT_MISSING", raising=False)
    with pytest.raises(SpecInvalid, match="SK_UT_MISSING"):
        resolve(CredentialRef(env="SK_UT_MISSING"))
    with pytest.raises(SpecInvalid, match="cannot be read"):
        resolve(CredentialRef(file=str(tmp_path / "absent")))


def test_kubernetes_secret_needs_the_kubernetes_executor() -> None:
    ref = CredentialRef(secret=SecretKeyRef(name="s3", key="secretKey"))
    with pytest.raises(SpecInvalid, match="Kubernetes executor"):
        resolve(ref)
