"""Recipes: a directory with a Dockerfile, its files and a small declarative ``image.toml``.

The format is documented in ``fixtures/images/README.md``. Loading validates everything up
front, so a malformed recipe fails in the first second with the file, the key and the fix.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.checks import toml_checks
from harness.checks.cst import StructureTestFile, find_structure_tests, load_structure_test
from harness.checks.spec import DeclaredChecks, Readiness
from harness.defaults import RECIPES_DIR
from harness.errors import RecipeError
from harness.units import parse_size

RECIPE_FILE = "image.toml"
FORMAT_DOC = f"{RECIPES_DIR}/README.md"
#: Each built-in check profile's keys: name -> (required, what the value must be).
PROFILE_KEYS: dict[str, dict[str, tuple[bool, str]]] = {
    "redis": {"password": (True, "the password AUTH must accept, a string")},
    "nginx": {"heading": (True, "the <h1> text GET / must return, a string")},
    "redis-cli": {"server": (False, "the name of the redis recipe it talks to, a string")},
}
PROFILES = tuple(PROFILE_KEYS)
BASE_PLATFORMS = ("target", "build")
_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TOP_KEYS = {"tag", "platform", "platforms", "dockerfile", "target", "port", "build", "bases", "sources", "checks",
             "budget", "allowed_variants", "expect", "ready"}
_EXPECT_KEYS = {"user", "cmd", "entrypoint", "oci_labels"}


@dataclass(frozen=True)
class Source:
    """A file fetched once into the cache, verified by sha256 and placed in the build context."""

    url: str
    sha256: str
    file: str
    #: The one platform whose build gets this file (None: every platform's), e.g. a per-architecture .deb.
    platform: str | None = None


@dataclass(frozen=True)
class BaseSpec:
    """A base image that a build arg names, made from a Debian mirror by `rvconform bootstrap`.

    ``platform`` is "target" (the recipe's platform, riscv64) or "build" (the host's, for
    cross-compiling builder stages).
    """

    distribution: str
    suite: str
    platform: str = "target"

    @property
    def official(self) -> str:
        """The Docker Hub name the Dockerfile would use on a connected machine."""
        return f"{self.distribution}:{self.suite}"


@dataclass(frozen=True)
class Budget:
    """Size limits: absolute bytes, and growth allowed against a baseline; ``None`` means no limit."""

    unpacked: int | None = None
    compressed: int | None = None
    growth_bytes: int | None = None
    growth_percent: float | None = None


@dataclass(frozen=True)
class Expect:
    """Image config metadata the recipe declares; ``None`` means "not checked"."""

    user: str | None = None
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    oci_labels: bool = False


@dataclass(frozen=True)
class Recipe:
    """One image recipe, as declared by its directory's image.toml."""

    name: str
    dir: Path
    dockerfile: Path
    target: str | None = None
    tag: str = "latest"
    #: The platform this recipe (or this view of a multi-platform recipe, see ``for_platform``) is about.
    platform: str = "linux/riscv64"
    #: Every platform the recipe declares; more than one means one image index under the tag.
    platforms: tuple[str, ...] = ("linux/riscv64",)
    port: int | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    bases: dict[str, BaseSpec] = field(default_factory=dict)
    sources: tuple[Source, ...] = ()
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    budget: Budget = Budget()
    allowed_variants: tuple[str, ...] = ()
    expect: Expect = Expect()
    declared: DeclaredChecks = field(default_factory=DeclaredChecks)
    ready: Readiness | None = None

    def __hash__(self) -> int:
        # Hashable (equal recipes hash alike), so pytest orders the suites' tests recipe by recipe: it groups
        # session-scoped parameters by value only when the value hashes, else by their index in each test's
        # own list, which differs between tests whose recipes are filtered differently; then every switch of
        # recipe tore down and set up its build, pull and container again.
        return hash((self.name, self.dir, self.platform))

    @property
    def repository(self) -> str:
        """Repository path in a registry, e.g. ``riscv64/redis``: named after the first declared platform, so
        every platform's view of a multi-platform recipe shares it (an index refers within one repository)."""
        return f"{self.platforms[0].split('/')[1]}/{self.name}"

    @property
    def multi_platform(self) -> bool:
        """Whether the recipe declares several platforms (its tag is then an image index)."""
        return len(self.platforms) > 1

    @property
    def architecture(self) -> str:
        """The architecture of this view's platform: ``riscv64`` for linux/riscv64."""
        return self.platform.split("/")[1]

    @property
    def view_id(self) -> str:
        """The test id of this view: the name, with ``-ARCH`` for a multi-platform recipe (busybox-amd64)."""
        return f"{self.name}-{self.architecture}" if self.multi_platform else self.name

    @property
    def platform_sources(self) -> tuple[Source, ...]:
        """The sources this view's build uses: those for every platform and those for its own."""
        return tuple(source for source in self.sources if source.platform in (None, self.platform))

    def for_platform(self, platform: str) -> Recipe:
        """This recipe seen for one of its declared platforms (its build, its index entry, its boards)."""
        if platform not in self.platforms:
            raise RecipeError(f"recipe '{self.name}' does not declare {platform} (it declares "
                              f"{', '.join(self.platforms)})", fix=f"add it to 'platforms' in {self.dir / RECIPE_FILE}")
        return replace(self, platform=platform)

    def views(self) -> list[Recipe]:
        """One view per declared platform (just the recipe itself for a single-platform one)."""
        return [self.for_platform(platform) for platform in self.platforms]

    @property
    def is_service(self) -> bool:
        """Whether the image is a service that runs in a container of its own (it has a port or a ``ready``)."""
        return self.port is not None or self.ready is not None

    def check(self, profile: str) -> dict[str, Any] | None:
        """Parameters of a functional check profile, or ``None`` when it does not apply."""
        return self.checks.get(profile)


