"""Every board kind passes the same tests: pull, run, endpoint, peers, logs, exit, remove, cleanup."""

from __future__ import annotations

import socket
import subprocess
import uuid

import pytest

from harness.boards import Board, RunSpec, open_board
from harness.boards.transport import SshTransport
from harness.engine import engine
from harness.errors import BoardError
from harness.labels import RUN, run_filter, run_labels
from harness.run import Run
from harness.run.records import VM
from harness.wait import Deadline, wait_until

# A TCP service from the tiny image (static busybox): one line per connection, naming the machine.
ECHO_SERVER = ("sh", "-c", 'echo listening; while true; do echo "rvconform:$(uname -m)" | nc -l -p 7777; done')
ECHO_CLIENT = ("nc",)
BOARDS = ["local", "ssh-docker", "ssh-podman", pytest.param("qemu", marks=pytest.mark.slow)]


@pytest.fixture(scope="module", params=BOARDS)
def board(request: pytest.FixtureRequest, registry_process):
    """One board of each kind for the module, reaching the test registry; close() must leave nothing."""
    labels = run_labels(f"compliance-{uuid.uuid4().hex[:8]}")
    ssh_runtime = request.param.removeprefix("ssh-") if request.param.startswith("ssh-") else None
    url = request.getfixturevalue("sshd").url(ssh_runtime) if ssh_runtime else request.param
    run = request.getfixturevalue("qemu_run") if request.param == "qemu" else None
    opened = open_board(url, labels, run)
    opened.attach_registry(registry_process.url)
    yield opened
    opened.close()
    left = leftover_containers(request.param, labels[RUN], run)
    assert not left, f"{request.param}: close() left containers behind: {left}"


def leftover_containers(kind: str, run_id: str, run: Run | None) -> list[str]:
    if kind == "ssh-podman":
        listing = subprocess.run(["podman", "ps", "-aq", "--filter", f"label=rvconform.run={run_id}"],
                                 capture_output=True, text=True, check=True)
        return listing.stdout.split()
    if kind != "qemu":
        return [c.name for c in engine().containers.list(all=True, filters={"label": run_filter(run_id)})]
    vm = run.read(VM)
    transport = SshTransport("qemu", "root", "127.0.0.1", vm.ssh_port, vm.key).open()
    try:
        selector = f'labels."{RUN}"=={run_id}'
        listing = transport.check(["ctr", "-n", "rvconform", "containers", "ls", "-q", selector])
    finally:
        transport.close()
    return listing.split()


@pytest.fixture(scope="module")
def pulled_on(board: Board, tiny_image) -> Board:
    """The board with the tiny image pulled once, for the tests that only need it there."""
    board.pull(tiny_image.ref, "linux/riscv64")
    return board


def read_banner(host: str, port: int) -> str:
    with socket.create_connection((host, port), timeout=5) as connection:
        data = connection.recv(100).decode()
    if not data:
        raise ConnectionError("connected, but nothing answered yet")
    return data


def test_pull_gets_the_pushed_riscv64_image(board: Board, tiny_image) -> None:
    result = board.pull(tiny_image.ref, "linux/riscv64")
    assert result.platform == "linux/riscv64"
    assert result.digest == tiny_image.ref.digest


def test_a_pull_of_a_missing_image_is_a_clear_board_error(board: Board, tiny_image) -> None:
    missing = tiny_image.ref.with_digest("sha256:" + "0" * 64)
    with pytest.raises(BoardError, match=r"pull of .*sha256:0000.* failed"):
        board.pull(missing, "linux/riscv64")


def test_run_endpoint_logs_and_remove(pulled_on: Board, tiny_image) -> None:
    board = pulled_on
    container = board.run(tiny_image.ref, RunSpec(name="echo", command=ECHO_SERVER, ports=(7777,)))
    host, port = board.endpoint(container, 7777)
    assert host == "127.0.0.1"
    banner = wait_until(lambda: read_banner(host, port), what="echo server", deadline=Deadline(120),
                        retry_on=(OSError, BoardError), alive=lambda: board.exited(container),
                        logs=lambda: board.logs(container))
    assert banner.strip() == "rvconform:riscv64"
    assert board.exited(container) is None
    assert "listening" in board.logs(container)
    board.remove(container)
    assert board.exited(container) is not None


def test_peers_reach_each_other_on_the_board(pulled_on: Board, tiny_image) -> None:
    board = pulled_on
    server = board.run(tiny_image.ref, RunSpec(name="echo", command=ECHO_SERVER, ports=(7777,)))
    wait_until(lambda: read_banner(*board.endpoint(server, 7777)), what="echo server", deadline=Deadline(120),
               retry_on=(OSError, BoardError))
    host, port = board.peer_address(server, 7777)
    result = board.run_once(tiny_image.ref, RunSpec(name="client", command=(*ECHO_CLIENT, host, str(port))))
    assert result.exit_status == 0 and result.stdout.strip() == "rvconform:riscv64", result
    board.remove(server)


def test_run_once_reports_exit_status_and_output(pulled_on: Board, tiny_image) -> None:
    result = pulled_on.run_once(tiny_image.ref, RunSpec(name="uname", command=("sh", "-c", "uname -m; exit 3")))
    assert (result.exit_status, result.stdout.strip()) == (3, "riscv64")


def test_a_container_that_exits_says_how(pulled_on: Board, tiny_image) -> None:
    board = pulled_on
    container = board.run(tiny_image.ref, RunSpec(name="dies", command=("sh", "-c", "echo bye; exit 7")))
    reason = wait_until(lambda: board.exited(container) or _raise(), what="exit", deadline=Deadline(60),
                        retry_on=(RuntimeError,))
    assert reason == "exited with code 7"
    assert "bye" in board.logs(container)


def _raise() -> str:
    raise RuntimeError("still running")
