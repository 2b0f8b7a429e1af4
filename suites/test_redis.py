"""redis does its job: it demands AUTH, then stores and returns what it is given, on riscv64."""

import pytest

from harness.deploy import Deployment
from harness.probes import redis
from harness.recipes import Recipe

pytestmark = pytest.mark.profile("redis")


def _password(recipe: Recipe) -> str:
    return str(recipe.check("redis")["password"])


def test_refuses_commands_without_auth(deployment: Deployment) -> None:
    redis.assert_refuses_without_auth(deployment.endpoint())


def test_refuses_a_wrong_password(deployment: Deployment, recipe: Recipe) -> None:
    redis.assert_refuses_wrong_password(deployment.endpoint(), _password(recipe))


def test_auth_set_get(deployment: Deployment, recipe: Recipe) -> None:
    redis.assert_auth_set_get(deployment.endpoint(), _password(recipe))


def test_info_server_says_riscv64(deployment: Deployment, recipe: Recipe) -> None:
    redis.assert_runs_on(deployment.endpoint(), _password(recipe), deployment.board.kernel_release(), "riscv64")
