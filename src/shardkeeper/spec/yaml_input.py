"""Reading YAML from files nobody vetted: bounded in size, depth and alias expansion.

The safe loader builds no Python objects, but a small file can still be hostile: aliases
that expand to billions of values (a "billion laughs" document), nesting deep enough to
overflow the stack, duplicate keys (YAML silently keeps the last one), integers too long to
convert, dates that do not exist, tags naming Python objects, bytes that are not UTF-8. A
first pass over the parser's events refuses each of them with the file, the document, the
field path and the line; only then are the documents built (by libyaml when available).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from shardkeeper.errors import SpecInvalid

MAX_FILE_BYTES: Final = 2 * 1024 * 1024
"""The most one file may hold (2 MiB): far above any real set of documents."""
MAX_DEPTH: Final = 64
"""Nesting levels of mappings and lists, aliases expanded (a document needs about a dozen)."""
MAX_VALUES: Final = 100_000
"""Keys, values and items of one document, every alias counted as what it expands to."""
MAX_INT_DIGITS: Final = 40
"""Longest integer literal read as a number (no field takes one near that long)."""

_LOADER: Final[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER: Final[Any] = Resolver()
_CONSTRUCTOR: Final = SafeConstructor()
_SAFE_TAGS: Final = frozenset(t for t in yaml.SafeLoader.yaml_constructors if t is not None)
_INT_TAG: Final = "tag:yaml.org,2002:int"
_NULL_TAG: Final = "tag:yaml.org,2002:null"
_TIMESTAMP_TAG: Final = "tag:yaml.org,2002:timestamp"
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]{1,63}")
_UTF16_32_BOMS: Final = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
_PATH_SHOWN: Final = 100
# What YAML 1.1 refuses to read (raw control characters): found first, so that the message
# can name the field holding one
_UNREADABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_PLACEHOLDER = "\ufffd"


class _Refused(Exception):
    """One problem of one document: where it is and what it is."""

    def __init__(self, document: int, path: str, mark: Any, problem: str) -> None:
        self.document, self.path, self.problem = document, path, problem
        self.at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        super().__init__(problem)

    def message(self, file: Path) -> str:
        path = self.path or "(document)"
        if len(path) > _PATH_SHOWN:
            path = f"{path[:_PATH_SHOWN // 2]}...{path[-_PATH_SHOWN // 2:]}"
        return f"{file}: document {self.document}: {path}: {self.problem}{self.at}"


@dataclass
class _Collection:
    """An open mapping or list while its events are read."""

    is_map: bool
    path: str
    anchor: str | None
    values: int = 1
    height: int = 1
    index: int = 0
    key: str = "?"
    reading_key: bool = True
    keys: dict[tuple[str, str], int] = field(default_factory=dict)


def _key_text(value: str) -> str:
    return value if _PLAIN_KEY.fullmatch(value) else _short(value)


def _short(value: object, limit: int = 40) -> str:
    """``repr`` of a value cut to ``limit`` characters (messages never hold a whole bomb)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _place(parent: _Collection | None) -> tuple[str, bool]:
    """The field path of the next node under ``parent``, and whether it is a mapping key."""
    if parent is None:
        return "", False
    if not parent.is_map:
        return f"{parent.path}[{parent.index}]", False
    if parent.reading_key:
        return parent.path, True
    return (f"{parent.path}.{parent.key}" if parent.path else parent.key), False


def _finish(parent: _Collection | None, values: int, height: int) -> None:
    """Account a complete node to its parent and move the parent to its next slot."""
    if parent is None:
        return
    parent.values += values
    parent.height = max(parent.height, height + 1)
    if not parent.is_map:
        parent.index += 1
    elif parent.reading_key:
        parent.reading_key = False
    else:
        parent.reading_key, parent.key = True, "?"


def _too_deep(aliased: bool) -> str:
    expanded = " once its aliases are expanded" if aliased else ""
    return (f"nested more than {MAX_DEPTH} levels deep{expanded}; shardkeeper documents need "
            "about a dozen levels: write the structure out flat")


def _scalar_tag(event: yaml.ScalarEvent) -> str:
    if event.tag is not None and event.tag != "!":
        return event.tag
    return str(_RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit))


