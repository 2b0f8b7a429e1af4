"""A recipe's image running on a board, ready to be probed."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from harness.boards import Board, Container, RunSpec
from harness.build import BuiltImage
from harness.errors import BoardError, ReadinessTimeout, RvconformError
from harness.probes import Endpoint, Readiness, readiness
from harness.recipes import Recipe
from harness.wait import Deadline, wait_until

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
                retry_on=_not_ready(recipe),
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


def _probe(recipe: Recipe) -> Readiness | None:
    """The readiness probe of the recipe's first check profile that has one."""
    return next((probe for probe in map(readiness, recipe.checks) if probe is not None), None)


def _not_ready(recipe: Recipe) -> tuple[type[BaseException], ...]:
    """What "not ready yet" looks like: no connection (OSError), a port mapping a board does not show yet
    (BoardError), and whatever the recipe's protocol probe says while its service starts."""
    probe = _probe(recipe)
    return (OSError, BoardError, *(probe.not_ready if probe else ()))


def _ready(recipe: Recipe, endpoint: Endpoint, seconds: float) -> None:
    probe = _probe(recipe)
    if probe is not None:
        probe.answers(endpoint, seconds)
        return
    # No protocol known: a TCP connection is the best we can do (a proxy may accept it early).
    socket.create_connection((endpoint.host, endpoint.port), timeout=seconds).close()
