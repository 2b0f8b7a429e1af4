"""The run's settings, read once from the command line and checked before anything starts."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import pytest

from harness.boards import validate_board_url
from harness.checks.cst import StructureTestFile, load_structure_test
from harness.defaults import (
    BASELINE_BRANCH,
    BUILD_TIMEOUT,
    DEBIAN_MIRROR,
    HISTORY_FILE,
    PULL_TIMEOUT,
    READY_TIMEOUT,
    RECIPES_DIR,
    REPORTS_DIR,
)
from harness.errors import RvconformError
from harness.image_ref import ImageRef
from harness.recipes import RECIPE_FILE
from harness.registry_access import parse_ca_options


@dataclass(frozen=True)
class Settings:
    """Everything the fixtures need to know about this run."""

    recipes_dir: Path
    recipe_names: tuple[str, ...] = ()
    images: dict[str, ImageRef] = field(default_factory=dict)
    registry_url: str | None = None
    registry_address: str | None = None
    registry_ca: dict[str | None, Path] = field(default_factory=dict)
    registry_http: tuple[str, ...] = ()
    registry_tls: bool = False
    registry_auth: bool = False
    boards: tuple[str, ...] = ("local",)
    builder: str | None = None
    reports_dir: Path | None = None
    bases: str = "bootstrap"
    mirror: str = DEBIAN_MIRROR
    build_timeout: float = BUILD_TIMEOUT
    ready_timeout: float = READY_TIMEOUT
    pull_timeout: float = PULL_TIMEOUT
    size_history: Path | None = None
    baseline_branch: str = BASELINE_BRANCH
    baseline_file: Path | None = None
    summary_file: Path | None = None
    structure_tests: tuple[StructureTestFile, ...] = ()

    @property
    def history_path(self) -> Path | None:
        """Where size records are appended: --size-history, else beside the reports, else nowhere."""
        if self.size_history:
            return self.size_history
        return self.reports_dir / HISTORY_FILE if self.reports_dir else None

    @property
    def logs_dir(self) -> Path:
        """Where build, registry and container logs go (default: reports/logs)."""
        return (self.reports_dir or Path(REPORTS_DIR)) / "logs"


#: The rvconform option group: flag -> pytest's addoption keyword arguments.
OPTIONS: dict[str, dict[str, Any]] = {
    "--recipes": dict(metavar="DIR", default=None,
        help=f"directory with one sub-directory per recipe (default: {RECIPES_DIR})"),
    "--recipe": dict(metavar="NAME", action="append", default=[],
        help="check only this recipe (repeatable)"),
    "--image": dict(metavar="NAME=REF", action="append", default=[],
        help="check the image REF already in a registry against recipe NAME's checks, "
        "without building (repeatable)"),
    "--registry": dict(metavar="URL", default=None,
        help="use this registry instead of spawning one on 127.0.0.1, e.g. http://HOST:5000"),
    "--registry-address": dict(metavar="HOST:PORT", default=None,
        help="how the boards reach the registry, when it differs from how the harness does "
        "(default: worked out per board: a VM sees the host's 127.0.0.1 at 10.0.2.2)"),
    "--registry-ca": dict(metavar="[HOST:PORT=]FILE", action="append", default=[],
        help="trust the CA in FILE for TLS registries (every one, or only HOST:PORT; repeatable)"),
    "--registry-http": dict(metavar="HOST:PORT", action="append", default=[],
        help="this registry speaks plain HTTP (loopback and --registry http://... need no such note); "
        "others are reached over https only"),
    "--registry-tls": dict(action="store_true", default=False,
        help="the spawned registry serves TLS with a CA made for the run"),
    "--registry-auth": dict(action="store_true", default=False,
        help="the spawned registry requires a password made for the run (htpasswd)"),
    "--board": dict(metavar="URL", action="append", default=[],
        help="board to check on (repeatable; default: local)"),
    "--builder": dict(metavar="BOARD_URL", default=None,
        help="build the recipes natively on this board (qemu, or ssh://... with docker), for its own platform, "
        "and push from there to the run's registry (default: build here)"),
    "--reports": dict(metavar="DIR", default=None,
        help="write junit.xml, report.html and logs into DIR"),
    "--bases": dict(choices=("bootstrap", "official"), default="bootstrap",
        help="bootstrap: base images made from a Debian mirror (default); "
        "official: the Dockerfiles' own FROM defaults from Docker Hub"),
    "--mirror": dict(metavar="URL", default=DEBIAN_MIRROR,
        help=f"Debian mirror for bootstrapped base images (default: {DEBIAN_MIRROR})"),
    "--build-timeout": dict(metavar="SECONDS", type=float, default=BUILD_TIMEOUT,
        help=f"give up on one recipe's build after this long (default: {BUILD_TIMEOUT:.0f})"),
    "--size-history": dict(metavar="PATH", default=None,
        help="JSON Lines file each run appends its image sizes to (default: REPORTS/size-history.jsonl)"),
    "--baseline-branch": dict(metavar="NAME", default=BASELINE_BRANCH,
        help="size growth is measured against this branch's last record in the history "
        f"(default: {BASELINE_BRANCH})"),
    "--baseline": dict(metavar="FILE", default=None,
        help="a pinned sizes.json to measure size growth against (wins over --baseline-branch)"),
    "--summary": dict(metavar="FILE", default=None,
        help="append the Markdown size table and the verdict counts to FILE at the end of the run, "
        "e.g. $GITHUB_STEP_SUMMARY"),
    "--structure-test": dict(metavar="[RECIPE=]FILE", action="append", default=[],
        help="also run the container-structure-test file FILE (YAML or JSON, schemaVersion 1.0.0 or 2.0.0) "
        "against every selected recipe, or against recipe RECIPE only; its commandTests run on every board, its "
        "file and metadata tests on the image in the registry (repeatable; a recipe directory's own "
        "structure-test.yaml is always read)"),
    "--ready-timeout": dict(metavar="SECONDS", type=float, default=READY_TIMEOUT,
        help=f"how long a started container may take to answer (default: {READY_TIMEOUT:.0f})"),
    "--pull-timeout": dict(metavar="SECONDS", type=float, default=PULL_TIMEOUT,
        help="how long a board's pull of one image may take, and how long the registry may stay silent on one "
        f"of the harness's own requests; past it the test fails naming the registry (default: {PULL_TIMEOUT:.0f})"),
}


def add_options(parser: pytest.Parser) -> None:
    """The rvconform option group."""
    group = parser.getgroup("rvconform", "rvconform: riscv64 image conformance")
    for flag, arguments in OPTIONS.items():
        group.addoption(flag, **arguments)


def given_options(config: pytest.Config) -> list[str]:
    """The rvconform options this pytest run sets to something other than their default."""
    return [flag for flag, arguments in OPTIONS.items()
            if config.getoption(flag.removeprefix("--").replace("-", "_")) != arguments.get("default")]


def read_settings(config: pytest.Config) -> Settings:
    """Build Settings from the options; raise pytest.UsageError with the fix for bad input."""
    try:
        recipes_dir = _recipes_dir(config)
        return Settings(
            recipes_dir=recipes_dir,
            recipe_names=_names(config.getoption("recipe")),
            images=_images(config.getoption("image")),
            registry_url=_url(config.getoption("registry"), "--registry", "http://HOST:5000"),
            registry_address=_host_port(config.getoption("registry_address")),
            registry_ca=parse_ca_options(config.getoption("registry_ca")),
            registry_http=tuple(config.getoption("registry_http")),
            registry_tls=config.getoption("registry_tls"),
            registry_auth=config.getoption("registry_auth"),
            boards=_boards(config.getoption("board")),
            builder=_builder(config.getoption("builder")),
            reports_dir=_directory(config.getoption("reports"), "--reports"),
            bases=config.getoption("bases"),
            mirror=str(_url(config.getoption("mirror"), "--mirror", DEBIAN_MIRROR, bare=False)),
            build_timeout=_seconds(config.getoption("build_timeout"), "--build-timeout"),
            ready_timeout=_seconds(config.getoption("ready_timeout"), "--ready-timeout"),
            pull_timeout=_seconds(config.getoption("pull_timeout"), "--pull-timeout"),
            size_history=_writable(config.getoption("size_history"), "--size-history"),
            baseline_branch=_branch(config.getoption("baseline_branch")),
            baseline_file=_existing(config.getoption("baseline"), "--baseline"),
            summary_file=_writable(config.getoption("summary"), "--summary", made=False),
            structure_tests=_structure_tests(config.getoption("structure_test"), recipes_dir),
        )
    except RvconformError as error:
        raise pytest.UsageError(str(error)) from None


def _seconds(value: float, option: str) -> float:
    """A deadline in seconds: positive and finite (a zero or negative one would check nothing and pass)."""
    if not 0 < value < float("inf"):
        raise RvconformError(f"{option} {value:g}: a deadline must be a positive number of seconds",
                             fix=f"give {option} a number above 0, e.g. {option} 120")
    return value


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _names(values: list[str]) -> tuple[str, ...]:
    if any(not value.strip() for value in values):
        raise RvconformError("--recipe was given an empty name", fix="write --recipe NAME, a recipe directory's name")
    return tuple(values)


def _url(value: str | None, option: str, example: str, bare: bool = True) -> str | None:
    """An http(s) URL with a host (a typo here would otherwise surface minutes later, as a failed build);
    ``bare``: HOST:PORT alone means http://HOST:PORT."""
    if value is None:
        return None
    parts = urlsplit(value if "://" in value or not bare else f"http://{value}")
    if parts.scheme not in ("http", "https") or not parts.hostname or _bad_port(parts):
        raise RvconformError(f"{option} {value!r} is not an http:// or https:// URL with a host",
                             fix=f"write it like {option} {example}")
    return value


