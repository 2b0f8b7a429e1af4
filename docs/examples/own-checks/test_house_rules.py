"""House rules of a team's images, as pytest tests that use rvconform's fixtures (an example to copy).

Run them with the suites, from your repository (rvconform installed in the venv):

    rvconform run --recipes images/ checks/

Each test below runs once per selected recipe (and board, when it asks for one), like the built-in suites;
its failures appear in the same JUnit XML and HTML report.
"""

from __future__ import annotations

import pytest

from harness.conformance.platform import ResolvedImage
from harness.deploy import Deployment
from harness.recipes import Recipe

ROOT_USERS = ("", "0", "root")


def test_does_not_run_as_root(recipe: Recipe, resolved_image: ResolvedImage) -> None:
    """The image config names a user other than root (read from the registry; no container needed)."""
    user = (resolved_image.config.get("config") or {}).get("User") or ""
    assert user.split(":")[0] not in ROOT_USERS, (
        f"{recipe.name}: the image runs as root (config User {user!r}); add a USER line to its Dockerfile")


@pytest.mark.service  # only recipes whose image runs as a service (a port or a `ready` rule)
def test_log_has_no_error_line(deployment: Deployment) -> None:
    """The running service's log has no line that says error or panic."""
    bad = [line for line in deployment.logs().splitlines() if any(w in line.lower() for w in ("error", "panic"))]
    assert not bad, f"{deployment.target}: its log has error lines:\n" + "\n".join(bad[:20])
