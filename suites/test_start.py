"""Each service image starts on each board and answers on its port before its deadline."""

import pytest

from harness.deploy import Deployment
from harness.fixtures import Outcome

pytestmark = pytest.mark.service


def test_starts(started: Outcome[Deployment]) -> None:
    """The container starts, stays up and its service answers its protocol."""
    started.fail_if_error()
