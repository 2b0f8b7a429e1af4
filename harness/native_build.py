"""Native builds (``--builder BOARD_URL``): a recipe built on a board by the board's own docker engine, for
the board's own platform, and pushed from that engine to the run's registry through the board's reverse
forward. The BuildKit client here drives the board's engine through a tunnel (``boards.docker_tunnel``), so the
build context travels over the board's SSH connection and nothing is written on the board's filesystem.

Bases (bootstrapped from a Debian mirror, as for builds here) reach the board's engine through the registry:
pushed once under ``rvconform/debian:<suite>-<arch>-<key>`` and named by reference in the build args. A base
that is for "build" platform stages is the builder's own architecture.

The builder is part of the build key, so a recipe built natively is not mistaken for the one built here. On
the board, the built image is removed once pushed (and after a failure); the engine's build cache stays, as
it does here.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from harness import bootstrap, progress
from harness.build import BuiltImage, build_context, buildkit_argv, content_tag
from harness.build_record import BuildRecord, build_key, remember, still_served
from harness.builder_engine import BuilderEngine
from harness.defaults import BUILD_TIMEOUT, DEBIAN_MIRROR
from harness.engine import engine as local_engine
from harness.errors import BuildError
from harness.gitinfo import oci_labels
from harness.image_ref import ImageRef
from harness.push import push_unless_present, untag
from harness.recipes import BaseSpec, Recipe
from harness.registry_access import RegistryAccess
from harness.registry_client import RegistryClient
from harness.run import Run
from harness.wait import log_tail


def base_on_builder(spec: BaseSpec, target_platform: str, builder_platform: str,
                    mirror: str = DEBIAN_MIRROR) -> bootstrap.BaseImage:
    """The base a recipe's base spec means on a native builder: "target" is the recipe's platform, "build"
    the builder's own."""
    platform = target_platform if spec.platform == "target" else builder_platform
    return bootstrap.BaseImage(suite=spec.suite, architecture=bootstrap.debian_architecture(platform), mirror=mirror)


def foreign_platform_error(recipe: Recipe, builder_url: str, builder_platform: str) -> BuildError | None:
    """Why the builder cannot build ``recipe`` (it builds only for its own platform), or None."""
    if recipe.platform == builder_platform:
        return None
    return BuildError(
        f"recipe '{recipe.name}' is for {recipe.platform}, but the builder {builder_url} builds natively for its "
        f"own platform only, {builder_platform}; an image built there would be {builder_platform}",
        fix=f"give --builder a {recipe.platform} board (qemu is linux/riscv64), or leave --builder out to build "
        "here (under QEMU user emulation or cross-compiled)")


