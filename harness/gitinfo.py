"""What git says about a checkout: the revision and branch a run is keyed by, and the OCI labels an image
built from a recipe carries. The one place the harness asks git anything."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

GIT_TIMEOUT = 10


def git(directory: Path, *args: str) -> str:
    """Stripped stdout of a git command run in ``directory``, or "" when git is missing, fails or hangs."""
    try:
        result = subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True,
                                timeout=GIT_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def public_url(url: str) -> str:
    """A remote URL without the credentials CI systems put in it (``https://ci-token:SECRET@host/x.git``
    -> ``https://host/x.git``). scp-like remotes (``git@host:x.git``) carry a user name only; kept."""
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def git_revision(cwd: Path) -> tuple[str, str]:
    """(revision, branch) of the checkout at ``cwd``; ("", "") outside git.

    RVCONFORM_REVISION and RVCONFORM_BRANCH override git. A detached HEAD (usual in CI checkouts)
    takes its branch from GITHUB_REF_NAME or CI_COMMIT_REF_NAME, else is "HEAD".
    """
    revision = os.environ.get("RVCONFORM_REVISION") or git(cwd, "rev-parse", "HEAD")
    branch = os.environ.get("RVCONFORM_BRANCH")
    if branch:
        return revision, branch
    branch = git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    if branch == "HEAD":
        branch = os.environ.get("GITHUB_REF_NAME") or os.environ.get("CI_COMMIT_REF_NAME") or "HEAD"
    return revision, branch


def oci_labels(directory: Path, version: str) -> dict[str, str]:
    """``org.opencontainers.image.*`` labels for a recipe directory, from the last commit that touched it.

    Keyed to the recipe's own last change (not the repository's HEAD), so an unchanged recipe keeps
    the same labels, the same image config and the same digest across commits. Empty outside git.
    """
    revision = git(directory, "log", "-1", "--format=%H", "--", ".") or git(directory, "rev-parse", "HEAD")
    if not revision:
        return {}
    if git(directory, "status", "--porcelain", "--", "."):  # uncommitted or untracked changes
        revision += "-dirty"
    source = public_url(git(directory, "remote", "get-url", "origin")) or git(directory, "rev-parse",
                                                                              "--show-toplevel")
    labels = {
        "source": source,
        "revision": revision,
        "version": version,
        "created": git(directory, "log", "-1", "--format=%cI", revision.removesuffix("-dirty")),
    }
    return {f"org.opencontainers.image.{key}": value for key, value in labels.items() if value}
