"""redis-cli does its job: from its own container it AUTHs, SETs and GETs on the redis server."""

import pytest

from harness.boards import Board, CommandResult, PullResult, RunSpec
from harness.build import BuiltImage
from harness.conformance.platform import ResolvedImage
from harness.deploy import Deployment
from harness.probes import redis
from harness.recipes import Recipe

pytestmark = pytest.mark.profile("redis-cli")


def test_auth_set_get_against_redis(
    board: Board, image: BuiltImage, recipe: Recipe, on_board: PullResult, redis_server: Deployment,
    resolved_image: ResolvedImage,
) -> None:
    password = str(redis_server.recipe.check("redis")["password"])
    host, port = board.peer_address(redis_server.container, redis_server.recipe.port or 6379)

    def run_cli(*args: str) -> CommandResult:
        spec = RunSpec(name=recipe.name, command=("-h", host, "-p", str(port), *args),
                       env={"REDISCLI_AUTH": password}, entrypoint=resolved_image.entrypoint)
        return board.run_once(image.ref, spec)

    target = f"{recipe.name} on {board.name} ({image.ref.pinned})"
    redis.assert_cli_round_trip(run_cli, redis_server.endpoint(), password, target)
