"""The checks a recipe declares (image.toml ``[[checks.*]]`` and container-structure-test files), each a test of
its own: command, exec, http, tcp and restart on every board; file and metadata once per image, from the
registry (every board pulls those very bytes: test_pull asserts the digest)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.boards import Board, PullResult
from harness.build import BuiltImage
from harness.checks import commands, files, metadata, network, restart
from harness.checks.spec import CommandCheck, FileCheck, HttpCheck, MetadataCheck, RestartCheck, TcpCheck
from harness.conformance.filesystem import ImageContents
from harness.conformance.platform import ResolvedImage
from harness.deploy import Deployment
from harness.errors import RvconformError
from harness.recipes import Recipe
from harness.settings import Settings

Check = CommandCheck | HttpCheck | TcpCheck | FileCheck | MetadataCheck | RestartCheck


def _verdict(target: str, check: Check, run: Callable[[], list[str]]) -> None:
    """Fail with every problem the check found, naming the image, the board, the check and where it is declared.
    A check that could not run at all fails with why."""
    __tracebackhide__ = True
    try:
        problems = run()
    except RvconformError as error:
        problems, failure = [], f"{target}: check {check.name!r} ({check.origin}) could not run: {error}"
    else:
        failure = None
    if failure:  # outside the except block, so the report does not show the error twice
        pytest.fail(failure, pytrace=False)
    if problems:
        pytest.fail(f"{target}: check {check.name!r} ({check.origin}) failed:\n  - " + "\n  - ".join(problems),
                    pytrace=False)


@pytest.mark.declared("command")
def test_command(declared_check: CommandCheck, recipe: Recipe, board: Board, image: BuiltImage,
                 on_board: PullResult, resolved_image: ResolvedImage) -> None:
    """A one-off container of the image runs the command; exit code and output are as declared."""
    _verdict(f"{recipe.name} on {board.name} ({image.ref.pinned})", declared_check, lambda: commands.result_problems(
        declared_check, commands.run_one_off(board, image.ref, declared_check,
                                             commands.ImageConfig(resolved_image.entrypoint, resolved_image.env),
                                             f"{recipe.name}-check")))


@pytest.mark.declared("exec")
def test_exec(declared_check: CommandCheck, deployment: Deployment, resolved_image: ResolvedImage) -> None:
    """The command runs inside the running service container; exit code and output are as declared."""
    image_env = resolved_image.env
    _verdict(deployment.target, declared_check, lambda: commands.result_problems(
        declared_check, commands.run_exec(deployment.board, deployment.container, declared_check, image_env)))


@pytest.mark.declared("http")
def test_http(declared_check: HttpCheck, deployment: Deployment) -> None:
    """The service answers the request with the declared status, headers and body."""
    _verdict(deployment.target, declared_check,
             lambda: network.http_problems(declared_check, deployment.endpoint(declared_check.port)))


@pytest.mark.declared("tcp")
def test_tcp(declared_check: TcpCheck, deployment: Deployment) -> None:
    """The service port accepts a connection and answers what is sent with what is declared."""
    _verdict(deployment.target, declared_check,
             lambda: network.tcp_problems(declared_check, deployment.endpoint(declared_check.port)))


@pytest.mark.declared("restart")
def test_restart(declared_check: RestartCheck, deployment: Deployment, resolved_image: ResolvedImage,
                 rv_settings: Settings) -> None:
    """What the setup step stored is still there after the service container is stopped and started again."""
    image_env = resolved_image.env
    _verdict(deployment.target, declared_check, lambda: restart.restart_problems(
        declared_check, deployment, rv_settings.ready_timeout, image_env))


@pytest.mark.declared("file")
def test_file(declared_check: FileCheck, recipe: Recipe, image: BuiltImage, image_contents: ImageContents) -> None:
    """The path is in the image's final filesystem (or absent) with the declared mode, owner and content."""
    _verdict(f"{recipe.name} ({image.ref.pinned})", declared_check,
             lambda: files.file_problems(declared_check, image_contents))


@pytest.mark.declared("metadata")
def test_metadata(declared_check: MetadataCheck, recipe: Recipe, image: BuiltImage,
                  resolved_image: ResolvedImage) -> None:
    """The image config has the declared environment, labels, ports, volumes, entrypoint, cmd, workdir, user."""
    _verdict(f"{recipe.name} ({image.ref.pinned})", declared_check,
             lambda: metadata.metadata_problems(declared_check, resolved_image.config))
