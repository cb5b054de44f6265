"""Hostile input that is generated rather than committed, and refused command lines.

Every case is refused by the offline ``plan`` command with exit code 2, a message naming the
file (and, where there is one, the document and the field), and no traceback: files too big to
commit, bytes that are not UTF-8 (``test_bad_documents`` reads its corpus as text), alias bombs
and nesting far beyond the limits, and ``plan`` invocations that are wrong before any document
is read. The corpus documents that give a credential inline are checked here never to echo it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from fixtures.plan_app import plan_app
from shardkeeper.errors import SpecInvalid
from shardkeeper.spec.load import load
from shardkeeper.spec.yaml_input import MAX_DEPTH, MAX_FILE_BYTES, MAX_VALUES

SPEC = Path(__file__).parent
CORPUS = SPEC / "bad_documents"
CLUSTER = CORPUS / "_cluster.yaml"
SEED_CLUSTER = SPEC / "seeds" / "_cluster.yaml"
SEED_SCHEDULE = SPEC / "seeds" / "000_frequency_cluster.yaml"
NOW = "2026-11-22T10:00:00Z"

SCHEDULE = """\
apiVersion: shardkeeper.io/v1alpha1
kind: BackupSchedule
metadata: {name: bad}
spec:
  cluster: demo
  frequency: 6h
  strategies:
    - {name: all, scope: Cluster}
  destination:
    s3: {bucket: shardkeeper-demo, endpoint: "http://127.0.0.1:8333"}
