"""Keys under which the plugin keeps per-run objects on the pytest config."""

from __future__ import annotations

import pytest

from harness.recipes import Recipe
from harness.run import Run
from harness.settings import Settings
from harness.sizes.history import Baseline

SETTINGS = pytest.StashKey[Settings]()
RUN = pytest.StashKey[Run]()
RECIPES = pytest.StashKey[list[Recipe]]()
#: Size baselines per recipe, and a note saying where they came from.
BASELINES = pytest.StashKey[tuple[dict[str, Baseline], str]]()
