"""A recipe's image running on a board, ready to be probed."""

from __future__ import annotations

from dataclasses import dataclass

from harness.boards import Board, Container, RunSpec
from harness.build import BuiltImage
from harness.checks.readiness import NOT_READY, Attempt, declared_attempt, describe, tcp_accepts
from harness.errors import BoardError, ReadinessTimeout, RvconformError
from harness.probes import Endpoint, readiness
from harness.recipes import Recipe
from harness.wait import Deadline, log_tail, wait_until

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

    def why_stopped(self) -> str | None:
        """None while the container runs (or when the board cannot say); else a message that it stopped,
        with its exit code and the tail of its log: the cause of whatever failed while talking to it."""
        try:
            why = self.board.exited(self.container)
        except RvconformError:
            return None
        if why is None:
            return None
        return f"the container of {self.target} {why}; it was no longer running\n" \
               f"{log_tail(_whole_log(self.board, self.container))}"


@dataclass(frozen=True)
class _Readiness:
    """How this recipe's service shows it is ready: a probe, what "not yet" looks like, and its name."""

    attempt: Attempt
    not_ready: tuple[type[BaseException], ...]
    what: str


def deploy(board: Board, recipe: Recipe, image: BuiltImage, ready_timeout: float,
           name: str | None = None) -> Deployment:
    """Start the recipe's image on the board and wait, with one deadline, until its service is ready.

    A container that exits meanwhile fails at once with its logs; on any failure it is removed.
    ``name`` tells apart a second container of the same recipe (default: the recipe's name).
    """
    container = board.run(image.ref, RunSpec(name=name or recipe.name, ports=service_ports(recipe)))
    deployment = Deployment(board, recipe, image, container)
    try:
        wait_ready(deployment, Deadline(ready_timeout))
    except ReadinessTimeout as error:
        error.container_log = _whole_log(board, container)
        board.remove(container)
        raise
    except BaseException:
        board.remove(container)
        raise
    return deployment


def wait_ready(deployment: Deployment, deadline: Deadline, log_from: int = 0) -> None:
    """Wait until the deployment's service is ready (again, after a restart: then a log rule looks only at the
    log from character ``log_from`` on); ReadinessTimeout if not."""
    rule = _readiness(deployment.recipe, log_from)
    if rule is None:
        return
    board, container = deployment.board, deployment.container
    wait_until(
        lambda: rule.attempt(deployment, _attempt_seconds(deadline)),
        what=f"{deployment.target}, {rule.what}",
        deadline=deadline,
        retry_on=rule.not_ready,
        alive=lambda: board.exited(container),
        logs=lambda: board.logs(container),
    )


def service_ports(recipe: Recipe) -> tuple[int, ...]:
    """The ports to publish: the recipe's, and any other port its declared checks talk to."""
    declared = recipe.declared
    probes = [*declared.http, *declared.tcp, *(step for check in declared.restart
                                                for step in (check.setup, check.verify) if step is not None)]
    ports = [recipe.port, *(getattr(probe, "port", None) for probe in probes)]
    return tuple(dict.fromkeys(port for port in ports if port))


def _whole_log(board: Board, container: Container) -> str:
    try:
        return board.logs(container)
    except RvconformError as error:  # the log is evidence, not the verdict: keep the original failure
        return f"(the container's log could not be read: {error})"


def _attempt_seconds(deadline: Deadline) -> float:
    # One slow attempt must not carry the wait far past its deadline; a floor keeps it meaningful.
    return min(ATTEMPT_SECONDS, max(MIN_ATTEMPT_SECONDS, deadline.remaining()))


def _readiness(recipe: Recipe, log_from: int = 0) -> _Readiness | None:
    """The built-in profile's protocol probe, else the declared ``ready`` rule, else a TCP connection to the
    port (a proxy may accept it early), else nothing to wait for. "Not ready" always includes no connection
    yet (OSError) and a port mapping a board does not show yet (BoardError)."""
    port = f"port {recipe.port}"
    probe = next((probe for probe in map(readiness, recipe.checks) if probe is not None), None)
    if probe is not None:
        answers = probe.answers
        return _Readiness(lambda d, s: answers(d.endpoint(), s), (OSError, BoardError, *probe.not_ready), port)
    if recipe.ready is not None:
        return _Readiness(declared_attempt(recipe.ready, log_from), (BoardError, *NOT_READY), describe(recipe.ready))
    if recipe.port:
        return _Readiness(tcp_accepts, (OSError, BoardError), port)
    return None
