"""Declared checks judge what they are given: each kind names what was expected and what was seen."""

import io
import socket
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.boards import CommandResult
from harness.checks import commands, files, metadata, network
from harness.checks.spec import (
    CommandCheck,
    FileCheck,
    HttpCheck,
    MetadataCheck,
    TcpCheck,
    TextExpectation,
    ValueExpectation,
)
from harness.checks.text import text_problems
from harness.conformance.filesystem import read_layers
from harness.probes.endpoint import Endpoint


def layer(path: Path, members: list[tuple[str, str, bytes | str | None, int, int, int]]) -> Path:
    """A tar layer of (name, kind, content-or-link, mode, uid, gid)."""
    with tarfile.open(path, "w") as tar:
        for name, kind, data, mode, uid, gid in members:
            info = tarfile.TarInfo(name)
            info.mode, info.uid, info.gid = mode, uid, gid
            if kind == "file":
                raw = data if isinstance(data, bytes) else b""
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
            else:
                info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}[kind]
                info.linkname = str(data or "")
                tar.addfile(info)
    return path


@pytest.fixture
def contents(tmp_path: Path):
    lower = layer(tmp_path / "0.tar", [
        ("bin", "dir", None, 0o755, 0, 0),
        ("bin/busybox", "file", b"\x7fELF-not-really", 0o755, 0, 0),
        ("bin/sh", "symlink", "busybox", 0o777, 0, 0),
        ("etc/passwd", "file", b"root:x:0:0:root:/root:/bin/sh\n", 0o644, 0, 0),
        ("etc/secret", "file", b"hunter2", 0o600, 0, 0),
        ("data", "dir", None, 0o750, 999, 999),
    ])
    upper = layer(tmp_path / "1.tar", [
        ("etc/.wh.secret", "file", b"", 0o644, 0, 0),
        ("etc/passwd", "file", b"root:x:0:0:root:/root:/bin/sh\nredis:x:999:999::/data:/bin/false\n",
         0o644, 0, 0),
        ("bin/ls", "hardlink", "bin/busybox", 0o755, 0, 0),
    ])
    return read_layers([lower, upper])


def test_text_expectations_name_each_pattern_and_show_the_text() -> None:
    problems = text_problems("stdout", "x86_64\n", TextExpectation(found=("^riscv64$",), absent=("x86",)))
    assert problems[0] == "expected stdout to match /^riscv64$/"
    assert problems[1] == "expected stdout not to match /x86/, but it has 'x86'"
    assert problems[2] == "stdout was 'x86_64\\n'"
    assert text_problems("stdout", "riscv64\n", TextExpectation(found=("^riscv64$",), absent=("x86",))) == []


def test_file_checks_follow_links_and_honour_whiteouts(contents) -> None:
    def check(**kwargs) -> list[str]:
        return files.file_problems(FileCheck(name="f", origin="image.toml", **kwargs), contents)

    assert check(path="/bin/sh", mode="0755", uid=0, executable_by="other") == []
    assert check(path="/bin/sh", mode="-rwxr-xr-x") == []
    assert check(path="/bin/ls", mode="0755") == []
    assert check(path="/etc/secret", exists=False) == []
    assert check(path="/etc/secret") == ["expected /etc/secret to exist, but the image has no such path"]
    assert check(path="/bin/busybox", exists=False) == ["expected /bin/busybox to be absent, but it is a file"]
    assert check(path="/data", uid=0, gid=999, mode="0700") == [
        "expected /data to have mode 0700, got 0750 (drwxr-x---)", "expected /data to be owned by uid 0, got 999"]
    assert check(path="/etc/passwd", executable_by="any") == [
        "expected /etc/passwd to be executable by any, but its mode is -rw-r--r--"]
    assert check(path="/etc/passwd", content=TextExpectation(found=("(?m)^redis:",), absent=("hunter2",))) == []
    problems = check(path="/etc/passwd", content=TextExpectation(found=("^nginx:",)))
    assert problems[0] == "expected the content of /etc/passwd to match /^nginx:/"
    assert check(path="/data", content=TextExpectation(found=("x",))) == [
        "expected /data to be a file with content to check, but it is not a regular file"]


def test_metadata_checks_compare_the_config() -> None:
    labels = {"org.opencontainers.image.version": "7.0"}
    config = {"config": {"Env": ["PATH=/usr/bin", "LANG=C.UTF-8"], "Labels": labels,
                         "ExposedPorts": {"6379/tcp": {}}, "Volumes": {"/data": {}}, "Entrypoint": None,
                         "Cmd": ["redis-server", "/etc/redis.conf"], "WorkingDir": "/data", "User": "999:999"}}
    good = MetadataCheck(name="metadataTest", origin="cst.yaml", env=(ValueExpectation("LANG", "C.UTF-8"),),
                         labels=(ValueExpectation("org.opencontainers.image.version", r"^\d+\.\d+$", True),),
                         exposed_ports=("6379",), unexposed_ports=("80",), volumes=("/data",),
                         entrypoint=(), cmd=("redis-server", "/etc/redis.conf"), workdir="/data", user="999:999")
    assert metadata.metadata_problems(good, config) == []
    bad = MetadataCheck(name="metadataTest", origin="cst.yaml", env=(ValueExpectation("TZ", "UTC"),),
                        exposed_ports=("80",), unexposed_ports=("6379/tcp",), user="root", entrypoint=("sh",))
    assert metadata.metadata_problems(bad, config) == [
        "expected environment variable TZ; the image has none (it has: LANG, PATH)",
        "expected port 80 in the image config; it has: 6379/tcp",
        "expected no port 6379/tcp in the image config, but it is there",
        "expected entrypoint ['sh'], got []",
        "expected user 'root', got '999:999'",
    ]


