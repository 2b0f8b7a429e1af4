"""container-structure-test (CST) files, schemaVersion 1.0.0 and 2.0.0, YAML or JSON, read into the data of
``harness.checks.spec`` so that teams' existing files run unchanged on riscv64 boards.

``commandTests`` become CommandChecks (the entrypoint cleared, as CST does; ``globalEnvVars`` then the test's
``envVars``; ``containerRunOptions.user`` and ``.envVars``), ``fileExistenceTests`` and ``fileContentTests``
FileChecks, ``metadataTest`` one MetadataCheck named "metadataTest". A key CST does not know, or one rvconform
does not run (``licenseTests``, most ``containerRunOptions``), is an error naming the file, the test (index and
name), the key and the fields that are known. Environment values may name the image's variables (``$PATH``),
as in CST: ``spec.expand_variables`` expands them against the image config when the check runs.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checks.modes import FORMS, parse_mode
from harness.checks.spec import (
    CommandCheck,
    DeclaredChecks,
    FileCheck,
    MetadataCheck,
    TextExpectation,
    ValueExpectation,
)
from harness.errors import RecipeError

FILE_NAMES = ("structure-test.yaml", "structure-test.yml", "structure-test.json")
FILE_PATTERN = "*.structure-test.yaml"
SCHEMA_VERSIONS = ("1.0.0", "2.0.0")
METADATA_NAME = "metadataTest"
EXECUTABLE_BY = ("any", "owner", "group", "other")
DOC = "https://github.com/GoogleContainerTools/container-structure-test#readme (and fixtures/images/README.md)"

_V1_TOP = ("schemaVersion", "globalEnvVars", "commandTests", "fileExistenceTests", "fileContentTests")
_V1_COMMAND = ("name", "setup", "teardown", "envVars", "exitCode", "command", "expectedOutput", "excludedOutput",
               "expectedError", "excludedError")
_V1_EXISTENCE = ("name", "path", "shouldExist", "permissions")
#: The fields CST reads, per schema version and section.
FIELDS = {
    "1.0.0": {"top": _V1_TOP, "commandTests": _V1_COMMAND, "fileExistenceTests": _V1_EXISTENCE,
              "fileContentTests": ("name", "path", "expectedContents", "excludedContents")},
    "2.0.0": {"top": (*_V1_TOP, "metadataTest", "containerRunOptions"), "commandTests": (*_V1_COMMAND, "args"),
              "fileExistenceTests": (*_V1_EXISTENCE, "uid", "gid", "isExecutableBy"),
              "fileContentTests": ("name", "path", "expectedContents", "excludedContents"),
              "metadataTest": ("env", "envVars", "labels", "exposedPorts", "unexposedPorts", "volumes",
                               "unmountedVolumes", "entrypoint", "cmd", "workdir", "user"),
              "containerRunOptions": ("user", "envVars")},
}
#: CST keys rvconform does not run (yet): an error, never silently skipped.
UNSUPPORTED = {
    "top": ("licenseTests",),
    "metadataTest": ("unboundEnv", "unboundEnvVars"),
    "containerRunOptions": ("privileged", "allocateTty", "envFile", "capabilities", "bindMounts"),
}


_RECIPE_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")


@dataclass(frozen=True)
class StructureTestFile:
    """A CST file given with ``--structure-test``: for the recipe ``recipe``, or for every selected recipe
    when ``recipe`` is None."""

    path: Path
    recipe: str | None = None

    @classmethod
    def parse(cls, value: str) -> StructureTestFile:
        """``FILE`` or ``RECIPE=FILE`` (a file whose own name holds "=" is taken whole when it exists)."""
        recipe, sep, path = value.partition("=")
        if sep and _RECIPE_NAME.match(recipe) and path and not Path(value).exists():
            return cls(Path(path), recipe)
        return cls(Path(value))


def find_structure_tests(recipe_dir: Path) -> list[Path]:
    """The CST files of a recipe directory: FILE_NAMES, then FILE_PATTERN matches, sorted."""
    named = [recipe_dir / name for name in FILE_NAMES if (recipe_dir / name).is_file()]
    return named + sorted(p for p in recipe_dir.glob(FILE_PATTERN) if p.is_file())


def load_structure_test(path: Path) -> DeclaredChecks:
    """The checks of the CST file at ``path`` (JSON when it ends in .json, else YAML)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RecipeError(f"container-structure-test file {path} cannot be read: {error}",
                          fix="give the path of a readable YAML or JSON file") from None
    return parse_structure_test(text, str(path), as_json=path.suffix == ".json")


