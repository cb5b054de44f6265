"""Resolve credential references into secret values, inside the process that needs them.

This module owns the one place a :class:`CredentialRef` becomes a string. It must never log,
print or embed the value in an error message: errors name the reference (the variable or
file), never its content.
"""

from __future__ import annotations

import os
from pathlib import Path

from shardkeeper.contracts.common import CredentialRef
from shardkeeper.errors import SpecInvalid


def resolve(ref: CredentialRef) -> str:
    r"""Return the secret a reference points at.

    Args:
        ref: An ``env`` or ``file`` reference. ``secret`` references are resolved by the
            Kubernetes executor, which mounts them as files or variables for the agent.

    Returns:
        The secret; for files, the content with one trailing newline (``\n`` or ``\r\n``)
        removed.

    Raises:
        SpecInvalid: The variable is unset, the file is unreadable, or the reference is a
            Kubernetes Secret outside the Kubernetes executor.
    """
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if value is None:
            raise SpecInvalid(f"credential environment variable {ref.env!r} is not set")
        return value
    if ref.file is not None:
        try:
            content = Path(ref.file).read_text(encoding="utf-8")
        except OSError as exc:
            # strerror only: the exception text never includes file content.
            raise SpecInvalid(
                f"credential file {ref.file!r} cannot be read: {exc.strerror}"
            ) from None
        return content.removesuffix("\n").removesuffix("\r")
    if ref.secret is not None:
        raise SpecInvalid(
            f"credential reference to Kubernetes Secret {ref.secret.name!r} (key "
            f"{ref.secret.key!r}) needs the Kubernetes executor; use env or file locally"
        )
    raise SpecInvalid("credential reference sets none of env, file or secret")