def test_command_results_are_judged_on_exit_code_and_both_streams() -> None:
    check = CommandCheck(name="uname", origin="image.toml", command=("uname", "-m"),
                         stdout=TextExpectation(found=("^riscv64$",)), stderr=TextExpectation(absent=("warning",)))
    assert commands.result_problems(check, CommandResult(0, "riscv64\n", "")) == []
    assert commands.result_problems(check, CommandResult(1, "riscv64\n", "")) == [
        "expected exit code 0, got 1", "stdout was 'riscv64\\n'; stderr was empty"]
    assert commands.result_problems(check, CommandResult(0, "riscv64\n", "warning: x")) == [
        "expected stderr not to match /warning/, but it has 'warning'", "stderr was 'warning: x'"]


def test_setup_and_teardown_run_in_one_shell_around_the_command() -> None:
    check = CommandCheck(name="t", origin="cst.yaml", command=("cat", "/tmp/x y"), entrypoint=(),
                         setup=(("touch", "/tmp/x y"),), teardown=(("rm", "/tmp/x y"),))
    spec = commands.one_off_spec(check, commands.ImageConfig(("redis-server",)), "r")
    assert spec.entrypoint == ("/bin/sh", "-c") and spec.replace_entrypoint
    script = spec.command[0]
    assert script.splitlines()[0].startswith("touch '/tmp/x y' >/dev/null 2>&1 || {")
    assert "cat '/tmp/x y'; rvconform_status=$?" in script and script.endswith("exit $rvconform_status")
    failed = CommandResult(125, "", "rvconform: setup command failed: touch '/tmp/x y'\n")
    assert commands.result_problems(check, failed) == [
        "a setup command failed, so the test did not run: touch '/tmp/x y'"]


def test_a_command_without_entrypoint_keeps_the_images() -> None:
    check = CommandCheck(name="v", origin="image.toml", command=("--version",), env={"PATH": "/opt/bin:$PATH"})
    image = commands.ImageConfig(("redis-server",), {"PATH": "/usr/bin:/bin"})
    spec = commands.one_off_spec(check, image, "r")
    assert (spec.command, spec.entrypoint, spec.replace_entrypoint) == (("--version",), ("redis-server",), False)
    assert spec.env == {"PATH": "/opt/bin:/usr/bin:/bin"}
    cleared = commands.one_off_spec(CommandCheck(name="v", origin="x", command=("id",), entrypoint=()), image, "r")
    assert (cleared.entrypoint, cleared.replace_entrypoint) == ((), True)


@pytest.fixture
def echo_server() -> Iterator[Endpoint]:
    """A loopback server that answers "VERSION 1.6.21" to "version" and then closes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with listener:
            connection, _ = listener.accept()
            with connection:
                if connection.recv(100).startswith(b"version"):
                    connection.sendall(b"VERSION 1.6.21\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield Endpoint("127.0.0.1", listener.getsockname()[1], "memcached on test")
    thread.join(5)


def test_tcp_checks_send_and_read_until_expected(echo_server: Endpoint) -> None:
    check = TcpCheck(name="version", origin="image.toml", send="version\r\n",
                     expect=TextExpectation(found=(r"^VERSION 1\.",), absent=("ERROR",)), timeout=5)
    assert network.tcp_problems(check, echo_server) == []


def test_tcp_checks_name_the_unexpected_answer(echo_server: Endpoint) -> None:
    check = TcpCheck(name="version", origin="image.toml", send="version\r\n",
                     expect=TextExpectation(found=(r"^VERSION 2\.",)), timeout=5)
    assert network.tcp_problems(check, echo_server) == [
        f"expected the answer from port {echo_server.port} to match /^VERSION 2\\./",
        f"the answer from port {echo_server.port} was 'VERSION 1.6.21\\r\\n'"]


def test_tcp_and_http_checks_report_a_refused_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as spare:
        port = spare.getsockname()[1]
    endpoint = Endpoint("127.0.0.1", port, "x")
    assert network.tcp_problems(TcpCheck(name="t", origin="o", timeout=2), endpoint)[0].startswith(
        f"could not talk to 127.0.0.1:{port} within 2 s:")
    assert network.http_problems(HttpCheck(name="h", origin="o", timeout=2), endpoint)[0].startswith(
        f"GET / on 127.0.0.1:{port} got no answer within 2 s:")
