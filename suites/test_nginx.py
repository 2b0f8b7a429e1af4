"""nginx does its job: it serves the recipe's page, 404s a missing one and names itself."""

import pytest

from harness.deploy import Deployment
from harness.probes import http
from harness.recipes import Recipe

pytestmark = pytest.mark.profile("nginx")


def test_serves_the_page(deployment: Deployment, recipe: Recipe) -> None:
    http.assert_page(deployment.endpoint(), str(recipe.check("nginx")["heading"]))


def test_missing_page_is_404(deployment: Deployment) -> None:
    http.assert_missing_is_404(deployment.endpoint())


def test_server_header_names_nginx(deployment: Deployment) -> None:
    http.assert_server_header(deployment.endpoint(), "nginx")