"""


def _plan(*args: str) -> Result:
    return CliRunner().invoke(plan_app(), ["plan", *args])


def _flat(result: Result) -> str:
    return " ".join(result.output.split())  # rich wraps long lines


def _refused(result: Result, *expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    for text in expected:
        assert text in _flat(result), result.output


def _refused_file(path: Path, *expected: str) -> None:
    result = _plan("-f", str(CLUSTER), "-f", str(path))
    _refused(result, *expected)
    assert str(path) in result.output.replace("\n", ""), "the message names the file"


# --- files too big to commit ---------------------------------------------------------------


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    filler = "# " + "x" * 1000 + "\n"
    path.write_text(SCHEDULE + filler * (MAX_FILE_BYTES // len(filler) + 2))
    assert path.stat().st_size > MAX_FILE_BYTES
    _refused_file(path, f"more than {MAX_FILE_BYTES} bytes (2 MiB), the most one file may hold; "
                        "split the documents over several files")


def test_a_huge_value_just_under_the_limit_is_refused_with_its_field(tmp_path: Path) -> None:
    path = tmp_path / "long-name.yaml"
    name = "a" * (MAX_FILE_BYTES - 4096)
    path.write_text(SCHEDULE.replace("{name: all,", f"{{name: {name},"))
    _refused_file(path, "spec.strategies[0].name: invalid strategy name 'aaaa",
                  f"...: it is {len(name)} characters long (at most 63)")
    assert len(_plan("-f", str(CLUSTER), "-f", str(path)).output) < 2000, "the value is cut"


def test_a_document_with_too_many_values_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    entries = "".join(f"    k{i}: v\n" for i in range(MAX_VALUES // 2 + 10))
    path.write_text(SCHEDULE.replace("metadata: {name: bad}\n",
                                     "metadata:\n  name: bad\n  annotations:\n" + entries))
    _refused_file(path, "document 1: metadata.annotations.",
                  f"it holds more than {MAX_VALUES} keys and values; split it into several "
                  "documents")


def test_a_thirty_level_billion_laughs_is_refused_at_once(tmp_path: Path) -> None:
    # 9**30 strings once expanded, in under 10 kB
    levels = "".join(f"    l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n"
                     for i in range(1, 31))
    path = tmp_path / "laughs.yaml"
    path.write_text(SCHEDULE.replace("spec:\n", "spec:\n  x: &l0 lol\n  bomb:\n" + levels, 1))
    _refused_file(path, "document 1: spec.bomb.l6[0]: its aliases expand it to more than "
                  f"{MAX_VALUES} keys and values (a 'billion laughs' document?)")


def test_an_alias_bomb_inside_a_name_is_refused_before_it_is_shown(tmp_path: Path) -> None:
    levels = "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n"
                     for i in range(1, 12))
    path = tmp_path / "name-bomb.yaml"
    path.write_text("l0: &l0 lol\n" + levels + "kind: *l11\nmetadata: {name: *l11}\n")
    _refused_file(path, "document 1: l", "its aliases expand it to more than")


@pytest.mark.parametrize("style", ["block", "flow-mapping", "flow-sequence"])
def test_nesting_thousands_of_levels_deep_is_refused(tmp_path: Path, style: str) -> None:
    depth = 10_000
    if style == "block":  # indentation grows with depth: 500 levels are 250 kB already
        depth = 500
        body = "".join("  " * i + "a:\n" for i in range(depth)) + "  " * depth + "b\n"
    elif style == "flow-mapping":
        body = "a: " + "{a: " * depth + "b" + "}" * depth + "\n"
    else:
        body = "a: " + "[" * depth + "]" * depth + "\n"
    path = tmp_path / f"deep-{style}.yaml"
    path.write_text(SCHEDULE + body)
    _refused_file(path, "document 1: ", f"nested more than {MAX_DEPTH} levels deep")


def test_nesting_just_within_the_limit_reaches_the_models(tmp_path: Path) -> None:
    path = tmp_path / "deep-ok.yaml"
    depth = MAX_DEPTH - 3  # the document, spec and annotations are levels too
    path.write_text(SCHEDULE.replace("spec:\n", "spec:\n  annotations: " + "{a: " * depth + "b"
                                     + "}" * depth + "\n", 1))
    _refused_file(path, "spec.annotations.a: Input should be a valid string")


# --- bytes that are not UTF-8 (and characters YAML refuses) --------------------------------


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("latin1-name", SCHEDULE.replace("name: bad", "name: caf\xe9").encode("latin-1"),
     "document 1: metadata.name: not UTF-8: byte 0xe9 at line 3, column 21 is not valid UTF-8; "
     "save the file as UTF-8, the only encoding accepted"),
    ("latin1-strategy", SCHEDULE.replace("{name: all,", "{name: gr\xfcn,").encode("latin-1"),
     "document 1: spec.strategies[0].name: not UTF-8: byte 0xfc at line 8, column 16"),
    ("utf16", SCHEDULE.encode("utf-16"),
     "not UTF-8: byte 0xff at line 1, column 1 is not valid UTF-8; the file is UTF-16 or UTF-32 "
     "(it starts with that byte order mark)"),
    ("in-a-comment", b"# r\xe9sum\xe9 of the schedule\n" + SCHEDULE.encode(),
     "not UTF-8: byte 0xe9 at line 1, column 4 is not valid UTF-8"),
    ("truncated-sequence", SCHEDULE.encode() + b"# \xe2\x82",
     "not UTF-8: byte 0xe2 at line 11, column 3"),
    ("overlong-slash", SCHEDULE.replace("name: bad", "name: a").encode() .replace(
        b"name: a}", b"name: a\xc0\xafb}"),
     "document 1: metadata.name: not UTF-8: byte 0xc0 at line 3, column 19"),
    ("nul-in-a-value", SCHEDULE.replace("frequency: 6h", "frequency: 6h\x00").encode(),
     "document 1: spec.frequency: character #x0000 at line 6, column 16 is a control character, "
     "which YAML does not accept"),
    ("escape-in-a-key", SCHEDULE.replace("  frequency:", "  freq\x1b[2Juency:").encode(),
     "document 1: spec: character #x001b at line 6, column 7 is a control character"),
])
def test_bytes_that_are_not_utf8_are_refused_with_their_position(
    tmp_path: Path, name: str, data: bytes, expected: str
) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(data)
    _refused_file(path, expected)


def test_a_utf8_byte_order_mark_and_crlf_line_ends_are_still_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + SEED_SCHEDULE.read_bytes().replace(b"\n", b"\r\n"))
    result = _plan("-f", str(SEED_CLUSTER), "-f", str(path), "--now", NOW, "-o", "json")
    assert result.exit_code == 0, result.output


# --- credentials given inline are never echoed ----------------------------------------------

INLINE = sorted(CORPUS.glob("inline_*.yaml"))
SECRET_MARKS = ("abcSECRET", "AKIAEXAMPLE", "YWJjU0VDUkVU", "1234567890123", "K7MDENG")


def test_the_inline_credential_documents_exist() -> None:
    assert len(INLINE) >= 10


@pytest.mark.parametrize("path", INLINE, ids=[p.stem for p in INLINE])
def test_an_inline_credential_is_refused_without_echoing_it(path: Path) -> None:
    marks = [m for m in SECRET_MARKS if m in path.read_text()]
    assert marks, f"{path.name} holds one of the secret marks {SECRET_MARKS}"
    result = _plan("-f", str(CLUSTER), "-f", str(path))
    _refused(result, "(the value is not shown")
    for mark in marks:
        assert mark not in result.output, "the message echoes the secret"


def test_several_inline_credentials_in_one_run_echo_none(tmp_path: Path) -> None:
    result = _plan("-f", str(CLUSTER), *(a for p in INLINE for a in ("-f", str(p))))
    _refused(result)
    assert not [m for m in SECRET_MARKS if m in result.output]


# --- reasonable YAML still reaches the models ------------------------------------------------


def test_anchors_aliases_and_merge_keys_within_limits_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text("""\
# comments, an empty document, anchors, aliases and a merge key
---
---
apiVersion: shardkeeper.io/v1alpha1
kind: BackupSchedule
metadata:
  name: daily-backup
  annotations: &notes {owner: dba-team, note: "sauvegarde quotidienne, équipe DBA"}
