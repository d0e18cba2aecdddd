"""Reading JSON documents as they arrive: one envelope, a JSON array, or JSON Lines.

A bad line of a JSON Lines file is reported alone; the other lines are still read. Parsing
never raises: malformed input, nesting deeper than the parser allows, and invalid Unicode all
come back as issues.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from lienthong.spec.issues import Issue, make_issue

MAX_DEPTH = 512
"""Deeper JSON is refused (orjson's own limit is 1024; the packets need fewer than 10)."""


@dataclass(slots=True)
class Document:
    """One JSON value read from the input, with where it came from."""

    value: Any
    location: str
    """``file``, ``file[3]`` (array item) or ``file:12`` (JSON Lines line)."""
    lenient_unicode: bool = False
    """Strings need scanning: parsed by the fallback parser (they may hold lone surrogates), or
    the text holds a ``\\u0000`` escape (a NUL, which cannot be stored). Both are reported per
    field (``field.unicode``, ``field.nul``)."""


@dataclass(slots=True)
class Unreadable:
    """A part of the input that could not be read as a document, with its location."""

    location: str
    issue: Issue


@dataclass(slots=True)
class ParsedInput:
    parts: list[Document | Unreadable] = field(default_factory=list)
    """Documents and unreadable parts in input order (a bad line stays between its neighbours)."""

    @property
    def documents(self) -> list[Document]:
        return [part for part in self.parts if type(part) is Document]

    @property
    def issues(self) -> list[tuple[str, Issue]]:
        """Problems that stopped a document from being read, with its location."""
        return [(part.location, part.issue) for part in self.parts if type(part) is Unreadable]


def unstorable_text(
    value: Any, path: str = "$", skip: frozenset[str] = frozenset(), keys_only: bool = False
) -> str | None:
    """The JSON path of the first string or key in ``value`` that cannot be stored (a lone
    surrogate or a NUL), or None. Keys of the top-level object in ``skip`` are not looked into
    (a batch's records are scanned per field by the validator instead). ``keys_only``: only
    keys are looked at (the caller reports bad values per field)."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if type(item) is str and not keys_only:
            if not storable(item):
                return where
        elif type(item) is dict:
            for key, child in item.items():
                here = f"{where}.{key}" if storable(str(key)) else f"{where}.<?>"
                if not storable(str(key)):
                    return here
                if depth == 0 and key in skip:
                    continue
                if depth < MAX_DEPTH:
                    stack.append((child, here, depth + 1))
        elif type(item) is list and depth < MAX_DEPTH:
            stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item))
    return None


def storable(text: str) -> bool:
    """False for text no database column can hold: a NUL or a lone surrogate."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _depth_ok(value: Any) -> bool:
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if type(item) is dict:
            stack.extend((child, depth + 1) for child in item.values())
        elif type(item) is list:
            stack.extend((child, depth + 1) for child in item)
    return True


def loads(data: bytes | str) -> tuple[Any, Issue | None, bool]:
    """Parse one JSON text: (value, problem, scan_strings).

    ``scan_strings`` says the strings must be scanned (``scan_unicode=True`` in validation):
    the text was parsed leniently (lone surrogates), or it holds a NUL escape. Scanning every
    string of a large batch is costly; most texts need none.
    """
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return orjson.loads(data), None, b"\\u0000" in data
    except orjson.JSONDecodeError as exc:
        message = str(exc)
    if "depth limit" in message or "recursion" in message:
        return None, make_issue("$", "json.too_deep"), False
    if "surrogate" in message:
        # orjson refuses lone surrogates; read with the standard parser and report them per field.
        try:
            value = json.loads(data.decode("utf-8", "surrogatepass"))
        except (ValueError, RecursionError) as fallback:
            return None, make_issue("$", "json.invalid", detail=str(fallback)[:200]), False
        if not _depth_ok(value):
            return None, make_issue("$", "json.too_deep"), False
        return value, None, True
    return None, make_issue("$", "json.invalid", detail=message[:200]), False


def read_documents(data: bytes, name: str = "<input>") -> ParsedInput:
    """Split ``data`` into documents: a whole JSON value, or JSON Lines when that fails."""
    parsed = ParsedInput()
    stripped = data.strip()
    if not stripped:
        parsed.parts.append(Unreadable(name, make_issue("$", "json.empty")))
        return parsed
    value, problem, lenient = loads(stripped)
    if problem is None:
        if type(value) is list:
            parsed.parts.extend(
                Document(item, f"{name}[{index}]", lenient) for index, item in enumerate(value)
            )
        else:
            parsed.parts.append(Document(value, name, lenient))
        return parsed
    lines = stripped.split(b"\n")
    # JSON Lines only when the first line stands alone as JSON; else one broken document.
    if len(lines) == 1 or problem.code == "json.too_deep" or loads(lines[0])[1] is not None:
        parsed.parts.append(Unreadable(name, problem))
        return parsed
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        value, line_problem, lenient = loads(line)
        location = f"{name}:{number}"
        if line_problem is not None:
            parsed.parts.append(Unreadable(location, line_problem))
        else:
            parsed.parts.append(Document(value, location, lenient))
    return parsed