class _Reader:
    """Reads typed values out of one parsed image.toml, raising errors that name file and key."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    def fail(self, key: str, expected: str, got: Any) -> RecipeError:
        return RecipeError(
            f"{self.path}: '{key}' must be {expected}, got {got!r}",
            fix=f"edit {self.path.name}; the format is described in {FORMAT_DOC}",
        )

    def get(self, table: dict[str, Any], key: str, kind: type, expected: str, default: Any = None) -> Any:
        value = table.get(key, default)
        if value is not default and not isinstance(value, kind):
            raise self.fail(key, expected, value)
        return value


def load_recipe(recipe_dir: Path) -> Recipe:
    """Load and validate the recipe in ``recipe_dir``."""
    recipe_dir = Path(recipe_dir)
    name = recipe_dir.name
    path = recipe_dir / RECIPE_FILE
    if not path.is_file():
        raise RecipeError(
            f"recipe '{name}': {path} is missing",
            fix=f"add an image.toml (see {FORMAT_DOC}), or leave '{name}' out of --recipes",
        )
    if not _NAME.match(name):
        raise RecipeError(
            f"recipe directory name '{name}' is not a valid image name",
            fix="use lower-case letters, digits and single '.', '_' or '-' between them",
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise RecipeError(
            f"{path} is not valid TOML: {error}", fix=f"fix the syntax; the format is in {FORMAT_DOC}"
        ) from None
    recipe = _build_recipe(_Reader(path, data), recipe_dir)
    own = [StructureTestFile(cst) for cst in find_structure_tests(recipe_dir)]
    return with_structure_tests(recipe, own, include_own=True)


def with_structure_tests(recipe: Recipe, files: Iterable[StructureTestFile], include_own: bool = False) -> Recipe:
    """``recipe`` with the checks of those container-structure-test ``files`` that are for it (their
    ``recipe`` is its name, or None) merged into ``declared``. The recipe directory's own CST files are
    already in a loaded recipe, so they are skipped unless ``include_own``. RecipeError for a bad file
    or a check name declared twice (naming both origins)."""
    own = set() if include_own else {path.resolve() for path in find_structure_tests(recipe.dir)}
    declared = recipe.declared
    for file in files:
        if file.recipe in (None, recipe.name) and file.path.resolve() not in own:
            declared = declared.merged(load_structure_test(file.path))
    return replace(recipe, declared=declared)


def _build_recipe(reader: _Reader, recipe_dir: Path) -> Recipe:
    data = reader.data
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise reader.fail(unknown[0], f"one of {', '.join(sorted(_TOP_KEYS))}", unknown[0])
    dockerfile = (recipe_dir / reader.get(data, "dockerfile", str, "a path", "Dockerfile")).resolve()
    if not dockerfile.is_file():
        raise RecipeError(
            f"recipe '{recipe_dir.name}': its Dockerfile {dockerfile} is missing",
            fix=f"add {dockerfile.name} to {recipe_dir}, or name another file with 'dockerfile' "
            "in image.toml",
        )
    port = _port(reader)
    ready = toml_checks.parse_ready(reader, data.get("ready"), port)
    checks = reader.get(data, "checks", dict, "a table of [checks.PROFILE] tables and [[checks.KIND]] arrays", {})
    platforms = parse_platforms(reader)
    declared = toml_checks.parse_declared(reader, checks, port, ready)
    _check_platform_filters(reader, declared, platforms)
    return Recipe(
        name=recipe_dir.name,
        dir=recipe_dir,
        dockerfile=dockerfile,
        target=reader.get(data, "target", str, "a stage name"),
        tag=_tag(reader),
        platform=platforms[0],
        platforms=platforms,
        port=port,
        build_args=_build_args(reader),
        bases=_bases(reader),
        sources=_sources(reader, platforms),
        checks=_profiles(reader, checks, ready),
        budget=_budget(reader),
        allowed_variants=_allowed_variants(reader),
        expect=_expect(reader),
        declared=declared,
        ready=ready,
    )


def _tag(reader: _Reader) -> str:
    tag = reader.get(reader.data, "tag", str, "a string", "latest")
    if not _TAG.match(tag):
        raise reader.fail("tag", "a valid image tag (letters, digits, '_', '.', '-')", tag)
    return tag


def parse_platforms(reader: _Reader) -> tuple[str, ...]:
    """``platforms = [...]`` or ``platform = "..."`` (not both); linux/riscv64 when neither is given."""
    data = reader.data
    if "platform" in data and "platforms" in data:
        raise RecipeError(f"{reader.path}: both 'platform' and 'platforms' are set",
                          fix='keep one: platform = "linux/riscv64" for one platform, or platforms = '
                          '["linux/riscv64", "linux/amd64"] for an image index')
    if "platforms" in data:
        platforms = data["platforms"]
        if not isinstance(platforms, list) or not platforms:
            raise reader.fail("platforms", 'a non-empty array such as ["linux/riscv64", "linux/amd64"]', platforms)
        for platform in platforms:
            _check_platform(reader, "platforms", platform)
        duplicates = sorted({p for p in platforms if platforms.count(p) > 1})
        if duplicates:
            raise reader.fail("platforms", "an array without repeats", duplicates[0])
        return tuple(platforms)
    platform = reader.get(data, "platform", str, "a string", "linux/riscv64")
    _check_platform(reader, "platform", platform)
    return (platform,)


def _check_platform(reader: _Reader, key: str, platform: Any) -> None:
    if not isinstance(platform, str) or platform.count("/") not in (1, 2) or not platform.startswith("linux/") \
            or "" in platform.split("/"):
        raise reader.fail(key, "a platform such as linux/riscv64 (os/architecture[/variant])", platform)


def _check_platform_filters(reader: _Reader, declared: DeclaredChecks, platforms: tuple[str, ...]) -> None:
    """A check's ``platforms`` may name only platforms the recipe declares."""
    for check in (*declared.command, *declared.exec):
        unknown = [p for p in check.platforms if p not in platforms]
        if unknown:
            raise reader.fail(f"checks: {check.name!r}.platforms", f"platforms the recipe declares "
                              f"({', '.join(platforms)})", unknown[0])


