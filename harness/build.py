"""Builds a recipe for its platform with BuildKit, tags it for the registry, pushes it, records the digest.

BuildKit comes from ``docker buildx`` when installed, else from a 20.10-22.x client that has it built
in (Debian's /usr/bin/docker). The Python SDK drives only the classic builder, so this uses the CLI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from harness import bootstrap, progress, sources
from harness.boards.registry_trust import engine_trusting
from harness.build_record import BuildRecord, build_key, remember, still_served
from harness.buildkit import find_buildkit_cli
from harness.defaults import BUILD_TIMEOUT, DEBIAN_MIRROR
from harness.errors import BuildError
from harness.gitinfo import oci_labels
from harness.image_ref import ImageRef
from harness.labels import MANAGED, RECIPE
from harness.push import push_unless_present, untag
from harness.recipes import Recipe
from harness.registry_access import RegistryAccess
from harness.registry_client import RegistryClient
from harness.wait import log_tail

DOCKERFILE = ".rvconform.Dockerfile"


@dataclass(frozen=True)
class BuiltImage:
    """A recipe's image, pushed: its pinned reference, where its build log is, and whether the registry
    already had it (``reused``: nothing changed since it was last pushed, so nothing was pushed)."""

    recipe: str
    ref: ImageRef
    log_path: str
    seconds: float
    reused: bool = False
    #: For an image index: (platform, manifest digest) of each entry, in the index's order; empty otherwise.
    entries: tuple[tuple[str, str], ...] = ()
    #: For one platform's view of an index (``for_platform``): the index's digest; ``ref`` has the entry's.
    index_digest: str | None = None

    def entry_digest(self, platform: str) -> str | None:
        """The digest of the index entry for ``platform``'s os/architecture (None: no such entry, or no index)."""
        wanted = "/".join(platform.split("/")[:2])
        return next((digest for listed, digest in self.entries if "/".join(listed.split("/")[:2]) == wanted), None)

    def for_platform(self, platform: str) -> BuiltImage:
        """This image as one platform's boards run it: pinned to that entry's digest (the tag stays, so a board
        can pull by tag). An image that is not an index, or has no such entry, is returned as it is."""
        digest = self.entry_digest(platform)
        return self if digest is None else replace(self, ref=self.ref.with_digest(digest), index_digest=self.ref.digest)


@dataclass
class Builder:
    """Builds recipes into ``<registry>/<platform arch>/<name>:<tag>`` and pushes them.

    ``bases`` is "bootstrap" (base build args point at images made from a Debian mirror) or
    "official" (the Dockerfile's own defaults, e.g. debian:sid from Docker Hub).
    """

    registry_url: str
    logs_dir: Path
    bases: str = "bootstrap"
    mirror: str = DEBIAN_MIRROR
    timeout: float = BUILD_TIMEOUT
    log: Callable[[str], None] = print
    access: RegistryAccess | None = None
    #: Tag pushed images ``<recipe tag>-<build key>`` (see ``content_tag``): for a registry shared between runs.
    tag_by_content: bool = False
    #: Where build contexts are made: the run's directory, so a killed run's are swept with it (default: /tmp).
    work_dir: Path | None = None
    #: Told each build CLI process (pid, what), e.g. ``Run.record_process``, so a run's end stops it.
    record_process: Callable[[int, str], None] | None = None
    #: The run whose name the CA file for the push carries in the engine's certs.d (its sweep takes a dead run's).
    run_id: str | None = None

    def client(self) -> RegistryClient:
        """A client of the registry this builder pushes to."""
        return RegistryClient(self.registry_url, self.access)

    def build(self, recipe: Recipe) -> BuiltImage:
        """Build, push and untag the recipe for its (view's) platform; raises BuildError with the log attached.
        A multi-platform recipe is built one platform at a time by ``multi_platform_build``.

        Nothing is built or pushed when the registry still serves the image of exactly these inputs.
        """
        started = time.monotonic()
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.logs_dir / f"build-{recipe.view_id}.log"
        log_path.write_text("")
        bases = self._bases(recipe)
        build_args = {**{arg: base.ref for arg, base in bases.items()}, **recipe.build_args}
        labels = oci_labels(recipe.dir, recipe.tag)
        key = build_key(recipe, build_args, labels)
        tag = content_tag(recipe.tag, key) if self.tag_by_content else recipe.tag
        ref = ImageRef(urlsplit(self.registry_url).netloc, recipe.repository, tag)
        client = self.client()
        digest = still_served(key, ref.repository, ref.tag or "latest", client)
        reused = digest is not None
        if digest:
            log_path.write_text(f"{ref}: built before from the same inputs (build key {key}) and still in the "
                                f"registry as {digest}; not built, not pushed\n")
        else:
            for base in bases.values():
                bootstrap.ensure_base(base, log=self.log)
            digest, reused = self._build_and_push(recipe, ref, build_args, labels, log_path, client)
            remember(key, BuildRecord(ref.repository, ref.tag or "latest", digest))
        seconds = time.monotonic() - started
        return BuiltImage(recipe.name, ref.with_digest(digest), str(log_path), seconds, reused)

    def _build_and_push(self, recipe: Recipe, ref: ImageRef, build_args: dict[str, str], labels: dict[str, str],
                        log_path: Path, client: RegistryClient) -> tuple[str, bool]:
        with build_context(recipe, self.work_dir) as context, progress.step(progress.BUILD, recipe.name, log_path):
            self._run_buildkit(recipe, context, ref, build_args, labels, log_path)
        # dockerd verifies a TLS registry against certs.d (only 127.0.0.0/8 is insecure by default).
        with engine_trusting(self.access, self.run_id):
            pushed = push_unless_present(ref, client, log_path)
        untag(ref)
        return pushed

    def _bases(self, recipe: Recipe) -> dict[str, bootstrap.BaseImage]:
        """The bootstrapped base each base build arg names (none with --bases official)."""
        if self.bases == "official":
            return {}
        return {arg: bootstrap.base_for(spec, recipe.platform, self.mirror) for arg, spec in recipe.bases.items()}

    def _run_buildkit(
        self, recipe: Recipe, context: Path, ref: ImageRef, build_args: dict[str, str], labels: dict[str, str],
        log_path: Path,
    ) -> None:
        command = buildkit_argv(recipe, context, ref, build_args, labels)
        with log_path.open("a") as log:
            log.write("$ " + " ".join(command) + "\n")
        failure = run_build_cli(command, {"DOCKER_BUILDKIT": "1"}, log_path, self.timeout, self.record_process,
                                f"build of {recipe.name}")
        if failure:
            raise _build_error(recipe, failure, log_path)


