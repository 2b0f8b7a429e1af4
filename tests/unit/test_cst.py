"""container-structure-test files: schema 1.0.0 and 2.0.0, YAML and JSON, each test kind read into the spec
data; unknown and unsupported keys, bad values and name clashes name the file, the test and the known fields."""

import json
import re
from pathlib import Path

import pytest

from harness.checks.cst import (
    StructureTestFile,
    find_structure_tests,
    load_structure_test,
    parse_structure_test,
)
from harness.checks.modes import parse_mode
from harness.checks.spec import (
    CommandCheck,
    FileCheck,
    MetadataCheck,
    TextExpectation,
    ValueExpectation,
    expand_variables,
)
from harness.errors import RecipeError
from harness.recipes import load_recipe, with_structure_tests

V2 = r"""
schemaVersion: "2.0.0"
globalEnvVars:
  - key: VIRTUAL_ENV
    value: /env
  - key: PATH
    value: /env/bin:$PATH
containerRunOptions:
  user: "65534"
commandTests:
  - name: uname says riscv64
    setup: [["mkdir", "/x"], ["touch", "/x/y"]]
    teardown: [["rm", "-r", "/x"]]
    envVars:
      - key: LANG
        value: C
      - key: PATH
        value: /bin
    command: uname
    args: ["-m"]
    exitCode: 0
    expectedOutput: ["^riscv64$"]
    excludedOutput: ["x86_64"]
    expectedError: ["^$"]
    excludedError: ["Error"]
  - name: false fails
    command: "false"
    exitCode: 1
fileExistenceTests:
  - name: busybox
    path: /bin/busybox
    shouldExist: true
    permissions: "-rwxr-xr-x"
    uid: 0
    gid: 0
    isExecutableBy: any
  - name: no apt
    path: /usr/bin/apt
    shouldExist: false
  - name: tmp is sticky
    path: /tmp
    permissions: dtrwxrwxrwx
    uid: -1
fileContentTests:
  - name: passwd has root
    path: /etc/passwd
    expectedContents: ["^root:x:0:0:"]
    excludedContents: ["^toor:"]
metadataTest:
  envVars:
    - key: PATH
      value: /usr/bin
    - key: HOME
      value: "^/root$"
      isRegex: true
  labels:
    - key: org.opencontainers.image.version
      value: 1.36.1
    - key: org.opencontainers.image.created
      value: '^\d{4}-'
      isRegex: true
  exposedPorts: [8080, "53/udp"]
  unexposedPorts: ["22"]
  volumes: ["/data"]
  unmountedVolumes: ["/tmp"]
  entrypoint: []
  cmd: ["/bin/sh"]
  workdir: /app
  user: "1000:1000"
"""

V1 = """
schemaVersion: 1.0.0
globalEnvVars:
  - key: A
    value: b
commandTests:
  - name: echo
    command: ["echo", "hi"]
    expectedOutput: ["hi"]
    envVars:
      - key: C
        value: d
fileExistenceTests:
  - name: sh
    path: /bin/sh
    permissions: "lrwxrwxrwx"
fileContentTests:
  - name: os-release
    path: /etc/os-release
    expectedContents: ["riscv64|Debian"]
"""


def test_a_v2_file_with_every_test_kind_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    checks = parse_structure_test(V2, "structure-test.yaml")
    assert checks.command == (
        CommandCheck("uname says riscv64", "structure-test.yaml", ("uname", "-m"), entrypoint=(),
                     env={"VIRTUAL_ENV": "/env", "PATH": "/bin", "LANG": "C"}, user="65534", exit_code=0,
                     stdout=TextExpectation(("^riscv64$",), ("x86_64",)), stderr=TextExpectation(("^$",), ("Error",)),
                     setup=(("mkdir", "/x"), ("touch", "/x/y")), teardown=(("rm", "-r", "/x"),)),
        CommandCheck("false fails", "structure-test.yaml", ("false",), entrypoint=(),
                     env={"VIRTUAL_ENV": "/env", "PATH": "/env/bin:$PATH"}, user="65534", exit_code=1),
    )
    assert checks.file == (
        FileCheck("busybox", "structure-test.yaml", "/bin/busybox", mode="-rwxr-xr-x", uid=0, gid=0,
                  executable_by="any"),
        FileCheck("no apt", "structure-test.yaml", "/usr/bin/apt", exists=False),
        FileCheck("tmp is sticky", "structure-test.yaml", "/tmp", mode="dtrwxrwxrwx"),
        FileCheck("passwd has root", "structure-test.yaml", "/etc/passwd",
                  content=TextExpectation(("^root:x:0:0:",), ("^toor:",))),
    )
    assert checks.metadata == (MetadataCheck(
        "metadataTest", "structure-test.yaml",
        env=(ValueExpectation("PATH", "/usr/bin"), ValueExpectation("HOME", "^/root$", True)),
        labels=(ValueExpectation("org.opencontainers.image.version", "1.36.1"),
                ValueExpectation("org.opencontainers.image.created", r"^\d{4}-", True)),
        exposed_ports=("8080", "53/udp"), unexposed_ports=("22",), volumes=("/data",), unmounted_volumes=("/tmp",),
        entrypoint=(), cmd=("/bin/sh",), workdir="/app", user="1000:1000",
    ),)
    assert not (checks.exec or checks.http or checks.tcp or checks.restart)