def _port(reader: _Reader) -> int | None:
    port = reader.data.get("port")
    if port is None:
        return None
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise reader.fail("port", "an integer between 1 and 65535", port)
    return port


def _build_args(reader: _Reader) -> dict[str, str]:
    build = reader.get(reader.data, "build", dict, "a table", {})
    args = reader.get(build, "args", dict, "a table of NAME = \"value\"", {})
    for key, value in args.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise reader.fail(f"build.args.{key}", "a string or number", value)
    return {key: str(value) for key, value in args.items()}


def _bases(reader: _Reader) -> dict[str, BaseSpec]:
    bases = reader.get(reader.data, "bases", dict, "a table of ARG = \"debian:SUITE\"", {})
    return {arg: _base(reader, arg, value) for arg, value in bases.items()}


def _base(reader: _Reader, arg: str, value: Any) -> BaseSpec:
    key = f"bases.{arg}"
    spec = {"image": value} if isinstance(value, str) else value
    if not isinstance(spec, dict):
        raise reader.fail(key, 'a string like "debian:sid" or a table with image and platform', value)
    image = spec.get("image", "")
    platform = spec.get("platform", "target")
    distribution, _, suite = str(image).partition(":")
    if distribution != "debian" or not suite:
        raise reader.fail(f"{key}.image", 'a Debian base such as "debian:sid"', image)
    if platform not in BASE_PLATFORMS:
        raise reader.fail(f"{key}.platform", '"target" or "build"', platform)
    return BaseSpec(distribution=distribution, suite=suite, platform=platform)