spec:
  cluster: example
  frequency: 24h
  strategies:
    - &all {name: all-shards, scope: Cluster}
  annotations: *notes
  destination:
    filesystem: &fs {path: /backup, prefix: /dumps/}
  executor:
    <<: {kind: kubernetes, namespace: shardkeeper}
    image: ghcr.io/shardkeeper/shardkeeper:0.1.0
    kubeconfig: ~/.kube/config
""")
    result = _plan("-f", str(SEED_CLUSTER), "-f", str(path), "--now", NOW, "-o", "json")
    assert result.exit_code == 0, result.output


def test_paths_with_spaces_and_letters_of_any_script_are_accepted(tmp_path: Path) -> None:
    # paths reach argv and filesystem calls only: a home directory may hold both
    path = tmp_path / "paths.yaml"
    path.write_text(SEED_SCHEDULE.read_text().replace(
        "{filesystem: {path: /backup}}", "{filesystem: {path: '/mnt/Sauvegardes été/db'}}"))
    assert "Sauvegardes" in path.read_text()
    result = _plan("-f", str(SEED_CLUSTER), "-f", str(path), "--now", NOW, "-o", "json")
    assert result.exit_code == 0, result.output


# --- command lines refused before any document is read -------------------------------------


def test_plan_of_a_file_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    _refused(_plan("-f", str(missing)), f"{missing}: no such file or directory")


def test_plan_of_a_directory_without_yaml_files(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("not a document\n")
    _refused(_plan("-f", str(tmp_path)), f"no YAML files found in {tmp_path}")


def test_plan_of_files_without_documents(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("# only a comment\n")
    (tmp_path / "b.yml").write_text("---\n---\n...\n")
    _refused(_plan("-f", str(tmp_path)), "no documents in",
             "the files are empty or hold only comments; expected documents with apiVersion, "
             "kind, metadata and spec (kinds: Cluster, BackupSchedule, Backup)")


def test_plan_of_dev_null() -> None:
    _refused(_plan("-f", "/dev/null"), "no documents in /dev/null")


def test_plan_of_an_endless_device_reads_no_more_than_the_limit() -> None:
    _refused(_plan("-f", "/dev/zero"), f"/dev/zero: more than {MAX_FILE_BYTES} bytes")


def test_plan_of_a_directory_named_like_a_yaml_file(tmp_path: Path) -> None:
    (tmp_path / "schedules.yaml").mkdir()
    _refused(_plan("-f", str(tmp_path)), f"{tmp_path / 'schedules.yaml'}: cannot read: Is a "
             "directory")


def test_plan_of_the_same_cluster_file_twice() -> None:
    _refused(_plan("-f", str(CLUSTER), "-f", str(CLUSTER)),
             f"{CLUSTER}: document 1 (Cluster/demo): cluster defined twice")


def _loads(path: Path) -> bool:
    try:
        load([CLUSTER, path])
    except SpecInvalid:
        return False
    return True


def test_plan_of_the_whole_corpus_at_once_lists_every_file_it_cannot_load() -> None:
    # errors are collected over all files; references are checked once every file loaded, so
    # the corpus files whose problem is a reference (an unknown cluster ...) are not listed
    result = _plan("-f", str(CORPUS))
    _refused(result, "error (SpecInvalid)")
    text = result.output.replace("\n", "")
    missing = [p for p in sorted(CORPUS.glob("[!_]*.yaml")) if str(p) not in text]
    assert [p.name for p in missing if not _loads(p)] == []
    assert len(missing) < 10


@pytest.mark.parametrize(("args", "expected"), [
    (["-o", "xml"], "Invalid value for '--output' / '-o'"),
    (["-o", "JSON;id"], "Invalid value for '--output' / '-o'"),
    (["--count", "-1"], "Invalid value for '--count'"),
    (["--count", "1001"], "Invalid value for '--count'"),
    (["--count", str(10**30)], "Invalid value for '--count'"),
    (["--count", "three"], "Invalid value for '--count'"),
    (["--bogus"], "No such option: --bogus"),
])
def test_plan_options_with_values_it_does_not_take(args: list[str], expected: str) -> None:
    _refused(_plan("-f", str(SEED_CLUSTER), *args), expected)


def test_plan_without_any_file() -> None:
    _refused(_plan(), "Missing option '--filename' / '-f'")


@pytest.mark.parametrize("now", [
    "yesterday", "2026-11-22T10:00:00", "2026-13-01T00:00:00Z", "$(date)", "",
])
def test_plan_now_that_is_not_an_rfc3339_time_with_an_offset(now: str) -> None:
    _refused(_plan("-f", str(SEED_CLUSTER), "-f", str(SEED_SCHEDULE), "--now", now),
             f"--now: {now!r} is not an RFC 3339 time with an offset")


@pytest.mark.parametrize("now", ["9999-12-31T23:59:00+00:00", "0001-01-01T00:00:00+00:00"])
def test_plan_now_at_the_edge_of_the_calendar(now: str) -> None:
    _refused(_plan("-f", str(SEED_CLUSTER), "-f", str(SEED_SCHEDULE), "--now", now), "--now")
