"""YAML files to resources. Every error names the file, the document and the field path.

Several documents per file (``---``) and whole directories (``*.yaml``/``*.yml``, sorted)
are accepted. Errors are collected, not stopped at the first, so one run shows them all.
Files are read by ``yaml_input``, which refuses hostile YAML (alias bombs, deep nesting,
duplicate keys, non-UTF-8 bytes, files over 2 MiB) before any document is validated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from shardkeeper.errors import SpecInvalid
from shardkeeper.spec.backup import Backup
from shardkeeper.spec.cluster import Cluster
from shardkeeper.spec.schedule import BackupSchedule
from shardkeeper.spec.yaml_input import read_documents

KINDS: dict[str, type[BaseModel]] = {
    "Cluster": Cluster,
    "BackupSchedule": BackupSchedule,
    "Backup": Backup,
}
Resource = Cluster | BackupSchedule | Backup
MAX_PROBLEMS_SHOWN = 25
"""Problems listed per document; a document with more says how many it left out."""
_SHOWN_NAME = 63
_SHOWN_VALUE = 80


@dataclass(frozen=True)
class Loaded:
    """A validated document and where it came from."""

    resource: Resource
    path: Path
    index: int

    @property
    def where(self) -> str:
        """``file: document N (Kind/name)`` for messages."""
        r = self.resource
        return f"{self.path}: document {self.index} ({r.kind}/{r.metadata.name})"


@dataclass
class SpecSet:
    """Every document loaded from a set of files."""

    clusters: dict[str, Loaded] = field(default_factory=dict)
    schedules: list[Loaded] = field(default_factory=list)
    backups: list[Loaded] = field(default_factory=list)


def _files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.suffix in (".yaml", ".yml")))
        elif p.exists():
            out.append(p)
        else:
            raise SpecInvalid(f"{p}: no such file or directory")
    if not out:
        raise SpecInvalid(f"no YAML files found in {', '.join(map(str, paths))}")
    return out


def _format_loc(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.startswith(("function-", "literal[", "constrained-str")):
            continue  # union/validator branch names say nothing to a person
        else:
            text += f".{part}" if text else part
    return text or "(document)"


def _shown(value: object, limit: int = _SHOWN_NAME) -> str:
    """``repr`` of a value from a document, cut short (a message never holds a whole bomb)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _format_validation(where: str, err: ValidationError) -> list[str]:
    lines = []
    for e in err.errors(include_url=False):
        msg = e["msg"].removeprefix("Value error, ")
        value = e.get("input")
        if isinstance(value, str) and len(value) > _SHOWN_VALUE:
            msg = msg.replace(repr(value), _shown(value, _SHOWN_VALUE))  # a 2 MiB name
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; unknown fields are rejected)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif e["type"].startswith("literal_error") and "input" in e:
            msg = f"{msg} (got {_shown(e['input'])})"
        lines.append(f"{where}: {_format_loc(tuple(e['loc']))}: {msg}")
    if len(lines) > MAX_PROBLEMS_SHOWN:
        left = len(lines) - MAX_PROBLEMS_SHOWN
        lines = [*lines[:MAX_PROBLEMS_SHOWN], f"{where}: ... and {left} more problems"]
    return lines


def _label(kind: str, name: object) -> str:
    """``(Kind/name)`` for messages; a name that is not plain text is shown quoted."""
    if not isinstance(name, str) or not name:
        return f"({kind})"
    plain = name.isascii() and name.isprintable() and len(name) <= _SHOWN_NAME
    return f"({kind}/{name if plain else _shown(name)})"


def parse_document(doc: Any, where: str) -> tuple[Resource | None, list[str]]:
    """Validate one decoded YAML document; returns the resource or the error lines."""
    if not isinstance(doc, dict):
        return None, [f"{where}: expected a mapping with apiVersion, kind, metadata and spec"]
    kind = doc.get("kind")
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        accepted = ", ".join(KINDS)
        return None, [f"{where}: kind: unknown kind {_shown(kind)}; accepted: {accepted}"]
    name = doc.get("metadata", {}).get("name") if isinstance(doc.get("metadata"), dict) else None
    where = f"{where} {_label(str(kind), name)}"
    try:
        resource = model.model_validate(doc)
    except ValidationError as err:
        return None, _format_validation(where, err)
    if not isinstance(resource, Resource):  # pragma: no cover - KINDS is closed
        return None, [f"{where}: unsupported kind"]
    return resource, []


def _same_schedule(a: BackupSchedule, b: Resource) -> bool:
    # one Temporal Schedule id per (cluster, name): a second document would overwrite the first
    return isinstance(b, BackupSchedule) and (a.spec.cluster, a.metadata.name) == (
        b.spec.cluster, b.metadata.name)


def load(paths: list[Path]) -> SpecSet:
    """Load and validate every document in ``paths`` (files or directories).

    Raises:
        SpecInvalid: with one line per problem, each naming file, document and field.
    """
    errors: list[str] = []
    result = SpecSet()
    files = _files(paths)
    found = 0
    for path in files:
        try:
            docs = read_documents(path)
        except SpecInvalid as exc:
            errors.append(str(exc))
            found += 1  # the file holds something, if only something unreadable
            continue
        found += len(docs)
        for index, doc in enumerate(docs):
            resource, problems = parse_document(doc, f"{path}: document {index + 1}")
            errors.extend(problems)
            if resource is None:
                continue
            loaded = Loaded(resource, path, index + 1)
            if isinstance(resource, Cluster):
                if resource.metadata.name in result.clusters:
                    errors.append(f"{loaded.where}: cluster defined twice")
                result.clusters[resource.metadata.name] = loaded
            elif isinstance(resource, BackupSchedule):
                if any(_same_schedule(resource, x.resource) for x in result.schedules):
                    errors.append(f"{loaded.where}: schedule defined twice for cluster "
                                  f"{resource.spec.cluster!r}")
                result.schedules.append(loaded)
            else:
                result.backups.append(loaded)
    if not found:
        raise SpecInvalid(
            f"no documents in {', '.join(map(str, files))}: the files are empty or hold only "
            "comments; expected documents with apiVersion, kind, metadata and spec "
            f"(kinds: {', '.join(KINDS)})"
        )
    if errors:
        raise SpecInvalid("\n".join(errors))
    return result