def _bad_port(parts: SplitResult) -> bool:
    try:
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number in range)
    except ValueError:
        return True
    return False


def _host_port(value: str | None) -> str | None:
    host, sep, port = (value or "").rpartition(":")
    if value is not None and not (sep and host and port.isdigit() and 0 < int(port) < 65536):
        raise RvconformError(f"--registry-address {value!r} is not HOST:PORT",
                             fix="write how the boards reach the registry, e.g. --registry-address 10.0.2.2:5000")
    return value


def _branch(value: str) -> str:
    if not value.strip() or any(c.isspace() for c in value):
        raise RvconformError(f"--baseline-branch {value!r} is not a branch name",
                             fix="name the branch whose last size record is the baseline, e.g. --baseline-branch main")
    return value


def _directory(value: str | None, option: str) -> Path | None:
    """A directory to write into: it may not exist yet, but it must not be a file."""
    if value and Path(value).exists() and not Path(value).is_dir():
        raise RvconformError(f"{option} {value}: is a file, not a directory",
                             fix=f"give {option} a directory (it is created when missing)")
    return _path(value)


def _writable(value: str | None, option: str, made: bool = True) -> Path | None:
    """A file the run appends to at its end: checked now, so a typo does not cost the whole run's record.
    ``made``: missing folders on the way are created then (else the folder must exist now)."""
    path = _path(value)
    if path is None:
        return None
    if path.is_dir():
        raise RvconformError(f"{option} {value}: is a directory, not a file", fix=f"give {option} a file path")
    folder = next((parent for parent in path.parents if parent.exists()), None) if made else path.parent
    if folder is None or not folder.is_dir() or not os.access(folder, os.W_OK):
        raise RvconformError(f"{option} {value}: cannot be written (no folder {folder} to write in)",
                             fix=f"give {option} a path in a folder you can write to")
    return path