def test_a_v1_file() -> None:
    checks = parse_structure_test(V1, "v1.yaml")
    assert checks.command == (CommandCheck("echo", "v1.yaml", ("echo", "hi"), entrypoint=(), env={"A": "b", "C": "d"},
                                           stdout=TextExpectation(("hi",))),)
    assert checks.file == (FileCheck("sh", "v1.yaml", "/bin/sh", mode="lrwxrwxrwx"),
                           FileCheck("os-release", "v1.yaml", "/etc/os-release",
                                     content=TextExpectation(("riscv64|Debian",))))
    assert checks.metadata == ()


def test_a_json_file_and_the_older_metadata_env_key(tmp_path: Path) -> None:
    path = tmp_path / "structure-test.json"
    path.write_text(json.dumps({"schemaVersion": "2.0.0", "metadataTest": {"env": [{"key": "A", "value": "1"}]},
                                "commandTests": [{"name": "c", "command": "id"}]}))
    checks = load_structure_test(path)
    assert checks.metadata[0].env == (ValueExpectation("A", "1"),) and checks.metadata[0].origin == str(path)
    assert checks.command[0].command == ("id",) and checks.command[0].user is None


def test_an_empty_metadata_test_is_no_check() -> None:
    assert parse_structure_test('schemaVersion: "2.0.0"\nmetadataTest: {}\n', "s.yaml").metadata == ()


def test_run_options_env_vars_come_from_rvconform_s_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RVCONFORM_TEST_TOKEN", "t0k")
    monkeypatch.delenv("RVCONFORM_TEST_UNSET", raising=False)
    checks = parse_structure_test("""
schemaVersion: "2.0.0"
containerRunOptions:
  envVars: [RVCONFORM_TEST_TOKEN, RVCONFORM_TEST_UNSET]
commandTests:
  - name: c
    command: env
""", "s.yaml")
    assert checks.command[0].env == {"RVCONFORM_TEST_TOKEN": "t0k"}
    assert "t0k" not in repr(checks) and "t0k" not in str(checks.command[0])