def run_build_cli(command: list[str], env: dict[str, str], log_path: Path, timeout: float,
                  record_process: Callable[[int, str], None] | None, what: str) -> str | None:
    """Run a build CLI with ``env`` added to this process's, its output appended to ``log_path``; None when it
    succeeded, else how it failed ("failed (exit 1)", or "did not finish within N s": it is stopped then, as on
    Ctrl-C or SIGTERM)."""
    with log_path.open("a") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env},
                                   stdin=subprocess.DEVNULL)
        if record_process:  # a run killed mid-build leaves the CLI running: its sweep stops it
            record_process(process.pid, what)
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _end(process)
            return f"did not finish within {timeout:.0f} s"
        except BaseException:  # Ctrl-C, SIGTERM: the CLI's end cancels the engine's build
            _end(process)
            raise
    return f"failed (exit {returncode})" if returncode != 0 else None


def _end(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait()


def content_tag(tag: str, key: str) -> str:
    """The tag an image built from the inputs ``key`` is pushed under in a registry that runs share (the spawned
    registry's cached storage): the recipe's tag with the key, so another version of the same recipe (another
    clone, another --recipes directory) gets a tag of its own and never retags this one. At most 128 characters,
    as tags must be."""
    return f"{tag[:127 - len(key)]}-{key}"


def buildkit_argv(recipe: Recipe, context: Path, ref: ImageRef, build_args: dict[str, str],
                  labels: dict[str, str]) -> list[str]:
    """The BuildKit CLI's command that builds ``recipe`` from ``context`` as ``ref``, for the recipe's platform."""
    command = [
        *_buildkit_command(), "--platform", recipe.platform, "--progress=plain", "-t", str(ref),
        "-f", str(context / DOCKERFILE), *(["--target", recipe.target] if recipe.target else []),
        "--label", f"{RECIPE}={recipe.name}", "--label", f"{MANAGED}=true",
    ]
    command += [arg for name, value in build_args.items() for arg in ("--build-arg", f"{name}={value}")]
    command += [arg for name, value in labels.items() for arg in ("--label", f"{name}={value}")]
    return [*command, str(context)]


def _buildkit_command() -> list[str]:
    cli = find_buildkit_cli()
    if cli is None:
        raise BuildError(
            "no docker CLI with BuildKit found (neither `docker buildx` nor a 20.10-22.x client)",
            fix="run scripts/setup-host (Debian's docker.io brings /usr/bin/docker with BuildKit), "
            "or install the buildx plugin",
        )
    return [cli.path, "buildx", "build", "--load"] if cli.buildx else [cli.path, "build"]


def _build_error(recipe: Recipe, what: str, log_path: Path) -> BuildError:
    return BuildError(
        f"build of recipe '{recipe.name}' {what}; whole log: {log_path}\n{log_tail(log_path.read_text())}",
        log_path=log_path,
        fix=f"fix {recipe.dockerfile} (the failing step is at the end of the log)",
    )


@contextmanager
def build_context(recipe: Recipe, work_dir: Path | None) -> Iterator[Path]:
    """A temporary build context in ``work_dir``: the recipe's files plus its verified sources.

    The recipe directory itself is never written to.
    """
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"rvconform-context-{recipe.name}-", dir=work_dir) as tmp:
        context = Path(tmp) / "context"
        shutil.copytree(recipe.dir, context, symlinks=True)
        # The Dockerfile may live in another recipe (several images from one file, one build cache).
        shutil.copyfile(recipe.dockerfile, context / DOCKERFILE)
        for source in recipe.platform_sources:
            cached = sources.fetch(source)
            target = context / source.file
            try:
                os.link(cached, target)
            except OSError:  # another filesystem: copy instead
                shutil.copyfile(cached, target)
        yield context
