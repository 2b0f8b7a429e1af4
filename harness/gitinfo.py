"""What git says about a recipe: the OCI labels an image built from it carries."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.recipes import Recipe


def _git(directory: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=10,
                            stdin=subprocess.DEVNULL)
    return result.stdout.strip() if result.returncode == 0 else ""


def oci_labels(recipe: Recipe) -> dict[str, str]:
    """``org.opencontainers.image.*`` labels for the recipe, from the last commit that touched its directory.

    Keyed to the recipe's own last change (not the repository's HEAD), so an unchanged recipe keeps
    the same labels, the same image config and the same digest across commits. Empty outside git.
    """
    revision = _git(recipe.dir, "log", "-1", "--format=%H", "--", ".") or _git(recipe.dir, "rev-parse", "HEAD")
    if not revision:
        return {}
    if _git(recipe.dir, "status", "--porcelain", "--", "."):  # uncommitted or untracked changes
        revision += "-dirty"
    source = _git(recipe.dir, "remote", "get-url", "origin") or _git(recipe.dir, "rev-parse", "--show-toplevel")
    labels = {
        "source": source,
        "revision": revision,
        "version": recipe.tag,
        "created": _git(recipe.dir, "log", "-1", "--format=%cI", revision.removesuffix("-dirty")),
    }
    return {f"org.opencontainers.image.{key}": value for key, value in labels.items() if value}