@dataclass
class _Scan:
    """The checks of one file's event stream."""

    bad_char: str | None = None
    """With a byte that is not UTF-8 or a character YAML refuses, replaced by U+FFFD: what to
    say about it, where a value holds the replacement."""
    documents: int = 0
    """Non-empty documents read so far (documents are numbered as the loader numbers them)."""
    stack: list[_Collection] = field(default_factory=list)
    anchors: dict[str, tuple[int, int]] = field(default_factory=dict)
    total: int = 0
    aliased: bool = False
    empty: bool = True

    def refuse(self, path: str, mark: Any, problem: str) -> _Refused:
        return _Refused(self.documents + 1, path, mark, problem)

    def run(self, text: str) -> None:
        try:
            self.events(text)
        except yaml.MarkedYAMLError as exc:
            if "nesting depth" not in str(exc.problem):
                raise
            # libyaml stops at 1000 levels of flow nesting while scanning ahead of the events
            path = self.stack[-1].path if self.stack else ""
            raise self.refuse(path, exc.problem_mark, _too_deep(self.aliased)) from None

    def events(self, text: str) -> None:
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.DocumentStartEvent):
                self.stack, self.anchors, self.total = [], {}, 0
                self.aliased, self.empty = False, True
            elif isinstance(event, yaml.DocumentEndEvent):
                self.documents += 0 if self.empty else 1
            elif isinstance(event, yaml.CollectionEndEvent):
                done = self.stack.pop()
                if done.anchor is not None:
                    self.anchors[done.anchor] = (done.values, done.height)
                _finish(self.stack[-1] if self.stack else None, done.values, done.height)
            elif isinstance(event, yaml.NodeEvent):
                self.node(event)

    def count(self, path: str, mark: Any, values: int, height: int) -> None:
        self.total += values
        if len(self.stack) + height > MAX_DEPTH:
            raise self.refuse(path, mark, _too_deep(self.aliased or height > 1))
        if self.total <= MAX_VALUES:
            return
        if self.aliased:
            raise self.refuse(path, mark, (
                f"its aliases expand it to more than {MAX_VALUES} keys and values (a 'billion "
                "laughs' document?); write the values out instead of nesting aliases"))
        raise self.refuse(path, mark, (
            f"it holds more than {MAX_VALUES} keys and values; split it into several documents"))

    def node(self, event: yaml.NodeEvent) -> None:
        parent = self.stack[-1] if self.stack else None
        path, is_key = _place(parent)
        mark: Any = event.start_mark
        if parent is None:
            self.empty = False
        if isinstance(event, yaml.CollectionStartEvent):
            self.tag_allowed(event, path, mark)
            self.count(path, mark, 1, 1)
            if parent is not None and is_key:
                parent.key = "?"  # a list or mapping as a key: no name to show
            self.stack.append(_Collection(
                isinstance(event, yaml.MappingStartEvent), path, event.anchor))
            return
        if isinstance(event, yaml.AliasEvent):
            anchor = str(event.anchor)
            if any(c.anchor == anchor for c in self.stack):
                raise self.refuse(path, mark, (
                    f"alias *{anchor} refers to a mapping or list that contains it (a "
                    "recursive structure); write the value out"))
            values, height = self.anchors.get(anchor, (1, 1))  # unknown: the loader says so
            self.aliased = self.aliased or values > 1
            identity, display = ("alias", anchor), f"*{anchor}"
            quoted = display
        elif isinstance(event, yaml.ScalarEvent):
            tag = self.scalar(event, path, mark)
            if parent is None and tag == _NULL_TAG:
                self.empty = True  # the loader skips a document that is only null
            if event.anchor is not None:
                self.anchors[event.anchor] = (1, 1)
            values, height = 1, 1
            identity, display = (tag, event.value), _key_text(event.value)
            quoted = _short(event.value)
        else:  # pragma: no cover - every node event is one of the three
            return
        self.count(path, mark, values, height)
        if parent is not None and is_key:
            first = parent.keys.get(identity)
            if first is not None:
                where = f"{path}.{display}" if path else display
                raise self.refuse(where, mark, (
                    f"duplicate key {quoted} (first at line {first}); YAML would keep only "
                    "the last one, so each key may appear once in a mapping"))
            parent.keys[identity] = mark.line + 1
            parent.key = display
        _finish(parent, values, height)

    def tag_allowed(self, event: yaml.NodeEvent, path: str, mark: Any) -> None:
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!" and tag not in _SAFE_TAGS:
            raise self.refuse(path, mark, (
                f"tag {_short(tag, 80)} is not accepted; use plain YAML values (strings, "
                "numbers, booleans, null, lists and mappings)"))

    def scalar(self, event: yaml.ScalarEvent, path: str, mark: Any) -> str:
        self.tag_allowed(event, path, mark)
        value = event.value
        if self.bad_char is not None and _PLACEHOLDER in value:
            raise self.refuse(path, None, self.bad_char)  # it says its own line and column
        tag = _scalar_tag(event)
        if tag == _INT_TAG:
            digits = len(value.replace("_", "").lstrip("+-"))
            if digits > MAX_INT_DIGITS:
                raise self.refuse(path, mark, (
                    f"an integer {digits} digits long is out of range of every field (at most "
                    f"{MAX_INT_DIGITS} digits are read as a number)"))
        elif tag == _TIMESTAMP_TAG:
            try:
                _CONSTRUCTOR.construct_yaml_timestamp(yaml.ScalarNode(tag, value))
            except (ValueError, OverflowError) as exc:
                raise self.refuse(path, mark, (
                    f"{_short(value)} reads as a date but is not a valid one ({exc}); quote it "
                    "to make it a string")) from None
        return tag


