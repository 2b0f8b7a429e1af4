"""The generic checks of an image.toml (``[[checks.command]]``, ``[[checks.exec]]``, ``[[checks.http]]``,
``[[checks.tcp]]``, ``[[checks.file]]``, ``[checks.restart]``) and its ``ready`` key, read into the data of
``harness.checks.spec``. The format is in fixtures/images/README.md; every error names the file, the key
path (``checks.command[2].stdout``), what was expected and the fix."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Protocol

from harness.checks.modes import FORMS, parse_mode
from harness.checks.spec import (
    DEFAULT_TIMEOUT,
    CommandCheck,
    DeclaredChecks,
    FileCheck,
    HttpCheck,
    Probe,
    Readiness,
    RestartCheck,
    TcpCheck,
    TextExpectation,
)
from harness.errors import RecipeError

#: Kinds declared as arrays of tables ([[checks.KIND]]); ``restart`` is one table.
LIST_KINDS = ("command", "exec", "http", "tcp", "file")
KINDS = (*LIST_KINDS, "restart")
SERVICE_KINDS = ("exec", "http", "tcp", "restart")
EXECUTABLE_BY = ("any", "owner", "group", "other")
READY_FORMS = '"tcp", "http:/PATH" or "log:REGEX"'
DEFAULT_RESTART_NAME = "survives a restart"
_EXEC_KEYS = ("name", "command", "args", "env", "user", "exit_code", "stdout", "stdout_excludes", "stderr",
              "stderr_excludes", "timeout", "platforms")
KEYS = {
    "command": (*_EXEC_KEYS, "entrypoint"),
    "exec": _EXEC_KEYS,
    "http": ("name", "path", "method", "port", "request_headers", "request_body", "status", "body", "body_excludes",
             "headers", "timeout"),
    "tcp": ("name", "port", "send", "expect", "expect_excludes", "timeout"),
    "file": ("name", "path", "exists", "mode", "uid", "gid", "executable_by", "content", "content_excludes"),
    "restart": ("name", "setup", "verify"),
}
PROBE_KINDS = ("exec", "tcp", "http")
_METHOD = re.compile(r"^[A-Z]+$")


class Reader(Protocol):
    """What the parser needs of the recipe loader's reader: the file, and errors in its format."""

    path: Path

    def fail(self, key: str, expected: str, got: Any) -> RecipeError: ...


