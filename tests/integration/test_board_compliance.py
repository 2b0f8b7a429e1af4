"""Every board kind passes the same tests: pull, run, run_once, exec, restart, endpoint, peers, logs, exit, remove,
cleanup."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from harness.boards import Board, RunSpec, open_board
from harness.boards.base import Container
from harness.boards.transport import SshTransport
from harness.boards.url import OWN_VM
from harness.engine import engine
from harness.errors import BoardError
from harness.labels import RUN, run_filter, run_labels
from harness.run import Run
from harness.run.records import VM
from harness.wait import Deadline, wait_until

# A TCP service from the tiny image (static busybox): one line per connection, naming the machine.
ECHO_SERVER = ("sh", "-c", 'echo listening; while true; do echo "rvconform:$(uname -m)" | nc -l -p 7777; done')
ECHO_CLIENT = ("nc",)
# The same service, stopping at SIGTERM (saying so in its log). PID 1 waits in a loop of short sleeps: the shell
# runs its trap once the foreground command ends (within a second); a trap during `wait` raced in busybox sh.
POLITE_SERVER = ("sh", "-c", 'echo started; trap "echo got-term; exit 0" TERM; '
                 '(while true; do echo "rvconform:$(uname -m)" | nc -l -p 7777; done) & '
                 "while true; do sleep 1; done")
#: The tiny image with an entrypoint of its own, to see it replaced and cleared.
IMAGE_ENTRYPOINT = ("echo", "image-entrypoint")
TINY = Path(__file__).parent / "images" / "tiny"
#: Values an env file must carry exactly (spaces at both ends), and one it cannot (a line break).
ENVIRONMENT = {"GREETING": " hello there ", "LINES": "two\nlines"}
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
    transport = SshTransport("qemu", "root", "127.0.0.1", vm.ssh_port, vm.key, OWN_VM, vm.host_key).open()
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


@pytest.fixture(scope="module")
def entrypoint_image(registry_process, tmp_path_factory: pytest.TempPathFactory):
    """The tiny recipe with ``ENTRYPOINT ["echo", "image-entrypoint"]``, in a repository of its own."""
    from harness.build import Builder
    from harness.recipes import load_recipe

    recipe_dir = tmp_path_factory.mktemp("recipes") / "tiny-entrypoint"
    shutil.copytree(TINY, recipe_dir)
    with (recipe_dir / "Dockerfile").open("a") as dockerfile:
        dockerfile.write(f'ENTRYPOINT ["{IMAGE_ENTRYPOINT[0]}", "{IMAGE_ENTRYPOINT[1]}"]\n')
    return Builder(registry_process.url, tmp_path_factory.mktemp("logs")).build(load_recipe(recipe_dir))


@pytest.fixture(scope="module")
def with_entrypoint(pulled_on: Board, entrypoint_image):
    """The board with the entrypoint image pulled too; the image."""
    pulled_on.pull(entrypoint_image.ref, "linux/riscv64")
    return entrypoint_image


@pytest.fixture
def sleeper(pulled_on: Board, tiny_image):
    """A running container of the tiny image (its own command: sleep, which as PID 1 ignores SIGTERM), started
    with ENVIRONMENT."""
    container = pulled_on.run(tiny_image.ref, RunSpec(name="sleeper", env=ENVIRONMENT))
    yield container
    pulled_on.remove(container)


def test_run_once_gives_stdout_and_stderr_apart(pulled_on: Board, tiny_image) -> None:
    spec = RunSpec(name="streams", command=("sh", "-c", "echo to-out; echo to-err >&2; exit 2"))
    result = pulled_on.run_once(tiny_image.ref, spec)
    assert (result.exit_status, result.stdout, result.stderr) == (2, "to-out\n", "to-err\n")


def test_run_once_as_a_user_with_an_environment(pulled_on: Board, tiny_image) -> None:
    spec = RunSpec(name="user", command=("sh", "-c", 'echo "$(id -u):$(id -g) $GREETING|$LINES"'),
                   user="65534:65534", env=ENVIRONMENT)
    result = pulled_on.run_once(tiny_image.ref, spec)
    assert (result.exit_status, result.stdout) == (0, "65534:65534  hello there |two\nlines\n"), result


def test_run_once_of_a_missing_program_exits_127_saying_so(pulled_on: Board, tiny_image) -> None:
    result = pulled_on.run_once(tiny_image.ref, RunSpec(name="missing", command=("no-such-program",)))
    assert result.exit_status == 127, result
    assert "no-such-program" in result.stderr and result.stdout == "", result


def test_run_once_keeps_the_image_s_entrypoint_unless_told(pulled_on: Board, with_entrypoint) -> None:
    # ctr replaces the whole process: the caller passes the image's entrypoint, as the suites do.
    spec = RunSpec(name="entry", command=("from-cmd",), entrypoint=IMAGE_ENTRYPOINT)
    result = pulled_on.run_once(with_entrypoint.ref, spec)
    assert (result.exit_status, result.stdout) == (0, "image-entrypoint from-cmd\n"), result


def test_run_once_with_the_entrypoint_replaced(pulled_on: Board, with_entrypoint) -> None:
    spec = RunSpec(name="entry", command=("echo replaced; uname -m",), entrypoint=("sh", "-c"),
                   replace_entrypoint=True)
    result = pulled_on.run_once(with_entrypoint.ref, spec)
    assert (result.exit_status, result.stdout) == (0, "replaced\nriscv64\n"), result


def test_run_once_with_the_entrypoint_cleared(pulled_on: Board, with_entrypoint) -> None:
    spec = RunSpec(name="entry", command=("uname", "-m"), replace_entrypoint=True)
    result = pulled_on.run_once(with_entrypoint.ref, spec)
    assert (result.exit_status, result.stdout) == (0, "riscv64\n"), result


def test_exec_gives_exit_status_stdout_and_stderr_apart(pulled_on: Board, sleeper: Container) -> None:
    result = pulled_on.exec(sleeper, ("sh", "-c", "echo to-out; echo to-err >&2; exit 5"))
    assert (result.exit_status, result.stdout, result.stderr) == (5, "to-out\n", "to-err\n")
    assert pulled_on.exec(sleeper, ("true",)).exit_status == 0


def test_exec_as_a_user_with_an_environment(pulled_on: Board, sleeper: Container) -> None:
    command = ("sh", "-c", 'echo "$(id -u):$(id -g) $GREETING|$LINES"')
    result = pulled_on.exec(sleeper, command, env=ENVIRONMENT, user="65534:65534")
    assert (result.exit_status, result.stdout) == (0, "65534:65534  hello there |two\nlines\n"), result
    assert pulled_on.exec(sleeper, ("id", "-u")).stdout == "0\n", "the image's user when none is given"
    started_with = pulled_on.exec(sleeper, ("sh", "-c", 'echo "$GREETING|$LINES"'))
    assert started_with.stdout == " hello there |two\nlines\n", "the environment the container started with"


def test_exec_of_a_missing_program_exits_127_saying_so(pulled_on: Board, sleeper: Container) -> None:
    result = pulled_on.exec(sleeper, ("no-such-program", "arg"))
    assert result.exit_status == 127, result
    assert "no-such-program" in result.stderr and result.stdout == "", result


def test_exec_deadline_holds(pulled_on: Board, sleeper: Container) -> None:
    started = time.monotonic()
    with pytest.raises(BoardError, match=r"did not finish within 3 s"):
        pulled_on.exec(sleeper, ("sleep", "60"), timeout=3)
    assert time.monotonic() - started < 15
    assert pulled_on.exec(sleeper, ("echo", "still usable")).stdout == "still usable\n"


def test_exec_into_a_removed_container_is_a_clear_board_error(pulled_on: Board, tiny_image) -> None:
    container = pulled_on.run(tiny_image.ref, RunSpec(name="removed"))
    pulled_on.remove(container)
    with pytest.raises(BoardError, match=rf"cannot exec in {container.name}|exec of .* in {container.name}") as error:
        pulled_on.exec(container, ("true",))
    assert "not there" in str(error.value) or "not found" in str(error.value).lower() or \
        "no such container" in str(error.value).lower(), error.value


def test_a_file_written_by_exec_survives_a_restart_after_sigkill(pulled_on: Board, sleeper: Container) -> None:
    written = pulled_on.exec(sleeper, ("sh", "-c", "echo kept > /kept-file"))
    assert written.exit_status == 0, written
    started = time.monotonic()
    pulled_on.restart(sleeper, timeout=2)
    assert time.monotonic() - started >= 2, "sleep as PID 1 ignores SIGTERM: SIGKILL comes after the grace period"
    assert pulled_on.exited(sleeper) is None, "the container runs again"
    result = pulled_on.exec(sleeper, ("cat", "/kept-file"))
    assert (result.exit_status, result.stdout) == (0, "kept\n"), result


def test_a_service_stopped_by_sigterm_answers_again_after_a_restart(pulled_on: Board, tiny_image) -> None:
    board = pulled_on
    service = board.run(tiny_image.ref, RunSpec(name="polite", command=POLITE_SERVER, ports=(7777,)))
    try:
        banner = lambda: read_banner(*board.endpoint(service, 7777))  # noqa: E731
        assert wait_until(banner, what="echo server", deadline=Deadline(120), retry_on=(OSError, BoardError),
                          alive=lambda: board.exited(service), logs=lambda: board.logs(service)).strip() == \
            "rvconform:riscv64"
        started = time.monotonic()
        board.restart(service, timeout=60)
        took = time.monotonic() - started
        assert took < 45, f"the service stops at SIGTERM, yet the restart took {took:.0f} s:\n{board.logs(service)}"
        assert wait_until(banner, what="echo server after restart", deadline=Deadline(120),
                          retry_on=(OSError, BoardError), alive=lambda: board.exited(service),
                          logs=lambda: board.logs(service)).strip() == "rvconform:riscv64"
        logs = board.logs(service)
        assert logs.count("started") == 2 and "got-term" in logs, f"the log goes on across the restart:\n{logs}"
    finally:
        board.remove(service)


def test_restart_of_a_removed_container_is_a_clear_board_error(pulled_on: Board, tiny_image) -> None:
    container = pulled_on.run(tiny_image.ref, RunSpec(name="removed"))
    pulled_on.remove(container)
    with pytest.raises(BoardError, match=rf"restart .*{container.name}|{container.name}.*restart"):
        pulled_on.restart(container, timeout=2)
