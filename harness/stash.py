"""Keys under which the plugin keeps per-run objects on the pytest config."""

from __future__ import annotations

import pytest

from harness.recipes import Recipe
from harness.runstate import Run
from harness.settings import Settings

SETTINGS = pytest.StashKey[Settings]()
RUN = pytest.StashKey[Run]()
RECIPES = pytest.StashKey[list[Recipe]]()
