"""The corpus: every file under bad_documents/ is rejected by ``plan`` with exit code 2 and a
message naming the file and the field (first line: ``# expect: <substring>``), no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fixtures.plan_app import plan_app

CORPUS = Path(__file__).parent / "bad_documents"
CLUSTER = CORPUS / "_cluster.yaml"
FILES = sorted(p for p in CORPUS.glob("*.yaml") if not p.name.startswith("_"))


def _expected(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} needs a '# expect: ' first line"
    return first.removeprefix("# expect: ")


def test_the_corpus_is_large_enough() -> None:
    assert len(FILES) >= 30


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_plan_rejects_bad_document(path: Path) -> None:
    result = CliRunner().invoke(plan_app(), ["plan", "-f", str(CLUSTER), "-f", str(path)])
    output = " ".join(result.output.split())  # rich wraps long lines
    assert result.exit_code == 2, result.output
    assert _expected(path) in output, result.output
    assert str(path) in result.output.replace("\n", ""), "the message names the file"
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