BAD = [
    # (file text, words that must be in the message, words that must be in the fix)
    ("", "must be a mapping with schemaVersion", 'schemaVersion: "2.0.0"'),
    ("commandTests: []\n", "schemaVersion is missing", 'add schemaVersion: "2.0.0"'),
    ("schemaVersion: 2.0\n", "schemaVersion 2.0 is not supported", "1.0.0 and 2.0.0"),
    ('schemaVersion: "3.0.0"\n', "schemaVersion '3.0.0' is not supported", "1.0.0 and 2.0.0"),
    ("schemaVersion: '2.0.0'\ncommandTests:\n  - name: a\n    command: [\n", "line 5: not valid YAML", "YAML syntax"),
    ('schemaVersion: "2.0.0"\nfileTests: []\n', "the file: unknown key 'fileTests'",
     "top fields (schemaVersion 2.0.0): schemaVersion, globalEnvVars, commandTests"),
    ('schemaVersion: "1.0.0"\nmetadataTest: {user: x}\n', "unknown key 'metadataTest'", "(schemaVersion 1.0.0)"),
    ('schemaVersion: "2.0.0"\nlicenseTests: [{debian: true}]\n',
     "'licenseTests' is a container-structure-test key that rvconform does not run", "top fields"),
    ('schemaVersion: "2.0.0"\ncontainerRunOptions: {privileged: true}\n',
     "containerRunOptions: 'privileged' is a container-structure-test key that rvconform does not run",
     "containerRunOptions fields (schemaVersion 2.0.0): user, envVars"),
    ('schemaVersion: "2.0.0"\ncontainerRunOptions: {user: 0}\n', "user must be a non-empty string", ""),
    ('schemaVersion: "2.0.0"\ncommandTests:\n  - name: a\n    command: id\n    expectedOutpt: [x]\n',
     "commandTests[0] ('a'): unknown key 'expectedOutpt'",
     "commandTests fields (schemaVersion 2.0.0): name, setup, teardown, envVars, exitCode, command"),
    ('schemaVersion: "1.0.0"\ncommandTests:\n  - name: a\n    command: [id]\n    args: [x]\n',
     "commandTests[0] ('a'): unknown key 'args'", "(schemaVersion 1.0.0)"),
    ('schemaVersion: "2.0.0"\ncommandTests:\n  - command: id\n', "commandTests[0] (None): every test needs a "
     "non-empty name", "commandTests fields"),
    ('schemaVersion: "2.0.0"\ncommandTests:\n  - name: a\n    command: [id, -u]\n',
     "command must be the program to run, a string (its arguments go in args)", ""),
    ('schemaVersion: "1.0.0"\ncommandTests:\n  - name: a\n    command: []\n', "command must be a non-empty list", ""),
    ('schemaVersion: "2.0.0"\ncommandTests:\n  - name: a\n    command: id\n    args: [1]\n',
     "args must be a list of strings (quote numbers)", ""),
    ('schemaVersion: "2.0.0"\ncommandTests:\n  - name: a\n    command: id\n    exitCode: "0"\n',
     "exitCode must be an integer", ""),
    ('schemaVersion: "2.0.0"\ncommandTests:\n  - name: a\n    command: id\n    setup: [[]]\n',
     "setup must be a list of non-empty commands", ""),
    ('schemaVersion: "2.0.0"\ncommandTests:\n  - name: a\n    command: id\n    teardown: ["rm"]\n',
     "teardown must be a list of non-empty commands", ""),
    ('schemaVersion: "2.0.0"\ncommandTests:\n  - name: a\n    command: id\n    expectedError: ["(x"]\n',
     "commandTests[0] ('a'): expectedError regex '(x' does not compile as a Python regex: missing )", "fix the regex"),
    ('schemaVersion: "2.0.0"\ncommandTests:\n  - name: a\n    command: id\n    envVars: [{key: A, value: ""}]\n',
     "commandTests[0] ('a').envVars[0]: value must be a non-empty string", ""),
    ('schemaVersion: "2.0.0"\ncommandTests:\n  - name: a\n    command: id\n    envVars: [{key: A, val: b}]\n',
     "envVars[0]: unknown key 'val'; the known ones are key, value", ""),
    ('schemaVersion: "2.0.0"\nglobalEnvVars: {A: b}\n', "globalEnvVars: must be a list of {key: ..., value: ...}", ""),
    ('schemaVersion: "2.0.0"\ncommandTests:\n  - name: a\n    command: id\n  - name: a\n    command: id\n',
     "commandTests[1] ('a'): the name 'a' is also commandTests[0]'s", ""),
    ('schemaVersion: "2.0.0"\ncommandTests: {name: a}\n', "commandTests: must be a list of tests", ""),
    ('schemaVersion: "2.0.0"\ncommandTests: [a]\n', "commandTests[0]: must be a mapping", ""),
    ('schemaVersion: "2.0.0"\nfileExistenceTests:\n  - name: f\n    path: /x\n    permissions: "0755x"\n',
     "fileExistenceTests[0] ('f'): permissions must be octal", "fileExistenceTests fields"),
    ('schemaVersion: "2.0.0"\nfileExistenceTests:\n  - name: f\n    path: /x\n    isExecutableBy: everyone\n',
     "isExecutableBy must be one of any, owner, group, other", ""),
    ('schemaVersion: "2.0.0"\nfileExistenceTests:\n  - name: f\n    path: /x\n    shouldExist: "yes"\n',
     "shouldExist must be true or false", ""),
    ('schemaVersion: "2.0.0"\nfileExistenceTests:\n  - name: f\n    path: x\n', "path must be an absolute path", ""),
    ('schemaVersion: "2.0.0"\nfileExistenceTests:\n  - name: f\n    path: /x\n    uid: -2\n',
     "uid must be a numeric id (or -1: not checked)", ""),
    ('schemaVersion: "1.0.0"\nfileExistenceTests:\n  - name: f\n    path: /x\n    uid: 0\n',
     "fileExistenceTests[0] ('f'): unknown key 'uid'", "name, path, shouldExist, permissions"),
    ('schemaVersion: "2.0.0"\nfileContentTests:\n  - name: c\n    path: /x\n    expectedContents: ["["]\n',
     "expectedContents regex '[' does not compile", ""),
    ('schemaVersion: "2.0.0"\nfileContentTests:\n  - name: c\n    path: /x\n    contents: ["x"]\n',
     "fileContentTests[0] ('c'): unknown key 'contents'", "name, path, expectedContents, excludedContents"),
    ('schemaVersion: "2.0.0"\nmetadataTest:\n  exposedPort: ["80"]\n', "metadataTest: unknown key 'exposedPort'",
     "metadataTest fields (schemaVersion 2.0.0): env, envVars, labels, exposedPorts"),
    ('schemaVersion: "2.0.0"\nmetadataTest:\n  unboundEnvVars: [{key: A}]\n',
     "'unboundEnvVars' is a container-structure-test key that rvconform does not run", ""),
    ('schemaVersion: "2.0.0"\nmetadataTest:\n  env: []\n  envVars: []\n', "env and envVars are the same list", ""),
    ('schemaVersion: "2.0.0"\nmetadataTest:\n  labels: [{key: a, value: "(", isRegex: true}]\n',
     "metadataTest.labels ('a'): value regex '(' does not compile", ""),
    ('schemaVersion: "2.0.0"\nmetadataTest:\n  labels: [{key: a, value: b, isRegex: "yes"}]\n',
     "isRegex must be true or false", ""),
    ('schemaVersion: "2.0.0"\nmetadataTest:\n  cmd: "/bin/sh"\n', "cmd must be a list of strings", ""),
    ('schemaVersion: "2.0.0"\nmetadataTest:\n  volumes: [""]\n', "volumes must be a list of non-empty strings", ""),
    ('schemaVersion: "2.0.0"\nmetadataTest:\n  workdir: 1\n', "workdir must be a string", ""),
    ('schemaVersion: "2.0.0"\ncommandTests:\n  - name: metadataTest\n    command: id\nmetadataTest: {user: x}\n',
     "the name 'metadataTest' is also commandTests[0]'s", ""),
]


