"""Declared checks in image.toml: every key of every kind is read into the spec data; each kind of bad input
names the file, the key path, what was expected and the fix."""

from pathlib import Path

import pytest

from harness.checks.spec import (
    CommandCheck,
    DeclaredChecks,
    FileCheck,
    HttpCheck,
    Readiness,
    RestartCheck,
    TcpCheck,
    TextExpectation,
)
from harness.errors import RecipeError
from harness.recipes import load_recipe

EVERY_KEY = r'''
port = 11211
[[checks.command]]
name = "uname says riscv64"
command = ["uname"]
args = ["-m"]
entrypoint = []
env = { LANG = "C" }
user = "65534:65534"
exit_code = 3
stdout = ["^riscv64$", "64"]
stdout_excludes = ["x86"]
stderr = "^$"
stderr_excludes = ["error"]
timeout = 30

[[checks.command]]
name = "defaults"
command = ["true"]

[[checks.exec]]
name = "config is readable"
command = ["cat", "/etc/memcached.conf"]
args = ["-v"]
env = { A = "b" }
user = "root"
exit_code = 1
stdout = ["^-m 64$"]
stdout_excludes = "x"
stderr = ["warn"]
stderr_excludes = ["fatal"]
timeout = 5.5

[[checks.http]]
name = "front page"
path = "/index.html"
method = "POST"
port = 80
request_headers = { Host = "example.test" }
request_body = "q=1"
status = 201
body = ["<h1>Welcome"]
body_excludes = ["error"]
headers = { Content-Type = "^text/html" }
timeout = 3

[[checks.http]]
name = "http defaults"

[[checks.tcp]]
name = "memcached answers version"
port = 11211
send = "version\r\n"
expect = ["^VERSION 1\\."]
expect_excludes = ["ERROR"]
timeout = 2

[[checks.tcp]]
name = "tcp defaults"

[[checks.file]]
name = "busybox is executable"
path = "/bin/busybox"
exists = true
mode = "0755"
uid = 0
gid = 0
executable_by = "any"
content = ["^\\x7fELF"]
content_excludes = ["secret"]

[[checks.file]]
name = "no shadow backup"
path = "/etc/shadow-"
exists = false

[[checks.file]]
name = "passwd mode"
path = "/etc/passwd"
mode = "-rw-r--r--"

[checks.restart]
name = "data survives a restart"
setup.exec = { command = ["sh", "-c", "echo kept > /data/x"] }
verify.exec = { command = ["cat", "/data/x"], stdout = ["^kept$"] }
'''


def make_recipe(root: Path, toml: str, name: str = "svc") -> Path:
    recipe = root / name
    recipe.mkdir(parents=True)
    (recipe / "image.toml").write_text(toml)
    (recipe / "Dockerfile").write_text("FROM scratch\n")
    return recipe


def declared(root: Path, toml: str) -> DeclaredChecks:
    return load_recipe(make_recipe(root, toml)).declared