def _sources(reader: _Reader, platforms: tuple[str, ...]) -> tuple[Source, ...]:
    sources = reader.get(reader.data, "sources", list, "an array of tables ([[sources]])", [])
    result = []
    for index, entry in enumerate(sources):
        key = f"sources[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise reader.fail(f"{key}.url", "a URL string", entry)
        sha256 = str(entry.get("sha256", "")).lower()
        if not _SHA256.match(sha256):
            raise reader.fail(f"{key}.sha256", "64 hex digits (sha256sum of the file)", entry.get("sha256"))
        file = entry.get("file") or entry["url"].rstrip("/").rsplit("/", 1)[-1]
        if not isinstance(file, str) or "/" in file or file in ("", ".", ".."):
            raise reader.fail(f"{key}.file", "a plain file name", file)
        platform = entry.get("platform")
        if platform is not None and platform not in platforms:
            raise reader.fail(f"{key}.platform", f"one of the recipe's platforms ({', '.join(platforms)})", platform)
        result.append(Source(url=entry["url"], sha256=sha256, file=file, platform=platform))
    return tuple(result)


def _profiles(reader: _Reader, checks: dict[str, Any], ready: Readiness | None) -> dict[str, dict[str, Any]]:
    """The built-in profiles of the [checks] table (its generic kinds are read by ``toml_checks``)."""
    profiles = {}
    for profile, params in checks.items():
        if profile in toml_checks.KINDS:
            continue
        if profile not in PROFILES:
            raise reader.fail(f"checks.{profile}", f"a built-in profile ({', '.join(PROFILES)}) or a generic "
                              f"kind ({', '.join(toml_checks.KINDS)})", profile)
        if not isinstance(params, dict):
            raise reader.fail(f"checks.{profile}", "a table", params)
        profiles[profile] = _profile_params(reader, profile, params)
    if ("redis" in profiles or "nginx" in profiles) and reader.data.get("port") is None:
        raise reader.fail("port", "set for a recipe with redis or nginx checks (the service port)", None)
    if ready is not None and ("redis" in profiles or "nginx" in profiles):
        raise reader.fail("ready", "left out: the redis and nginx profiles have their own readiness",
                          reader.data.get("ready"))
    return profiles


