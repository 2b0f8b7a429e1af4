"""Declared checks: what a recipe's ``image.toml`` or a container-structure-test file says an image must do.

Plain data, made by the parsers (``harness.checks.toml_checks``, ``harness.checks.cst``) and run by
``harness.checks.evaluate``. Regexes are Python ``re.search`` patterns (for CST files: Go RE2 patterns,
which Python reads the same for everything CST files use). ``origin`` names where a check was declared
("fixtures/images/busybox/image.toml", "structure-test.yaml"), so every failure can point at it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields

from harness.errors import RecipeError

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class TextExpectation:
    """Regexes that must each be found in a text, and regexes none of which may be found."""

    found: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommandCheck:
    """A process run to completion: in a one-off container of the image (``[[checks.command]]``, CST
    ``commandTests``) or inside the running service container (``[[checks.exec]]``).

    ``command`` replaces the image's cmd (docker's ``run IMAGE COMMAND...``) and ``entrypoint``, when not
    None, replaces its entrypoint (``()`` clears it, as CST does). ``setup`` commands run first and
    ``teardown`` commands after, in the same container (CST).
    """

    name: str
    origin: str
    command: tuple[str, ...]
    entrypoint: tuple[str, ...] | None = None
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    exit_code: int = 0
    stdout: TextExpectation = TextExpectation()
    stderr: TextExpectation = TextExpectation()
    setup: tuple[tuple[str, ...], ...] = ()
    teardown: tuple[tuple[str, ...], ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    #: The platforms of a multi-platform recipe this check runs for (empty: every one), e.g. ``uname -m``.
    platforms: tuple[str, ...] = ()

    def applies_to(self, platform: str) -> bool:
        """Whether the check runs for the image entry of ``platform``."""
        return not self.platforms or platform in self.platforms


@dataclass(frozen=True)
class HttpCheck:
    """A request to the running service: ``port`` None means the recipe's port."""

    name: str
    origin: str
    path: str = "/"
    method: str = "GET"
    port: int | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: str | None = None
    status: int = 200
    body: TextExpectation = TextExpectation()
    headers: dict[str, str] = field(default_factory=dict)  # header name -> regex its value must match
    timeout: float = 10.0


@dataclass(frozen=True)
class TcpCheck:
    """A connection to the running service's ``port`` (None: the recipe's); ``send`` is written, then the
    answer is read until ``expect`` is satisfied, the peer closes, or ``timeout`` passes."""

    name: str
    origin: str
    port: int | None = None
    send: str | None = None
    expect: TextExpectation = TextExpectation()
    timeout: float = 10.0


@dataclass(frozen=True)
class FileCheck:
    """A path of the image's final filesystem, read from its layers (no container).

    ``mode`` is octal permission bits ("0755") or an ``ls -l`` string ("-rwxr-xr-x"); ``executable_by``
    is "any", "owner", "group" or "other"; None means "not checked".
    """

    name: str
    origin: str
    path: str
    exists: bool = True
    mode: str | None = None
    uid: int | None = None
    gid: int | None = None
    executable_by: str | None = None
    content: TextExpectation | None = None


@dataclass(frozen=True)
class ValueExpectation:
    """A key whose value must equal ``value`` (or match it as a regex, with ``is_regex``)."""

    key: str
    value: str
    is_regex: bool = False


@dataclass(frozen=True)
class MetadataCheck:
    """The image config (CST ``metadataTest``); None and () mean "not checked"."""

    name: str
    origin: str
    env: tuple[ValueExpectation, ...] = ()
    labels: tuple[ValueExpectation, ...] = ()
    exposed_ports: tuple[str, ...] = ()
    unexposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    unmounted_volumes: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    workdir: str | None = None
    user: str | None = None


#: One step of a restart check: an exec, a tcp or an http check against the service.
Probe = CommandCheck | HttpCheck | TcpCheck


@dataclass(frozen=True)
class RestartCheck:
    """Data survives a restart: ``setup`` (optional) against a fresh service container, then the container
    is stopped and started again (same filesystem and volumes) and ``verify`` must pass."""

    name: str
    origin: str
    verify: Probe
    setup: Probe | None = None


#: How a service shows it is ready: "tcp" (a connection), "http:/path" (any HTTP answer) or "log:REGEX".
@dataclass(frozen=True)
class Readiness:
    """A declared readiness rule: ``kind`` "tcp", "http" or "log"; ``argument`` the path or the regex."""

    kind: str
    argument: str = ""


@dataclass(frozen=True)
class DeclaredChecks:
    """Every declared check of one recipe, by kind, in declaration order."""

    command: tuple[CommandCheck, ...] = ()
    exec: tuple[CommandCheck, ...] = ()
    http: tuple[HttpCheck, ...] = ()
    tcp: tuple[TcpCheck, ...] = ()
    file: tuple[FileCheck, ...] = ()
    metadata: tuple[MetadataCheck, ...] = ()
    restart: tuple[RestartCheck, ...] = ()

    def __bool__(self) -> bool:
        return any((self.command, self.exec, self.http, self.tcp, self.file, self.metadata, self.restart))

    def __iter__(self) -> Iterator[CommandCheck | HttpCheck | TcpCheck | FileCheck | MetadataCheck | RestartCheck]:
        """Every check, kind by kind."""
        for kind in fields(self):
            yield from getattr(self, kind.name)

    def merged(self, other: DeclaredChecks) -> DeclaredChecks:
        """These checks and ``other``'s, kind by kind; a name declared in both is a RecipeError naming both
        origins (each check is a test case named after it)."""
        mine = {check.name: check for check in self}
        for check in other:
            if check.name in mine:
                raise RecipeError(
                    f"two checks are named {check.name!r}: one in {mine[check.name].origin}, one in {check.origin}",
                    fix="rename one of them: a recipe's check names (image.toml and container-structure-test files) "
                    "must be unique",
                )
        return DeclaredChecks(**{kind.name: getattr(self, kind.name) + getattr(other, kind.name)
                                 for kind in fields(self)})


_VARIABLE = re.compile(r"\$(?:\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def expand_variables(text: str, env: Mapping[str, str]) -> str:
    """``text`` with ``$NAME`` and ``${NAME}`` replaced by ``env``'s values (empty when unset), as
    container-structure-test expands its env values, commands and paths against the image config's Env."""
    return _VARIABLE.sub(lambda match: env.get(match[1] if match[1] is not None else match[2], ""), text)


#: Kinds run against each board (a container is needed), and kinds read from the image in the registry.
BOARD_KINDS = ("command", "exec", "http", "tcp", "restart")
IMAGE_KINDS = ("file", "metadata")