def test_every_key_of_every_kind_is_read(tmp_path: Path) -> None:
    recipe = load_recipe(make_recipe(tmp_path, EVERY_KEY))
    origin = str(tmp_path / "svc" / "image.toml")
    checks = recipe.declared
    assert checks.command == (
        CommandCheck("uname says riscv64", origin, ("uname", "-m"), entrypoint=(), env={"LANG": "C"},
                     user="65534:65534", exit_code=3,
                     stdout=TextExpectation(("^riscv64$", "64"), ("x86",)),
                     stderr=TextExpectation(("^$",), ("error",)), timeout=30.0),
        CommandCheck("defaults", origin, ("true",)),
    )
    assert checks.exec == (
        CommandCheck("config is readable", origin, ("cat", "/etc/memcached.conf", "-v"), env={"A": "b"},
                     user="root", exit_code=1, stdout=TextExpectation(("^-m 64$",), ("x",)),
                     stderr=TextExpectation(("warn",), ("fatal",)), timeout=5.5),
    )
    assert checks.http == (
        HttpCheck("front page", origin, path="/index.html", method="POST", port=80,
                  request_headers={"Host": "example.test"}, request_body="q=1", status=201,
                  body=TextExpectation(("<h1>Welcome",), ("error",)), headers={"Content-Type": "^text/html"},
                  timeout=3.0),
        HttpCheck("http defaults", origin),
    )
    assert checks.tcp == (
        TcpCheck("memcached answers version", origin, port=11211, send="version\r\n",
                 expect=TextExpectation((r"^VERSION 1\.",), ("ERROR",)), timeout=2.0),
        TcpCheck("tcp defaults", origin),
    )
    assert checks.file == (
        FileCheck("busybox is executable", origin, "/bin/busybox", exists=True, mode="0755", uid=0, gid=0,
                  executable_by="any", content=TextExpectation((r"^\x7fELF",), ("secret",))),
        FileCheck("no shadow backup", origin, "/etc/shadow-", exists=False),
        FileCheck("passwd mode", origin, "/etc/passwd", mode="-rw-r--r--"),
    )
    assert checks.restart == (RestartCheck(
        "data survives a restart", origin,
        setup=CommandCheck("data survives a restart: setup", origin, ("sh", "-c", "echo kept > /data/x")),
        verify=CommandCheck("data survives a restart: verify", origin, ("cat", "/data/x"),
                            stdout=TextExpectation(("^kept$",))),
    ),)
    assert checks.metadata == () and recipe.checks == {} and recipe.ready is None


def test_restart_probes_of_each_kind_and_its_default_name(tmp_path: Path) -> None:
    checks = declared(tmp_path, '''
port = 6379
[checks.restart]
setup.tcp = { send = "SET k v\\r\\n", expect = "OK" }
verify.http = { path = "/k", status = 200, body = ["v"], port = 8080 }
''')
    restart = checks.restart[0]
    assert restart.name == "survives a restart"
    assert restart.setup == TcpCheck("survives a restart: setup", restart.origin, send="SET k v\r\n",
                                     expect=TextExpectation(("OK",)))
    assert restart.verify == HttpCheck("survives a restart: verify", restart.origin, path="/k", port=8080,
                                       body=TextExpectation(("v",)))


@pytest.mark.parametrize(("toml", "ready"), [
    ('port = 1\nready = "tcp"', Readiness("tcp")),
    ('port = 1\nready = "http:/healthz"', Readiness("http", "/healthz")),
    ('ready = "log:Ready to accept"', Readiness("log", "Ready to accept")),
    ("port = 1", None),
])
def test_ready_forms(tmp_path: Path, toml: str, ready: Readiness | None) -> None:
    assert load_recipe(make_recipe(tmp_path, toml)).ready == ready


def test_a_log_ready_recipe_is_a_service_for_exec_checks(tmp_path: Path) -> None:
    checks = declared(tmp_path, 'ready = "log:up"\n[[checks.exec]]\nname = "e"\ncommand = ["true"]\n')
    assert checks.exec[0].command == ("true",)


def test_built_in_profiles_and_generic_kinds_live_side_by_side(tmp_path: Path) -> None:
    recipe = load_recipe(make_recipe(tmp_path, '''
port = 6379
[checks.redis]
password = "pw"
[[checks.command]]
name = "version"
command = ["redis-server", "--version"]
stdout = "v=7"
'''))
    assert recipe.checks == {"redis": {"password": "pw"}}
    assert recipe.declared.command[0].stdout.found == ("v=7",)


