"""A board that cannot be reached fails within seconds, naming the board and the cause."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from harness.boards import open_board
from harness.boards.transport import CONNECT_TIMEOUT
from harness.errors import BoardUnreachable
from harness.labels import run_labels

LABELS = run_labels("unreachable-test")


def test_a_closed_port_is_named_within_seconds(sshd) -> None:
    url = f"ssh://root@127.0.0.1:1?key={sshd.key}&runtime=docker"
    started = time.monotonic()
    with pytest.raises(BoardUnreachable) as caught:
        open_board(url, LABELS)
    assert time.monotonic() - started < 30
    assert url in str(caught.value) and "connection refused" in str(caught.value)


def test_a_port_that_accepts_and_never_speaks_is_named_within_the_connect_deadline(sshd) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel accepts; nothing ever answers
    url = f"ssh://root@127.0.0.1:{silent.getsockname()[1]}?key={sshd.key}&runtime=docker"
    started = time.monotonic()
    try:
        with pytest.raises(BoardUnreachable) as caught:
            open_board(url, LABELS)
    finally:
        silent.close()
    assert time.monotonic() - started < CONNECT_TIMEOUT + 5
    assert url in str(caught.value) and f"no SSH banner within {CONNECT_TIMEOUT} s" in str(caught.value)
    assert "No existing session" not in str(caught.value)


def test_a_wrong_key_is_named_within_seconds(sshd) -> None:
    url = sshd.url("docker", key=sshd.other_key)
    started = time.monotonic()
    with pytest.raises(BoardUnreachable) as caught:
        open_board(url, LABELS)
    assert time.monotonic() - started < 30
    assert url in str(caught.value) and "authentication failed" in str(caught.value)


def test_an_unreachable_board_fails_its_own_tests_and_the_others_go_on(run_suites, recipes_dir, sshd) -> None:
    dead = f"ssh://root@127.0.0.1:1?key={sshd.key}&runtime=docker"
    started = time.monotonic()
    run = run_suites("--board", "local", "--board", dead, "-k", "reachable or pull", recipes=recipes_dir("tiny"))
    dead_id = "root@127.0.0.1:1"
    assert run.outcome(f"test_board_reachable[{dead_id}]") == "failed"
    assert "connection refused" in run.message(f"test_board_reachable[{dead_id}]")
    assert run.outcome(f"test_pull[tiny-{dead_id}]") == "error"
    assert f"see test_board_reachable[{dead_id}]" in run.message(f"test_pull[tiny-{dead_id}]")
    assert run.outcome("test_board_reachable[local]") == run.outcome("test_pull[tiny-local]") == "passed"
    assert time.monotonic() - started < 120


def test_a_board_that_goes_down_mid_run_fails_fast_and_the_others_go_on(sshd, tiny_image) -> None:
    board = open_board(sshd.url("docker"), LABELS)
    local = open_board("local", LABELS)
    try:
        assert board.kernel_release()
        subprocess.run(["pkill", "-P", str(sshd.pid)], check=True)  # end the session: the board is gone
        started = time.monotonic()
        with pytest.raises(BoardUnreachable, match="the connection is gone"):
            board.pull(tiny_image.ref, "linux/riscv64")
        with pytest.raises(BoardUnreachable, match=r"not run: the connection is gone"):
            board.kernel_release()
        assert time.monotonic() - started < 30
        assert local.pull(tiny_image.ref, "linux/riscv64").digest == tiny_image.ref.digest
    finally:
        board.close()
        local.close()