def parse_ready(reader: Reader, value: Any, port: int | None) -> Readiness | None:
    """The top-level ``ready`` key: None when absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise reader.fail("ready", READY_FORMS, value)
    kind, sep, argument = value.partition(":")
    if kind == "tcp" and not sep:
        readiness = Readiness("tcp")
    elif kind == "http" and sep and argument.startswith("/"):
        readiness = Readiness("http", argument)
    elif kind == "log" and sep and argument:
        _compile(reader, "ready", argument)
        readiness = Readiness("log", argument)
    else:
        raise reader.fail("ready", READY_FORMS, value)
    if readiness.kind != "log" and port is None:
        raise reader.fail("port", f'set for ready = "{value}" (the container port to connect to)', None)
    return readiness


def parse_declared(reader: Reader, checks: dict[str, Any], port: int | None, ready: Readiness | None
                   ) -> DeclaredChecks:
    """The generic kinds in ``checks`` (the ``[checks]`` table; other keys are left to the caller)."""
    context = _Context(reader, port, service=port is not None or ready is not None)
    found: dict[str, Any] = {}
    for kind in LIST_KINDS:
        entries = checks.get(kind, [])
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            raise reader.fail(f"checks.{kind}", f"an array of tables, each written [[checks.{kind}]]", entries)
        found[kind] = tuple(context.check(kind, f"checks.{kind}[{index}]", entry)
                            for index, entry in enumerate(entries))
    restart = checks.get("restart")
    if restart is not None:
        if not isinstance(restart, dict):
            raise reader.fail("checks.restart", "one table, written [checks.restart]", restart)
        found["restart"] = (context.restart(restart),)
    return DeclaredChecks(**found)


class _Context:
    """One image.toml's checks being read: the reader, the recipe's port, and the names seen so far."""

    def __init__(self, reader: Reader, port: int | None, service: bool) -> None:
        self.reader, self.port, self.service = reader, port, service
        self.origin = str(reader.path)
        self.names: dict[str, str] = {}

    def check(self, kind: str, key: str, table: dict[str, Any]) -> Any:
        self.known_keys(kind, key, table)
        name = self.name(key, table)
        return self.body(kind, key, table, name)

    def body(self, kind: str, key: str, table: dict[str, Any], name: str) -> Any:
        if kind in SERVICE_KINDS:
            self.require_service(key, name)
        return {"command": self.command, "exec": self.command, "http": self.http, "tcp": self.tcp,
                "file": self.file}[kind](kind, key, table, name)

    def require_service(self, key: str, name: str) -> None:
        if not self.service:
            raise RecipeError(
                f"{self.reader.path}: '{key}' ({name!r}) runs against the running service, but the recipe is not "
                "a service",
                fix="set 'port' (the service's container port) or 'ready' in image.toml, or use [[checks.command]] "
                "for a one-off container",
            )

    def known_keys(self, kind: str, key: str, table: dict[str, Any], without: tuple[str, ...] = ()) -> None:
        known = [k for k in KEYS[kind] if k not in without]
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise self.reader.fail(f"{key}.{unknown[0]}", f"a key of {key.split('[')[0]}: {', '.join(known)}",
                                   unknown[0])

    def name(self, key: str, table: dict[str, Any], default: str | None = None) -> str:
        name = table.get("name", default)
        if not isinstance(name, str) or not name.strip():
            raise self.reader.fail(f"{key}.name", "a non-empty string naming the check in the report", name)
        if name in self.names:
            raise self.reader.fail(f"{key}.name", f"unique among the recipe's checks ({self.names[name]} has it too)",
                                   name)
        self.names[name] = key
        return name

    # The kinds

    def command(self, kind: str, key: str, table: dict[str, Any], name: str) -> CommandCheck:
        command = self.strings(table, key, "command", required=True)
        if not command:
            raise self.reader.fail(f"{key}.command", 'a non-empty array such as ["uname", "-m"]', [])
        entrypoint = self.strings(table, key, "entrypoint")
        return CommandCheck(
            name=name, origin=self.origin, command=(*command, *(self.strings(table, key, "args") or ())),
            entrypoint=None if entrypoint is None else tuple(entrypoint), env=self.string_table(table, key, "env"),
            user=self.string(table, key, "user"), exit_code=self.integer(table, key, "exit_code", 0, 0, 255),
            stdout=self.text(table, key, "stdout"), stderr=self.text(table, key, "stderr"),
            timeout=self.timeout(table, key, DEFAULT_TIMEOUT),
            platforms=tuple(self.strings(table, key, "platforms") or ()),
        )

    def http(self, kind: str, key: str, table: dict[str, Any], name: str) -> HttpCheck:
        path = self.string(table, key, "path", "/")
        if not path.startswith("/"):
            raise self.reader.fail(f"{key}.path", 'a path starting with "/"', path)
        method = self.string(table, key, "method", "GET")
        if not _METHOD.match(method):
            raise self.reader.fail(f"{key}.method", 'an HTTP method in capitals such as "GET"', method)
        headers = self.string_table(table, key, "headers")
        for header, pattern in headers.items():
            self.regex(f"{key}.headers.{header}", pattern)
        return HttpCheck(
            name=name, origin=self.origin, path=path, method=method, port=self.service_port(table, key, name),
            request_headers=self.string_table(table, key, "request_headers"),
            request_body=self.string(table, key, "request_body"),
            status=self.integer(table, key, "status", 200, 100, 599), body=self.text(table, key, "body"),
            headers=headers, timeout=self.timeout(table, key, 10.0),
        )

    def tcp(self, kind: str, key: str, table: dict[str, Any], name: str) -> TcpCheck:
        return TcpCheck(name=name, origin=self.origin, port=self.service_port(table, key, name),
                        send=self.string(table, key, "send"), expect=self.text(table, key, "expect"),
                        timeout=self.timeout(table, key, 10.0))

    def file(self, kind: str, key: str, table: dict[str, Any], name: str) -> FileCheck:
        path = self.string(table, key, "path", required=True)
        if not path.startswith("/"):
            raise self.reader.fail(f"{key}.path", 'an absolute path in the image such as "/bin/busybox"', path)
        exists = table.get("exists", True)
        if not isinstance(exists, bool):
            raise self.reader.fail(f"{key}.exists", "true or false", exists)
        properties = sorted(set(table) - {"name", "path", "exists"})
        if not exists and properties:
            raise self.reader.fail(f"{key}.{properties[0]}", "left out when exists = false (an absent file has no "
                                   f"{properties[0]})", table[properties[0]])
        mode = self.string(table, key, "mode")
        if mode is not None:
            try:
                parse_mode(mode)
            except ValueError:
                raise self.reader.fail(f"{key}.mode", FORMS, mode) from None
        executable_by = self.string(table, key, "executable_by")
        if executable_by is not None and executable_by not in EXECUTABLE_BY:
            raise self.reader.fail(f"{key}.executable_by", f"one of {', '.join(EXECUTABLE_BY)}", executable_by)
        has_content = "content" in table or "content_excludes" in table
        return FileCheck(
            name=name, origin=self.origin, path=path, exists=exists, mode=mode,
            uid=self.integer(table, key, "uid", None, 0, 2**32 - 1),
            gid=self.integer(table, key, "gid", None, 0, 2**32 - 1), executable_by=executable_by,
            content=self.text(table, key, "content") if has_content else None,
        )

    def restart(self, table: dict[str, Any]) -> RestartCheck:
        key = "checks.restart"
        self.known_keys("restart", key, table)
        name = self.name(key, table, DEFAULT_RESTART_NAME)
        self.require_service(key, name)
        if "verify" not in table:
            raise self.reader.fail(f"{key}.verify", "a table with one of verify.exec, verify.tcp or verify.http", None)
        setup = self.probe(f"{key}.setup", table["setup"], f"{name}: setup") if "setup" in table else None
        return RestartCheck(name=name, origin=self.origin, setup=setup,
                            verify=self.probe(f"{key}.verify", table["verify"], f"{name}: verify"))

    def probe(self, key: str, table: Any, name: str) -> Probe:
        expected = f"a table with exactly one of {', '.join(f'{key}.{kind}' for kind in PROBE_KINDS)}"
        if not isinstance(table, dict) or len(table) != 1:
            raise self.reader.fail(key, expected, table)
        kind, body = next(iter(table.items()))
        if kind not in PROBE_KINDS or not isinstance(body, dict):
            raise self.reader.fail(f"{key}.{kind}", expected, body)
        self.known_keys(kind, f"{key}.{kind}", body, without=("name",))
        return {"exec": self.command, "http": self.http, "tcp": self.tcp}[kind](kind, f"{key}.{kind}", body, name)

    # The values

    def service_port(self, table: dict[str, Any], key: str, name: str) -> int | None:
        port = self.integer(table, key, "port", None, 1, 65535)
        if port is None and self.port is None:
            raise self.reader.fail(f"{key}.port", f"set for {name!r}, since the recipe has no 'port' to default to",
                                   None)
        return port

    def string(self, table: dict[str, Any], key: str, field: str, default: Any = None, required: bool = False) -> Any:
        if required and field not in table:
            raise self.reader.fail(f"{key}.{field}", "set (it is required)", None)
        value = table.get(field, default)
        if value is not None and not isinstance(value, str):
            raise self.reader.fail(f"{key}.{field}", "a string", value)
        return value

    def strings(self, table: dict[str, Any], key: str, field: str, required: bool = False) -> list[str] | None:
        if required and field not in table:
            raise self.reader.fail(f"{key}.{field}", 'set: an array of strings such as ["uname", "-m"]', None)
        value = table.get(field)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise self.reader.fail(f"{key}.{field}", 'an array of strings such as ["uname", "-m"]', value)
        return value

    def string_table(self, table: dict[str, Any], key: str, field: str) -> dict[str, str]:
        value = table.get(field, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self.reader.fail(f"{key}.{field}", 'a table of strings such as { NAME = "value" }', value)
        return dict(value)

    def integer(self, table: dict[str, Any], key: str, field: str, default: int | None, low: int, high: int
                ) -> int | None:
        value = table.get(field, default)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            raise self.reader.fail(f"{key}.{field}", f"an integer from {low} to {high}", value)
        return value

    def timeout(self, table: dict[str, Any], key: str, default: float) -> float:
        value = table.get("timeout", default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
            raise self.reader.fail(f"{key}.timeout", "a number of seconds above 0", value)
        return float(value)

    def text(self, table: dict[str, Any], key: str, field: str) -> TextExpectation:
        return TextExpectation(found=self.patterns(table, key, field),
                               absent=self.patterns(table, key, f"{field}_excludes"))

    def patterns(self, table: dict[str, Any], key: str, field: str) -> tuple[str, ...]:
        value = table.get(field, [])
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise self.reader.fail(f"{key}.{field}", 'a regex string or an array of them, such as ["^riscv64$"]',
                                   value)
        for index, pattern in enumerate(values):
            self.regex(f"{key}.{field}" + (f"[{index}]" if isinstance(value, list) else ""), pattern)
        return tuple(values)

    def regex(self, key: str, pattern: str) -> None:
        _compile(self.reader, key, pattern)


def _compile(reader: Reader, key: str, pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as error:
        raise reader.fail(key, f"a valid Python regex (re says: {error})", pattern) from None