BAD = [
    # (image.toml, key path in the message, words in it)
    ('[[checks.command]]\ncommand = ["x"]', "checks.command[0].name", "a non-empty string"),
    ('[[checks.command]]\nname = " "\ncommand = ["x"]', "checks.command[0].name", "a non-empty string"),
    ('[[checks.command]]\nname = "a"\ncommand = ["x"]\n[[checks.file]]\nname = "a"\npath = "/x"',
     "checks.file[0].name", "unique among the recipe's checks (checks.command[0] has it too)"),
    ('[[checks.command]]\nname = "a"', "checks.command[0].command", "set: an array of strings"),
    ('[[checks.command]]\nname = "a"\ncommand = []', "checks.command[0].command", "a non-empty array"),
    ('[[checks.command]]\nname = "a"\ncommand = "uname -m"', "checks.command[0].command", "an array of strings"),
    ('[[checks.command]]\nname = "a"\ncommand = ["x"]\nstdot = ["y"]', "checks.command[0].stdot",
     "a key of checks.command: name, command, args, env, user, exit_code, stdout, stdout_excludes"),
    ('[[checks.command]]\nname = "a"\ncommand = ["x"]\nstdout = ["("]', "checks.command[0].stdout[0]",
     "a valid Python regex (re says: missing ), unterminated subpattern at position 0), got '('"),
    ('[[checks.command]]\nname = "a"\ncommand = ["x"]\nstderr = "["', "checks.command[0].stderr",
     "a valid Python regex (re says: unterminated character set"),
    ('[[checks.command]]\nname = "a"\ncommand = ["x"]\nstdout = [1]', "checks.command[0].stdout",
     "a regex string or an array of them"),
    ('[[checks.command]]\nname = "a"\ncommand = ["x"]\ntimeout = 0', "checks.command[0].timeout",
     "a number of seconds above 0, got 0"),
    ('[[checks.command]]\nname = "a"\ncommand = ["x"]\ntimeout = -1.5', "checks.command[0].timeout", "above 0"),
    ('[[checks.command]]\nname = "a"\ncommand = ["x"]\ntimeout = inf', "checks.command[0].timeout", "above 0"),
    ('[[checks.command]]\nname = "a"\ncommand = ["x"]\nexit_code = 256', "checks.command[0].exit_code",
     "an integer from 0 to 255"),
    ('[[checks.command]]\nname = "a"\ncommand = ["x"]\nenv = { A = 1 }', "checks.command[0].env", "a table of strings"),
    ('[[checks.command]]\nname = "a"\ncommand = ["x"]\nuser = 0', "checks.command[0].user", "a string"),
    ('[checks.command]\nname = "a"', "checks.command", "an array of tables, each written [[checks.command]]"),
    ('port = 1\n[[checks.exec]]\nname = "a"\ncommand = ["x"]\nentrypoint = []', "checks.exec[0].entrypoint",
     "a key of checks.exec"),
    ('[[checks.exec]]\nname = "e"\ncommand = ["x"]', "checks.exec[0]", "the recipe is not a service"),
    ('[[checks.http]]\nname = "h"\nport = 80', "checks.http[0]", "the recipe is not a service"),
    ('ready = "log:up"\n[[checks.http]]\nname = "h"', "checks.http[0].port",
     "set for 'h', since the recipe has no 'port' to default to"),
    ('ready = "log:up"\n[[checks.tcp]]\nname = "t"', "checks.tcp[0].port", "since the recipe has no 'port'"),
    ('port = 1\n[[checks.tcp]]\nname = "t"\nport = 70000', "checks.tcp[0].port", "an integer from 1 to 65535"),
    ('port = 1\n[[checks.tcp]]\nname = "t"\nport = 0', "checks.tcp[0].port", "an integer from 1 to 65535"),
    ('port = 1\n[[checks.http]]\nname = "h"\npath = "index.html"', "checks.http[0].path", 'starting with "/"'),
    ('port = 1\n[[checks.http]]\nname = "h"\nmethod = "get"', "checks.http[0].method", "an HTTP method"),
    ('port = 1\n[[checks.http]]\nname = "h"\nstatus = 99', "checks.http[0].status", "an integer from 100 to 599"),
    ('port = 1\n[[checks.http]]\nname = "h"\nheaders = { Server = "(" }', "checks.http[0].headers.Server",
     "a valid Python regex"),
    ('port = 1\n[[checks.http]]\nname = "h"\nbody_excludes = ["*"]', "checks.http[0].body_excludes[0]",
     "nothing to repeat"),
    ('port = 1\n[[checks.tcp]]\nname = "t"\nexpect_excludes = ["+"]', "checks.tcp[0].expect_excludes[0]",
     "nothing to repeat"),
    ('[[checks.file]]\nname = "f"', "checks.file[0].path", "set (it is required)"),
    ('[[checks.file]]\nname = "f"\npath = "bin/sh"', "checks.file[0].path", "an absolute path"),
    ('[[checks.file]]\nname = "f"\npath = "/x"\nmode = "rwx"', "checks.file[0].mode", 'octal such as "0755"'),
    ('[[checks.file]]\nname = "f"\npath = "/x"\nmode = 493', "checks.file[0].mode", "a string"),
    ('[[checks.file]]\nname = "f"\npath = "/x"\nexecutable_by = "all"', "checks.file[0].executable_by",
     "one of any, owner, group, other"),
    ('[[checks.file]]\nname = "f"\npath = "/x"\nexists = "yes"', "checks.file[0].exists", "true or false"),
    ('[[checks.file]]\nname = "f"\npath = "/x"\nexists = false\nmode = "0644"', "checks.file[0].mode",
     "left out when exists = false"),
    ('[[checks.file]]\nname = "f"\npath = "/x"\nuid = -1', "checks.file[0].uid", "an integer from 0"),
    ('[[checks.file]]\nname = "f"\npath = "/x"\ncontent = ["(?P<"]', "checks.file[0].content[0]",
     "a valid Python regex"),
    ('[checks.restart]\nverify.exec = { command = ["true"] }', "checks.restart", "the recipe is not a service"),
    ('port = 1\n[checks.restart]\nname = "r"', "checks.restart.verify", "one of verify.exec, verify.tcp"),
    ('port = 1\n[checks.restart]\nverify.exec = { command = ["true"] }\nverify.tcp = {}', "checks.restart.verify",
     "exactly one of checks.restart.verify.exec, checks.restart.verify.tcp, checks.restart.verify.http"),
    ('port = 1\n[checks.restart]\nsetup.command = { command = ["true"] }\nverify.exec = { command = ["true"] }',
     "checks.restart.setup.command", "exactly one of checks.restart.setup.exec"),
    ('port = 1\n[checks.restart]\nverify.exec = { name = "x", command = ["true"] }', "checks.restart.verify.exec.name",
     "a key of checks.restart.verify.exec: command, args"),
    ('port = 1\n[checks.restart]\nverify.exec = { command = ["true"], stdout = ")" }',
     "checks.restart.verify.exec.stdout", "unbalanced parenthesis"),
    ('port = 1\n[checks.restart]\nfoo = 1', "checks.restart.foo", "a key of checks.restart: name, setup, verify"),
    ('port = 1\n[[checks.restart]]\nname = "r"', "checks.restart", "one table, written [checks.restart]"),
    ('[checks.postgres]\nuser = "x"', "checks.postgres",
     "a built-in profile (redis, nginx, redis-cli) or a generic kind (command, exec, http, tcp, file, restart)"),
    ('ready = "udp"', "ready", '"tcp", "http:/PATH" or "log:REGEX"'),
    ('port = 1\nready = "http:healthz"', "ready", '"http:/PATH"'),
    ('ready = "log:"', "ready", '"log:REGEX"'),
    ('ready = "log:(("', "ready", "a valid Python regex"),
    ('ready = "tcp"', "port", 'set for ready = "tcp"'),
    ('ready = 1', "ready", '"tcp"'),
    ('port = 6379\nready = "tcp"\n[checks.redis]\npassword = "p"', "ready",
     "left out: the redis and nginx profiles have their own readiness"),
]


@pytest.mark.parametrize(("toml", "key", "words"), BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_checks_name_the_file_the_key_and_the_fix(tmp_path: Path, toml: str, key: str, words: str) -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(make_recipe(tmp_path, toml))
    message = str(info.value)
    assert f"{tmp_path / 'svc' / 'image.toml'}: '{key}'" in message
    assert words in message
    assert "fix: " in message