@pytest.mark.parametrize(("text", "words", "fix"), BAD, ids=[f"{i}" for i in range(len(BAD))])
def test_bad_files_name_the_file_the_test_the_key_and_the_known_fields(text: str, words: str, fix: str) -> None:
    with pytest.raises(RecipeError) as info:
        parse_structure_test(text, "my-test.yaml")
    assert str(info.value).startswith("my-test.yaml") and words in info.value.message
    assert info.value.fix and fix in info.value.fix


def test_bad_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "structure-test.json"
    path.write_text('{\n  "schemaVersion": "2.0.0",\n}\n')
    with pytest.raises(RecipeError, match=r"structure-test.json line 3: not valid JSON"):
        load_structure_test(path)


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"missing\.yaml cannot be read"):
        load_structure_test(tmp_path / "missing.yaml")


# A recipe directory's files and --structure-test

def make_recipe(root: Path, files: dict[str, str], toml: str = "") -> Path:
    recipe = root / "busybox"
    recipe.mkdir(parents=True)
    (recipe / "image.toml").write_text(toml)
    (recipe / "Dockerfile").write_text("FROM scratch\n")
    for name, text in files.items():
        (recipe / name).write_text(text)
    return recipe


CMD = 'schemaVersion: "2.0.0"\ncommandTests:\n  - name: {name}\n    command: id\n'


def test_a_recipe_directory_s_cst_files_are_found_and_merged(tmp_path: Path) -> None:
    recipe_dir = make_recipe(tmp_path, {
        "structure-test.yaml": CMD.format(name="a"), "structure-test.yml": CMD.format(name="b"),
        "structure-test.json": json.dumps({"schemaVersion": "1.0.0", "commandTests": [
            {"name": "c", "command": ["id"]}]}),
        "more.structure-test.yaml": CMD.format(name="d"), "other.yaml": CMD.format(name="ignored"),
    }, toml='[[checks.command]]\nname = "t"\ncommand = ["true"]\n')
    assert [p.name for p in find_structure_tests(recipe_dir)] == [
        "structure-test.yaml", "structure-test.yml", "structure-test.json", "more.structure-test.yaml"]
    recipe = load_recipe(recipe_dir)
    assert [c.name for c in recipe.declared.command] == ["t", "a", "b", "c", "d"]
    assert recipe.declared.command[1].origin == str(recipe_dir / "structure-test.yaml")


