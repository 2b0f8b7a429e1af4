"""A recipe's image running on a board, ready to be probed."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from harness.boards import Board, Container, RunSpec
from harness.build import BuiltImage
from harness.errors import ReadinessTimeout, RvconformError
from harness.probes import Endpoint, readiness
from harness.probes.wait import Deadline, wait_until
from harness.recipes import Recipe

ATTEMPT_SECONDS = 5.0
MIN_ATTEMPT_SECONDS = 0.5


@dataclass(frozen=True)
class Deployment:
    """A started, ready container of ``recipe`` on ``board``."""

    board: Board
    recipe: Recipe
    image: BuiltImage
    container: Container

    @property
    def target(self) -> str:
        """How failure messages name what was checked: recipe, board and pinned image."""
        return f"{self.recipe.name} on {self.board.name} ({self.image.ref.pinned})"

    def endpoint(self, port: int | None = None) -> Endpoint:
        """The service port (default: the recipe's) as the harness reaches it."""
        host, mapped = self.board.endpoint(self.container, port or self.recipe.port or 0)
        return Endpoint(host, mapped, self.target)

    def logs(self) -> str:
        return self.board.logs(self.container)


def deploy(board: Board, recipe: Recipe, image: BuiltImage, ready_timeout: float) -> Deployment:
    """Start the recipe's image on the board and wait, with one deadline, until its service answers.

    A container that exits meanwhile fails at once with its logs; on any failure it is removed.
    """
    ports = (recipe.port,) if recipe.port else ()
    container = board.run(image.ref, RunSpec(name=recipe.name, ports=ports))
    deployment = Deployment(board, recipe, image, container)
    deadline = Deadline(ready_timeout)
    try:
        if recipe.port:
            wait_until(
                lambda: _ready(recipe, deployment.endpoint(), _attempt_seconds(deadline)),
                what=f"{deployment.target}, port {recipe.port}",
                deadline=deadline,
                alive=lambda: board.exited(container),
                logs=lambda: board.logs(container),
            )
    except ReadinessTimeout as error:
        error.container_log = _whole_log(board, container)
        board.remove(container)
        raise
    except BaseException:
        board.remove(container)
        raise
    return deployment


def _whole_log(board: Board, container: Container) -> str:
    try:
        return board.logs(container)
    except RvconformError as error:  # the log is evidence, not the verdict: keep the original failure
        return f"(the container's log could not be read: {error})"


def _attempt_seconds(deadline: Deadline) -> float:
    # One slow attempt must not carry the wait far past its deadline; a floor keeps it meaningful.
    return min(ATTEMPT_SECONDS, max(MIN_ATTEMPT_SECONDS, deadline.remaining()))


def _ready(recipe: Recipe, endpoint: Endpoint, seconds: float) -> None:
    for profile in recipe.checks:
        answers = readiness(profile)
        if answers is not None:
            answers(endpoint, seconds)
            return
    # No protocol known: a TCP connection is the best we can do (a proxy may accept it early).
    socket.create_connection((endpoint.host, endpoint.port), timeout=seconds).close()