def _existing(value: str | None, option: str) -> Path | None:
    if value and not Path(value).is_file():
        raise RvconformError(f"{option} {value}: no such file", fix="give the path of a sizes.json from an earlier run")
    return _path(value)


def _recipes_dir(config: pytest.Config) -> Path:
    given = config.getoption("recipes")
    if given:
        return Path(given)
    here = Path(RECIPES_DIR)
    return here if here.is_dir() else config.rootpath / RECIPES_DIR


def _images(values: list[str]) -> dict[str, ImageRef]:
    images = {}
    for value in values:
        name, sep, ref = value.partition("=")
        if not sep or not name or not ref:
            raise RvconformError(f"--image {value!r} is not NAME=REF",
                                 fix="write --image redis=HOST:PORT/riscv64/redis:TAG")
        images[name] = ImageRef.parse(ref)
    return images


def _structure_tests(values: list[str], recipes_dir: Path) -> tuple[StructureTestFile, ...]:
    """The --structure-test files, each read once now so that a bad one stops the run before it starts."""
    files = tuple(StructureTestFile.parse(value) for value in values)
    for file in files:
        if not file.path.is_file():
            raise RvconformError(f"--structure-test {file.path}: no such file",
                                 fix="give the path of a container-structure-test YAML or JSON file")
        if file.recipe is not None and not (recipes_dir / file.recipe / RECIPE_FILE).is_file():
            raise RvconformError(f"--structure-test {file.recipe}={file.path}: there is no recipe {file.recipe!r} "
                                 f"in {recipes_dir}", fix="name a recipe directory there, or give the FILE alone "
                                 "for every selected recipe")
        load_structure_test(file.path)
    return files


def _builder(value: str | None) -> str | None:
    """A board URL to build on; ``local`` is refused: building here is what a run does without --builder."""
    if value is None:
        return None
    if validate_board_url(value) == "local":
        raise RvconformError("--builder local: building on this machine is the default",
                             fix="give a board URL to build on (--builder qemu, or --builder ssh://USER@HOST...), "
                             "or leave --builder out")
    return value


def _boards(values: list[str]) -> tuple[str, ...]:
    boards = tuple(dict.fromkeys(values)) or ("local",)
    for url in boards:
        validate_board_url(url)
    return boards