def test_a_name_in_image_toml_and_a_cst_file_is_an_error_naming_both(tmp_path: Path) -> None:
    recipe_dir = make_recipe(tmp_path, {"structure-test.yaml": CMD.format(name="id")},
                             toml='[[checks.command]]\nname = "id"\ncommand = ["id"]\n')
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe_dir)
    assert f"two checks are named 'id': one in {recipe_dir / 'image.toml'}, one in " \
           f"{recipe_dir / 'structure-test.yaml'}" in str(info.value)
    assert "rename one of them" in info.value.fix


def test_a_bad_cst_file_in_a_recipe_fails_the_recipe(tmp_path: Path) -> None:
    recipe_dir = make_recipe(tmp_path, {"structure-test.yaml": "commandTests: []\n"})
    with pytest.raises(RecipeError, match=r"structure-test\.yaml: schemaVersion is missing"):
        load_recipe(recipe_dir)


def test_structure_test_files_given_on_the_command_line(tmp_path: Path) -> None:
    recipe = load_recipe(make_recipe(tmp_path, {"structure-test.yaml": CMD.format(name="own")}))
    for_all, for_it, for_other = (tmp_path / f"{n}.yaml" for n in ("all", "it", "other"))
    for path in (for_all, for_it, for_other):
        path.write_text(CMD.format(name=path.stem))
    files = [StructureTestFile(for_all), StructureTestFile(for_it, "busybox"), StructureTestFile(for_other, "redis"),
             StructureTestFile(recipe.dir / "structure-test.yaml")]
    merged = with_structure_tests(recipe, files)
    assert [c.name for c in merged.declared.command] == ["own", "all", "it"]
    assert [c.name for c in recipe.declared.command] == ["own"], "the recipe itself is left as it was"
    clash = tmp_path / "clash.yaml"
    clash.write_text(CMD.format(name="own"))
    with pytest.raises(RecipeError, match=re.escape(f"one in {recipe.dir / 'structure-test.yaml'}, one in {clash}")):
        with_structure_tests(recipe, [StructureTestFile(clash)])


def test_the_option_value_is_file_or_recipe_equals_file(tmp_path: Path) -> None:
    assert StructureTestFile.parse("tests/cst.yaml") == StructureTestFile(Path("tests/cst.yaml"))
    assert StructureTestFile.parse("busybox=tests/cst.yaml") == StructureTestFile(Path("tests/cst.yaml"), "busybox")
    odd = tmp_path / "a=b.yaml"
    odd.write_text("")
    assert StructureTestFile.parse(str(odd)) == StructureTestFile(odd)


# Helpers the checks use when they run

@pytest.mark.parametrize(("text", "kind", "bits"), [
    ("0755", None, 0o755), ("4755", None, 0o4755), ("-rwxr-xr-x", 0o100000, 0o755), ("drwxrwxrwt", 0o40000, 0o1777),
    ("-rwsr-sr-T", 0o100000, 0o7754), ("lrwxrwxrwx", 0o120000, 0o777), ("Lrwxrwxrwx", 0o120000, 0o777),
    ("urwxr-xr-x", 0o100000, 0o4755), ("dtrwxrwxrwx", 0o40000, 0o1777), ("Dcrw-rw-rw-", 0o20000, 0o666),
])
def test_modes_in_octal_ls_and_go_form(text: str, kind: int | None, bits: int) -> None:
    mode = parse_mode(text)
    assert (mode.kind, mode.bits) == (kind, bits)
    assert mode.matches((kind or 0o100000) | bits) and not mode.matches((kind or 0o100000) | (bits ^ 0o1))


def test_an_octal_mode_checks_the_bits_of_any_kind_and_a_typed_one_the_kind_too() -> None:
    assert parse_mode("0755").matches(0o40755) and not parse_mode("-rwxr-xr-x").matches(0o40755)


@pytest.mark.parametrize("text", ["rwxr-xr-x", "07777777", "0758", "-rwxr-xr-", "xrwxr-xr-x", ""])
def test_bad_modes_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="0755"):
        parse_mode(text)


def test_variables_expand_as_cst_expands_them() -> None:
    env = {"PATH": "/usr/bin", "HOME": "/root"}
    assert expand_variables("/env/bin:$PATH", env) == "/env/bin:/usr/bin"
    assert expand_variables("${HOME}/x:$UNSET:$", env) == "/root/x::$"