@dataclass
class NativeBuilder:
    """Builds recipes on the board ``builder_url`` and pushes them to ``registry_url`` (the run's), as
    ``Builder`` does here; ``close()`` disconnects. Connects on the first build."""

    builder_url: str
    registry_url: str
    logs_dir: Path
    run: Run | None = None
    labels: dict[str, str] = field(default_factory=dict)
    mirror: str = DEBIAN_MIRROR
    timeout: float = BUILD_TIMEOUT
    log: Callable[[str], None] = print
    access: RegistryAccess | None = None
    tag_by_content: bool = False
    work_dir: Path | None = None
    _engine: BuilderEngine | None = None
    _open_error: BuildError | None = None

    def client(self) -> RegistryClient:
        """A client of the registry this builder pushes to (a multi-platform recipe's index goes there too)."""
        return RegistryClient(self.registry_url, self.access)

    def build(self, recipe: Recipe) -> BuiltImage:
        """Build, push and remove one recipe's image on the builder; raises BuildError (build log attached).

        Nothing is built when the registry still serves the image of exactly these inputs from this builder.
        """
        started = time.monotonic()
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.logs_dir / f"build-{recipe.name}.log"
        log_path.write_text(f"native build on {self.builder_url}\n")
        engine = self.engine()
        error = foreign_platform_error(recipe, self.builder_url, engine.platform)
        if error:
            raise error
        bases = {arg: base_on_builder(spec, recipe.platform, engine.platform, self.mirror)
                 for arg, spec in recipe.bases.items()}
        labels = oci_labels(recipe.dir, recipe.tag)
        key = build_key(recipe, {**{arg: base.ref for arg, base in bases.items()}, **recipe.build_args}, labels,
                        builder=engine.identity)
        ref = ImageRef(urlsplit(self.registry_url).netloc, recipe.repository,
                       content_tag(recipe.tag, key) if self.tag_by_content else recipe.tag)
        client = RegistryClient(self.registry_url, self.access)
        digest = still_served(key, ref.repository, ref.tag or "latest", client)
        reused = digest is not None
        if digest:
            with log_path.open("a") as log:
                log.write(f"{ref}: built before on {self.builder_url} from the same inputs (build key {key}) and "
                          f"still in the registry as {digest}; not built, not pushed\n")
        else:
            board_bases = {arg: self._base_in_registry(base, client, log_path, engine) for arg, base in bases.items()}
            digest, reused = self._build_and_push(recipe, ref, {**board_bases, **recipe.build_args}, labels,
                                                  log_path, client, engine)
            remember(key, BuildRecord(ref.repository, ref.tag or "latest", digest))
        return BuiltImage(recipe.name, ref.with_digest(digest), str(log_path), time.monotonic() - started, reused)

    def engine(self) -> BuilderEngine:
        """The builder's engine, opened on first use; its failure to open is kept and raised for every recipe."""
        if self._open_error:
            raise self._open_error
        if self._engine is None:
            engine = BuilderEngine(self.builder_url, self.labels, self.registry_url, self.access, self.run)
            try:
                self._engine = engine.open()
            except BuildError as error:
                self._open_error = error
                raise
        return self._engine

    def _base_in_registry(self, base: bootstrap.BaseImage, client: RegistryClient, log_path: Path,
                          engine: BuilderEngine) -> str:
        """Push the bootstrapped ``base`` to the run's registry (unless there already); its name on the board."""
        bootstrap.ensure_base(base, log=self.log)
        here = ImageRef.parse(f"{urlsplit(self.registry_url).netloc}/{base.ref}")
        local_engine().images.get(base.ref).tag(f"{here.registry}/{here.repository}", tag=here.tag)
        try:
            push_unless_present(here, client, log_path)
        finally:
            untag(here)
        return f"{engine.registry}/{base.ref}"

    def _build_and_push(self, recipe: Recipe, ref: ImageRef, build_args: dict[str, str], labels: dict[str, str],
                        log_path: Path, client: RegistryClient, engine: BuilderEngine) -> tuple[str, bool]:
        on_board = ImageRef(engine.registry, ref.repository, ref.tag)
        try:
            with build_context(recipe, self.work_dir) as context, progress.step(progress.BUILD, recipe.name,
                                                                               log_path):
                self._run_buildkit(recipe, context, on_board, build_args, labels, log_path, engine)
            return push_unless_present(on_board, client, log_path, docker=engine.docker)
        finally:
            untag(on_board, docker=engine.docker)

    def _run_buildkit(self, recipe: Recipe, context: Path, on_board: ImageRef, build_args: dict[str, str],
                      labels: dict[str, str], log_path: Path, engine: BuilderEngine) -> None:
        command = buildkit_argv(recipe, context, on_board, build_args, labels)
        env = {**os.environ, "DOCKER_BUILDKIT": "1", "DOCKER_HOST": engine.docker_url}
        with log_path.open("a") as log:
            log.write(f"$ DOCKER_HOST=<{self.builder_url}> " + " ".join(command) + "\n")
            log.flush()
            try:
                result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                        stdin=subprocess.DEVNULL, timeout=self.timeout)
            except subprocess.TimeoutExpired:
                raise self._error(recipe, f"did not finish within {self.timeout:.0f} s", log_path) from None
        if result.returncode != 0:
            raise self._error(recipe, f"failed (exit {result.returncode})", log_path)

    def _error(self, recipe: Recipe, what: str, log_path: Path) -> BuildError:
        return BuildError(
            f"native build of recipe '{recipe.name}' on {self.builder_url} {what}; whole log: {log_path}\n"
            f"{log_tail(log_path.read_text())}", log_path=log_path,
            fix=f"fix {recipe.dockerfile} (the failing step is at the end of the log), or build here without "
            "--builder")

    def close(self) -> None:
        """Disconnect from the builder (nothing of ours is left on it)."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None
