"""The small part of YAML that registries.yaml uses: mappings nested by indentation, ``- item`` lists of
scalars, and quoted or bare scalars. Anything else is an error naming its line, never a guess."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from harness.errors import RvconformError

Path = tuple[str | int, ...]
FORM = ("nested KEY: mappings indented with spaces, '- ITEM' lists of scalars, \"double\", 'single' or bare "
        "scalars, # comments; no anchors, tags, block scalars or multiple documents")
_SPECIAL = tuple("&*!|>%@`?,")


@dataclass(frozen=True)
class _Line:
    number: int
    indent: int
    text: str


class YamlSubsetError(RvconformError):
    """A line outside the YAML subset, or a document that does not have the expected shape."""


def load(text: str, source: str) -> tuple[Any, dict[Path, int]]:
    """The document in ``text`` and, for each key path (list items by index), the line it is on."""
    return _Parser(_lines(text, source), source).document()


def fail(source: str, number: int | None, problem: str) -> YamlSubsetError:
    """An error for line ``number`` of ``source`` (the file, when the line is not known)."""
    where = f"{source} line {number}" if number else source
    return YamlSubsetError(f"{where}: {problem}", fix=f"{source} is read as a small YAML subset: {FORM}")


class _Parser:
    def __init__(self, lines: list[_Line], source: str) -> None:
        self.lines, self.source, self.pos = lines, source, 0
        self.where: dict[Path, int] = {}

    def document(self) -> tuple[Any, dict[Path, int]]:
        if not self.lines:
            return None, self.where
        if self.lines[0].indent:
            raise self._fail(self.lines[0], "the document must start at column 1")
        value = self._block(0, ())
        if self.pos < len(self.lines):
            raise self._fail(self.lines[self.pos], "expected a '- ' list item like the lines above it")
        return value, self.where

    def _block(self, indent: int, path: Path) -> Any:
        return self._sequence(indent, path) if _is_item(self.lines[self.pos].text) else self._mapping(indent, path)

    def _mapping(self, indent: int, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while self.pos < len(self.lines) and self.lines[self.pos].indent >= indent:
            line = self.lines[self.pos]
            if line.indent > indent:
                raise self._fail(line, "unexpected indentation")
            if _is_item(line.text):
                raise self._fail(line, "a '- ' list item where a KEY: was expected")
            key, rest = self._key(line)
            if key in result:
                raise self._fail(line, f"duplicate key {key!r}")
            self.where[(*path, key)] = line.number
            self.pos += 1
            result[key] = self._scalar(rest, line) if rest else self._nested(indent, (*path, key))
        return result

    def _nested(self, indent: int, path: Path) -> Any:
        if self.pos == len(self.lines):
            return None
        line = self.lines[self.pos]
        if line.indent > indent:
            return self._block(line.indent, path)
        # A list may sit at its key's own indentation ("endpoint:" then "- url" below it).
        return self._sequence(indent, path) if line.indent == indent and _is_item(line.text) else None

    def _sequence(self, indent: int, path: Path) -> list[Any]:
        items: list[Any] = []
        while self.pos < len(self.lines) and self.lines[self.pos].indent == indent:
            line = self.lines[self.pos]
            if not _is_item(line.text):
                break
            rest = line.text[1:].strip()
            if not rest or (rest[0] not in "\"'[{" and _bare_key_split(rest) is not None):
                raise self._fail(line, "list items must be scalars on the item's own line")
            self.where[(*path, len(items))] = line.number
            items.append(self._scalar(rest, line))
            self.pos += 1
        return items

    def _key(self, line: _Line) -> tuple[str, str]:
        text = line.text
        if text[0] in "\"'":
            key, end = self._quoted(text, line)
            rest = text[end:]
            if not rest.startswith(":") or rest[1:2] not in ("", " "):
                raise self._fail(line, "expected ':' after the quoted key")
            return key, rest[1:].strip()
        split = _bare_key_split(text)
        if split is None or not split[0] or split[0].startswith(_SPECIAL) or split[0].startswith(("[", "{", "#")):
            raise self._fail(line, f"expected KEY: or KEY: VALUE, found {text!r}")
        return split

    def _scalar(self, text: str, line: _Line) -> Any:
        if text[0] in "\"'":
            value, end = self._quoted(text, line)
            if text[end:].strip():
                raise self._fail(line, f"unexpected text after the quoted string: {text[end:].strip()!r}")
            return value
        if text[0] in "[{":
            return self._flow(text, line)
        if text.startswith(_SPECIAL) or _bare_key_split(text) is not None or text.startswith("- "):
            raise self._fail(line, f"unsupported value {text!r}; quote it")
        return text

    def _quoted(self, text: str, line: _Line) -> tuple[str, int]:
        """The quoted string at the start of ``text`` and the index just past its closing quote."""
        if text[0] == "'":
            end = 1
            while (end := text.find("'", end)) != -1 and text[end + 1:end + 2] == "'":
                end += 2
            if end == -1:
                raise self._fail(line, "unterminated 'single-quoted' string")
            return text[1:end].replace("''", "'"), end + 1
        end = 1
        while end < len(text) and text[end] != '"':
            end += 2 if text[end] == "\\" else 1
        if end >= len(text):
            raise self._fail(line, 'unterminated "double-quoted" string')
        try:
            return json.loads(text[:end + 1], strict=False), end + 1
        except json.JSONDecodeError:
            raise self._fail(line, f"unsupported escape in {text[:end + 1]}; use JSON escapes") from None

    def _flow(self, text: str, line: _Line) -> Any:
        """``[...]`` or ``{...}``, written as JSON (quoted strings), which is also YAML."""
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise self._fail(line, f"flow collection {text!r} is not JSON; write it as a block, one item a line"
                             ) from None
        items = value.values() if isinstance(value, dict) else value
        if not all(isinstance(item, str) for item in items):
            raise self._fail(line, f"flow collection {text!r} may only hold strings")
        return value

    def _fail(self, line: _Line, problem: str) -> YamlSubsetError:
        return fail(self.source, line.number, problem)


def _lines(text: str, source: str) -> list[_Line]:
    lines: list[_Line] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        content = _strip_comment(raw)
        if not content.strip():
            continue
        body = content.lstrip(" ")
        if body.startswith("\t"):
            raise fail(source, number, "a tab in the indentation; indent with spaces")
        if body.rstrip() == "---" and not lines:
            continue
        if body.startswith(("---", "...")):
            raise fail(source, number, "only one YAML document is read")
        lines.append(_Line(number, len(content) - len(body), body.rstrip()))
    return lines


def _strip_comment(raw: str) -> str:
    """``raw`` up to a ``#`` that starts a comment (at the line start or after a space, not quoted)."""
    quote_char = ""
    i = 0
    while i < len(raw):
        char = raw[i]
        if quote_char == '"' and char == "\\":
            i += 1
        elif quote_char and char == quote_char:
            if quote_char == "'" and raw[i + 1:i + 2] == "'":
                i += 1
            else:
                quote_char = ""
        elif not quote_char and char in "\"'" and (i == 0 or raw[i - 1] in " :-[{,"):
            quote_char = char
        elif not quote_char and char == "#" and (i == 0 or raw[i - 1] in " \t"):
            return raw[:i]
        i += 1
    return raw


def _is_item(text: str) -> bool:
    return text == "-" or text.startswith("- ")


def _bare_key_split(text: str) -> tuple[str, str] | None:
    """(key, rest) when bare ``text`` is ``KEY:`` or ``KEY: VALUE``; a ``:`` inside a word (a port, a
    URL's ``://``) does not end a key."""
    if text.endswith(":") and ": " not in text:
        return text[:-1].rstrip(), ""
    key, sep, rest = text.partition(": ")
    return (key.rstrip(), rest.strip()) if sep else None