def parse_structure_test(text: str, source: str, as_json: bool = False) -> DeclaredChecks:
    """The checks of a CST file's ``text``; ``source`` names it in errors and becomes each check's origin."""
    document = _parse(text, source, as_json)
    if not isinstance(document, dict):
        raise RecipeError(f"{source}: a container-structure-test file must be a mapping with schemaVersion and "
                          f"tests, found {type(document).__name__}", fix=f'start it with schemaVersion: "2.0.0"; {DOC}')
    version = document.get("schemaVersion")
    if version is None:
        raise RecipeError(f"{source}: schemaVersion is missing",
                          fix=f'add schemaVersion: "2.0.0" (or "1.0.0" for a version 1 file) at the top; {DOC}')
    if version not in SCHEMA_VERSIONS:
        raise RecipeError(f"{source}: schemaVersion {version!r} is not supported",
                          fix=f"rvconform reads schemaVersion {' and '.join(SCHEMA_VERSIONS)} (quote it: "
                          f'schemaVersion: "2.0.0")')
    return _File(source, version).checks(document)


def _parse(text: str, source: str, as_json: bool) -> Any:
    if as_json:
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise RecipeError(f"{source} line {error.lineno}: not valid JSON: {error.msg}",
                              fix="fix the syntax (or name the file .yaml to have it read as YAML)") from None
    import yaml  # loaded with the first structure-test file: most runs have none

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = ", ".join(filter(None, (getattr(error, "context", None), getattr(error, "problem", None))))
        where = f"{source} line {mark.line + 1}" if mark else source
        raise RecipeError(f"{where}: not valid YAML: {problem or error}", fix="fix the YAML syntax") from None