def _profile_params(reader: _Reader, profile: str, params: dict[str, Any]) -> dict[str, Any]:
    """A built-in profile's parameters: only its own keys, each a non-empty string, the required ones there."""
    keys = PROFILE_KEYS[profile]
    known = ", ".join(sorted(keys))
    for key in sorted(params):
        if key not in keys:
            raise reader.fail(f"checks.{profile}.{key}", f"one of the keys of [checks.{profile}]: {known}", key)
    for key, (required, what) in keys.items():
        value = params.get(key)
        if value is None and not required:
            continue
        if value is None:
            raise RecipeError(f"{reader.path}: [checks.{profile}] has no '{key}' ({what})",
                              fix=f"add {key} = \"...\" under [checks.{profile}]; the format is in {FORMAT_DOC}")
        if not isinstance(value, str) or not value:
            raise reader.fail(f"checks.{profile}.{key}", what, value)
    return params


def _budget(reader: _Reader) -> Budget:
    budget = reader.get(reader.data, "budget", dict, "a table", {})
    keys = ("unpacked", "compressed", "growth_bytes", "growth_percent")
    unknown = sorted(set(budget) - set(keys))
    if unknown:
        raise reader.fail(f"budget.{unknown[0]}", f"one of {', '.join(keys)}", unknown[0])
    limits: dict[str, int | float | None] = {}
    for kind in ("unpacked", "compressed", "growth_bytes"):
        value = budget.get(kind)
        try:
            limits[kind] = None if value is None else parse_size(value)
        except ValueError as error:
            raise reader.fail(f"budget.{kind}", "a size such as \"12 MB\"", value) from error
    percent = budget.get("growth_percent")
    if percent is not None and (isinstance(percent, bool) or not isinstance(percent, int | float) or percent < 0):
        raise reader.fail("budget.growth_percent", "a number of percent such as 10", percent)
    return Budget(**limits, growth_percent=None if percent is None else float(percent))


def _allowed_variants(reader: _Reader) -> tuple[str, ...]:
    variants = reader.get(reader.data, "allowed_variants", list, "an array of variant names", [])
    if not all(isinstance(v, str) and v for v in variants):
        raise reader.fail("allowed_variants", 'an array of variant names such as ["rva23"]', variants)
    return tuple(variants)


def _expect(reader: _Reader) -> Expect:
    expect = reader.get(reader.data, "expect", dict, "a table", {})
    unknown = sorted(set(expect) - _EXPECT_KEYS)
    if unknown:
        raise reader.fail(f"expect.{unknown[0]}", f"one of {', '.join(sorted(_EXPECT_KEYS))}", unknown[0])
    commands = {}
    for key in ("cmd", "entrypoint"):
        value = expect.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise reader.fail(f"expect.{key}", 'an array of strings such as ["redis-server", "/etc/redis.conf"]', value)
        commands[key] = None if value is None else tuple(value)
    user = reader.get(expect, "user", str, 'a string such as "999:999"')
    labels = reader.get(expect, "oci_labels", bool, "true or false", False)
    return Expect(user=user, oci_labels=labels, **commands)


def load_recipes(recipes_dir: Path, names: list[str] | None = None) -> list[Recipe]:
    """Load the recipes under ``recipes_dir`` (every subdirectory with an image.toml), or only ``names``."""
    recipes_dir = Path(recipes_dir)
    if not recipes_dir.is_dir():
        what = "is a file, not a directory" if recipes_dir.exists() else "does not exist"
        raise RecipeError(
            f"recipes directory {recipes_dir} {what}",
            fix="point --recipes at a directory holding one sub-directory per recipe",
        )
    available = sorted(p.name for p in recipes_dir.iterdir() if (p / RECIPE_FILE).is_file())
    if not available and not names:
        raise RecipeError(
            f"no recipe in {recipes_dir}: none of its sub-directories has an {RECIPE_FILE}",
            fix="point --recipes at a directory holding one sub-directory per recipe (NAME/Dockerfile and "
            f"NAME/{RECIPE_FILE})",
        )
    if names:
        missing = [n for n in names if n not in available and not (recipes_dir / n).is_dir()]
        if missing:
            raise RecipeError(
                f"no recipe named {', '.join(missing)} in {recipes_dir}",
                fix=f"choose from: {', '.join(available) or '(none)'}",
            )
        return [load_recipe(recipes_dir / n) for n in names]
    return [load_recipe(recipes_dir / n) for n in available]