def _line_column(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of ``position`` in ``text``."""
    return (text.count("\n", 0, position) + 1,
            position - (text.rfind("\n", 0, position) + 1) + 1)


def _malformed(file: Path, exc: yaml.YAMLError, text: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    position = getattr(exc, "position", None)  # a reader error: a character YAML refuses
    if not at and isinstance(position, int):
        at = " at line {}, column {}".format(*_line_column(text, position))
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{file}: malformed YAML{at}: {problem}"


def _decode(data: bytes) -> tuple[str, str | None]:
    """The text of ``data``, and what to say about its first bad byte or character, if any.

    A byte that is not UTF-8, or a character YAML refuses, is replaced by U+FFFD (every one
    of them) so that the event scan can name the field that holds the first.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1  # in bytes
        hint = ("the file is UTF-16 or UTF-32 (it starts with that byte order mark); "
                if data.startswith(_UTF16_32_BOMS) else "")
        problem = (f"not UTF-8: byte 0x{data[exc.start]:02x} at line {line}, column {column} "
                   f"is not valid UTF-8; {hint}save the file as UTF-8, the only encoding accepted")
        text = _UNREADABLE.sub(_PLACEHOLDER, data.decode("utf-8", errors="replace"))
        return text, problem
    found = _UNREADABLE.search(text)
    if found is None:
        return text, None
    line, column = _line_column(text, found.start())
    problem = (f"character #x{ord(found.group()):04x} at line {line}, column {column} is a "
               "control character, which YAML does not accept; remove it (a name or a value "
               "never needs one)")
    return _UNREADABLE.sub(_PLACEHOLDER, text), problem


def read_bytes(file: Path) -> bytes:
    """At most :data:`MAX_FILE_BYTES` of ``file`` (also a pipe or a device, never endless).

    Raises:
        SpecInvalid: the file cannot be read or holds more than that.
    """
    try:
        with file.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SpecInvalid(f"{file}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise SpecInvalid(
            f"{file}: more than {MAX_FILE_BYTES} bytes (2 MiB), the most one file may hold; "
            "split the documents over several files"
        )
    return data


def read_documents(file: Path) -> list[Any]:
    """The non-empty documents of a YAML file, in order (``---`` separated).

    Raises:
        SpecInvalid: one line naming the file, the document, the field path and the line of
            the first problem: not UTF-8, too big, malformed, too deep, an alias bomb, a
            duplicate key, a Python tag, an integer too long or a date that does not exist.
    """
    text, bad_char = _decode(read_bytes(file))
    scan = _Scan(bad_char=bad_char)
    try:
        scan.run(text)
    except _Refused as refused:
        raise SpecInvalid(refused.message(file)) from None
    except yaml.YAMLError as exc:
        raise SpecInvalid(f"{file}: {bad_char}" if bad_char else _malformed(file, exc, text)) \
            from None
    if bad_char is not None:  # in a comment: no value holds it
        raise SpecInvalid(f"{file}: {bad_char}")
    try:
        documents = list(yaml.load_all(text, Loader=_LOADER))
    except yaml.YAMLError as exc:
        raise SpecInvalid(_malformed(file, exc, text)) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # pragma: no cover
        raise SpecInvalid(f"{file}: cannot read a value: {exc}") from None
    return [d for d in documents if d is not None]