class _File:
    """One CST file being read: its name, its schema version and the test names seen so far."""

    def __init__(self, source: str, version: str) -> None:
        self.source, self.version = source, version
        self.fields = FIELDS[version]
        self.names: dict[str, str] = {}

    def fail(self, where: str, problem: str, section: str | None = None) -> RecipeError:
        known = f"{section} fields (schemaVersion {self.version}): {', '.join(self.fields[section])}" if section else ""
        fix = f"the {known}; {DOC}" if known else DOC
        return RecipeError(f"{self.source}: {where}: {problem}", fix=fix)

    def checks(self, document: dict[str, Any]) -> DeclaredChecks:
        self.known(document, "top", "the file")
        options = self.section(document, "containerRunOptions", dict, {})
        self.known(options, "containerRunOptions", "containerRunOptions")
        run = _RunOptions(self, options)
        global_env = self.env_vars(document.get("globalEnvVars"), "globalEnvVars", required_value=True)
        commands = tuple(self.command(test, global_env, run) for test in self.tests(document, "commandTests"))
        files = [self.existence(test) for test in self.tests(document, "fileExistenceTests")]
        files += [self.content(test) for test in self.tests(document, "fileContentTests")]
        metadata = self.metadata(self.section(document, "metadataTest", dict, {}))
        return DeclaredChecks(command=commands, file=tuple(files), metadata=metadata)

    # Shapes

    def known(self, table: dict[str, Any], section: str, where: str) -> None:
        for key in table:
            if key in UNSUPPORTED.get(section, ()):
                raise self.fail(where, f"{key!r} is a container-structure-test key that rvconform does not run",
                                section)
            if key not in self.fields[section]:
                raise self.fail(where, f"unknown key {key!r}", section)

    def section(self, table: dict[str, Any], key: str, kind: type, default: Any) -> Any:
        value = table.get(key)
        if value is None:
            return default
        if not isinstance(value, kind):
            shape = "a list of tests (- name: ...)" if kind is list else "a mapping of KEY: VALUE"
            raise self.fail(key, f"must be {shape}, found {value!r}")
        return value

    def tests(self, document: dict[str, Any], section: str) -> list[tuple[str, dict[str, Any]]]:
        tests = []
        for index, test in enumerate(self.section(document, section, list, [])):
            if not isinstance(test, dict):
                raise self.fail(f"{section}[{index}]", f"must be a mapping (name: ..., ...), found {test!r}", section)
            where = f"{section}[{index}] ({test.get('name')!r})"
            self.known(test, section, where)
            self.name(where, test, section)
            tests.append((where, test))
        return tests

    def name(self, where: str, test: dict[str, Any], section: str) -> None:
        name = test.get("name")
        if not isinstance(name, str) or not name.strip():
            raise self.fail(where, "every test needs a non-empty name", section)
        if name in self.names:
            raise self.fail(where, f"the name {name!r} is also {self.names[name]}'s; rvconform reports each test "
                            "by its name, so names must be unique in a recipe", section)
        self.names[name] = where.split(" ")[0]

    # Tests

    def command(self, entry: tuple[str, dict[str, Any]], global_env: dict[str, str], run: _RunOptions
                ) -> CommandCheck:
        where, test = entry
        if self.version == "1.0.0":
            command = self.strings(where, test, "command", "commandTests")
            if not command:
                raise self.fail(where, "command must be a non-empty list such as [\"uname\", \"-m\"]", "commandTests")
        else:
            head = test.get("command")
            if not isinstance(head, str) or not head:
                raise self.fail(where, f"command must be the program to run, a string (its arguments go in args), "
                                f"found {head!r}", "commandTests")
            command = [head, *self.strings(where, test, "args", "commandTests")]
        exit_code = test.get("exitCode", 0)
        if isinstance(exit_code, bool) or not isinstance(exit_code, int):
            raise self.fail(where, f"exitCode must be an integer, found {exit_code!r}", "commandTests")
        env = {**global_env, **run.env, **self.env_vars(test.get("envVars"), f"{where}.envVars", True)}
        return CommandCheck(
            name=test["name"], origin=self.source, command=tuple(command), entrypoint=(), env=env, user=run.user,
            exit_code=exit_code,
            stdout=self.text(where, test, "expectedOutput", "excludedOutput", "commandTests"),
            stderr=self.text(where, test, "expectedError", "excludedError", "commandTests"),
            setup=self.commands(where, test, "setup"), teardown=self.commands(where, test, "teardown"),
        )

    def existence(self, entry: tuple[str, dict[str, Any]]) -> FileCheck:
        where, test = entry
        section = "fileExistenceTests"
        exists = test.get("shouldExist", True)
        if not isinstance(exists, bool):
            raise self.fail(where, f"shouldExist must be true or false, found {exists!r}", section)
        mode = test.get("permissions")
        if mode is not None:
            try:
                parse_mode(mode if isinstance(mode, str) else "")
            except ValueError:
                raise self.fail(where, f"permissions must be {FORMS}, found {mode!r}", section) from None
        executable_by = test.get("isExecutableBy")
        if executable_by is not None and executable_by not in EXECUTABLE_BY:
            raise self.fail(where, f"isExecutableBy must be one of {', '.join(EXECUTABLE_BY)}, found "
                            f"{executable_by!r}", section)
        return FileCheck(name=test["name"], origin=self.source, path=self.path(where, test, section), exists=exists,
                         mode=mode, uid=self.owner(where, test, "uid"), gid=self.owner(where, test, "gid"),
                         executable_by=executable_by)

    def content(self, entry: tuple[str, dict[str, Any]]) -> FileCheck:
        where, test = entry
        section = "fileContentTests"
        return FileCheck(name=test["name"], origin=self.source, path=self.path(where, test, section),
                         content=self.text(where, test, "expectedContents", "excludedContents", section))

    def metadata(self, test: dict[str, Any]) -> tuple[MetadataCheck, ...]:
        section = "metadataTest"
        if not test:
            return ()
        self.known(test, section, section)
        self.name(section, {"name": METADATA_NAME}, section)
        if "env" in test and "envVars" in test:
            raise self.fail(section, "env and envVars are the same list (older and newer CST); keep one", section)
        env = test.get("envVars", test.get("env"))
        optional = {key: None if test.get(key) is None else tuple(self.strings(section, test, key, section))
                    for key in ("entrypoint", "cmd")}
        return (MetadataCheck(
            name=METADATA_NAME, origin=self.source, env=self.expectations(env, f"{section}.envVars"),
            labels=self.expectations(test.get("labels"), f"{section}.labels"),
            exposed_ports=self.words(test, "exposedPorts"), unexposed_ports=self.words(test, "unexposedPorts"),
            volumes=self.words(test, "volumes"), unmounted_volumes=self.words(test, "unmountedVolumes"),
            workdir=self.optional_string(section, test, "workdir"), user=self.optional_string(section, test, "user"),
            **optional,
        ),)

    # Values

    def strings(self, where: str, test: dict[str, Any], key: str, section: str) -> list[str]:
        value = test.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, f"{key} must be a list of strings (quote numbers), found {value!r}", section)
        return value

    def words(self, test: dict[str, Any], key: str) -> tuple[str, ...]:
        """A metadataTest list of ports or volumes; an unquoted port number is read as its text."""
        value = test.get(key) or []
        if not isinstance(value, list) or not all(_is_word(v) and str(v) for v in value):
            raise self.fail("metadataTest", f"{key} must be a list of non-empty strings, found {value!r}",
                            "metadataTest")
        return tuple(str(v) for v in value)

    def optional_string(self, where: str, test: dict[str, Any], key: str) -> str | None:
        value = test.get(key)
        if value is not None and not isinstance(value, str):
            raise self.fail(where, f"{key} must be a string, found {value!r}", "metadataTest")
        return value or None

    def path(self, where: str, test: dict[str, Any], section: str) -> str:
        path = test.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise self.fail(where, f"path must be an absolute path in the image, found {path!r}", section)
        return path

    def owner(self, where: str, test: dict[str, Any], key: str) -> int | None:
        value = test.get(key, -1)
        if isinstance(value, bool) or not isinstance(value, int) or value < -1:
            raise self.fail(where, f"{key} must be a numeric id (or -1: not checked), found {value!r}",
                            "fileExistenceTests")
        return None if value == -1 else value

    def commands(self, where: str, test: dict[str, Any], key: str) -> tuple[tuple[str, ...], ...]:
        value = test.get(key) or []
        if not isinstance(value, list) or not all(
                isinstance(c, list) and c and all(isinstance(a, str) for a in c) for c in value):
            raise self.fail(where, f'{key} must be a list of non-empty commands such as [["mkdir", "/x"]], found '
                            f"{value!r}", "commandTests")
        return tuple(tuple(command) for command in value)

    def text(self, where: str, test: dict[str, Any], found: str, absent: str, section: str) -> TextExpectation:
        return TextExpectation(found=self.regexes(where, test, found, section),
                               absent=self.regexes(where, test, absent, section))

    def regexes(self, where: str, test: dict[str, Any], key: str, section: str) -> tuple[str, ...]:
        patterns = self.strings(where, test, key, section)
        for pattern in patterns:
            self.regex(where, key, pattern)
        return tuple(patterns)

    def regex(self, where: str, key: str, pattern: str) -> None:
        try:
            re.compile(pattern)
        except re.error as error:
            raise RecipeError(f"{self.source}: {where}: {key} regex {pattern!r} does not compile as a Python "
                              f"regex: {error}", fix="fix the regex (CST's Go RE2 and Python agree on common "
                              "syntax: classes, groups, anchors, repetition)") from None

    def env_vars(self, value: Any, where: str, required_value: bool) -> dict[str, str]:
        """A CST list of {key, value} as a dict (values must be non-empty in commands, as CST demands)."""
        return {e.key: e.value for e in self.pairs(value, where, ("key", "value"), required_value)}

    def expectations(self, value: Any, where: str) -> tuple[ValueExpectation, ...]:
        pairs = self.pairs(value, where, ("key", "value", "isRegex"), required_value=False)
        for pair in pairs:
            if pair.is_regex:
                self.regex(f"{where} ({pair.key!r})", "value", pair.value)
        return tuple(pairs)

    def pairs(self, value: Any, where: str, fields: tuple[str, ...], required_value: bool
              ) -> list[ValueExpectation]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(where, f"must be a list of {{key: ..., value: ...}}, found {value!r}")
        pairs = []
        for index, item in enumerate(value):
            at = f"{where}[{index}]"
            if not isinstance(item, dict):
                raise self.fail(at, f"must be a mapping with {', '.join(fields)}, found {item!r}")
            for key in item:
                if key not in fields:
                    raise self.fail(at, f"unknown key {key!r}; the known ones are {', '.join(fields)}")
            key, text, is_regex = item.get("key"), item.get("value", ""), item.get("isRegex", False)
            if not isinstance(key, str) or not key:
                raise self.fail(at, f"key must be a non-empty string, found {key!r}")
            if not _is_word(text) or (required_value and text == ""):
                raise self.fail(at, f"value must be a{' non-empty' if required_value else ''} string, found {text!r}")
            if not isinstance(is_regex, bool):
                raise self.fail(at, f"isRegex must be true or false, found {is_regex!r}")
            pairs.append(ValueExpectation(key, str(text), is_regex))
        return pairs


class _RunOptions:
    """``containerRunOptions`` that rvconform applies to every command test: ``user``, and ``envVars``, the
    names of variables passed from rvconform's own environment (like ``docker run -e NAME``: unset ones
    are left out)."""

    def __init__(self, file: _File, options: dict[str, Any]) -> None:
        self.user = options.get("user")
        if self.user is not None and not (isinstance(self.user, str) and self.user):
            raise file.fail("containerRunOptions", f"user must be a non-empty string, found {self.user!r}",
                            "containerRunOptions")
        names = options.get("envVars") or []
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise file.fail("containerRunOptions", f"envVars must be a list of variable names, found {names!r}",
                            "containerRunOptions")
        self.env = {name: HostValue(os.environ[name]) for name in names if name in os.environ}


class HostValue(str):
    """A value taken from rvconform's own environment (``containerRunOptions.envVars``, often a token): the
    string itself where it is used, but never shown by ``repr``, so a check printed in a report or a
    traceback does not print it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'<from the environment>'"


def _is_word(value: Any) -> bool:
    """A string, or an unquoted integer YAML read as a number (CST, in Go, reads it as its text)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
