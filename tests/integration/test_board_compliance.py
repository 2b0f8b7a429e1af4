"""Every board kind passes the same tests: pull, run, endpoint, peers, logs, exit, remove, cleanup."""

from __future__ import annotations

import socket
import uuid

import pytest

from harness.boards import Board, RunSpec, open_board
from harness.engine import engine
from harness.errors import BoardError
from harness.probes.wait import Deadline, wait_until

# A TCP service from the riscv64 Debian base alone (perl-base is essential, so minbase has it).
ECHO_SERVER = (
    "perl", "-MIO::Socket::INET", "-e",
    '$|=1; my $s = IO::Socket::INET->new(LocalPort => 7777, Listen => 5, ReuseAddr => 1) or die $!;'
    ' print "listening\\n"; while (my $c = $s->accept) { print $c "rvconform:" . `uname -m`; close $c }',
)
ECHO_CLIENT = ("perl", "-MIO::Socket::INET", "-e",
               '$c = IO::Socket::INET->new(PeerAddr => $ARGV[0], PeerPort => $ARGV[1]) or die $!; print <$c>')


@pytest.fixture(params=["local", "ssh-docker"])
def board(request: pytest.FixtureRequest):
    label = {"rvconform.managed": "true", "rvconform.run": f"compliance-{uuid.uuid4().hex[:8]}"}
    url = request.getfixturevalue("sshd").url("docker") if request.param == "ssh-docker" else request.param
    opened = open_board(url, label)
    yield opened
    opened.close()
    left = engine().containers.list(all=True, filters={"label": f"rvconform.run={label['rvconform.run']}"})
    assert not left, f"{request.param}: close() left containers behind: {[c.name for c in left]}"


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


def test_run_endpoint_logs_and_remove(board: Board, tiny_image) -> None:
    board.pull(tiny_image.ref, "linux/riscv64")
    container = board.run(tiny_image.ref, RunSpec(name="echo", command=ECHO_SERVER, ports=(7777,)))
    host, port = board.endpoint(container, 7777)
    assert host == "127.0.0.1"
    banner = wait_until(lambda: read_banner(host, port), what="echo server", deadline=Deadline(60),
                        alive=lambda: board.exited(container), logs=lambda: board.logs(container))
    assert banner.strip() == "rvconform:riscv64"
    assert board.exited(container) is None
    assert "listening" in board.logs(container)
    board.remove(container)
    assert board.exited(container) is not None


def test_peers_reach_each_other_on_the_board(board: Board, tiny_image) -> None:
    board.pull(tiny_image.ref, "linux/riscv64")
    server = board.run(tiny_image.ref, RunSpec(name="echo", command=ECHO_SERVER, ports=(7777,)))
    wait_until(lambda: read_banner(*board.endpoint(server, 7777)), what="echo server", deadline=Deadline(60))
    host, port = board.peer_address(server, 7777)
    result = board.run_once(tiny_image.ref, RunSpec(name="client", command=(*ECHO_CLIENT, host, str(port))))
    assert result.exit_status == 0 and result.stdout.strip() == "rvconform:riscv64", result


def test_run_once_reports_exit_status_and_output(board: Board, tiny_image) -> None:
    board.pull(tiny_image.ref, "linux/riscv64")
    result = board.run_once(tiny_image.ref, RunSpec(name="uname", command=("sh", "-c", "uname -m; exit 3")))
    assert (result.exit_status, result.stdout.strip()) == (3, "riscv64")


def test_a_container_that_exits_says_how(board: Board, tiny_image) -> None:
    board.pull(tiny_image.ref, "linux/riscv64")
    container = board.run(tiny_image.ref, RunSpec(name="dies", command=("sh", "-c", "echo bye; exit 7")))
    reason = wait_until(lambda: board.exited(container) or _raise(), what="exit", deadline=Deadline(30))
    assert reason == "exited with code 7"
    assert "bye" in board.logs(container)


def _raise() -> str:
    raise RuntimeError("still running")
