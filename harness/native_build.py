"""Native builds (``--builder BOARD_URL``): a recipe built on a board by the board's own docker engine, for
the board's own platform, and pushed from that engine to the run's registry through the board's reverse
forward. The BuildKit client here drives the board's engine through a tunnel (``boards.docker_tunnel``), so the
build context travels over the board's SSH connection and nothing is written on the board's filesystem.

Bases (bootstrapped from a Debian mirror, as for builds here) are loaded into the board's engine under their
keyed name (``rvconform/debian:<suite>-<arch>-<key>``, so a base of that name there is this one and is not sent
again) and named so in the build args, as builds here name them. Not through the registry: the BuildKit of an
older engine (docker 20.10) reads registry TLS settings only when the daemon starts, so it cannot pull from a
TLS registry behind a forward opened later. A base that is for "build" platform stages is the builder's own
architecture.

A multi-platform recipe's entries for other platforms than the builder's are built here (``here``, the
run's ``Builder``), so ``--builder`` means "build what this board can natively"; their logs say so.

The builder is part of the build key, so a recipe built natively is not mistaken for the one built here. On
the board, the built image is removed once pushed (and after a failure); the engine's build cache stays, as
it does here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from harness import bootstrap, progress
from harness.build import Builder, BuiltImage, build_context, buildkit_argv, content_tag, run_build_cli
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
    ``Builder`` does here; a platform the board does not have goes to ``here`` when given (else BuildError).
    ``close()`` disconnects. Connects on the first build."""

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
    #: Builds the platforms the builder does not have (None: those are refused).
    here: Builder | None = None
    #: Told each build CLI process (pid, what), e.g. ``Run.record_process``, so a run's end stops it.
    record_process: Callable[[int, str], None] | None = None
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
        engine = self.engine()
        error = foreign_platform_error(recipe, self.builder_url, engine.platform)
        if error and self.here:
            return self._build_here(recipe, engine)
        if error:
            raise error
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.logs_dir / f"build-{recipe.view_id}.log"
        log_path.write_text(f"native build on {self.builder_url}\n")
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
            board_bases = {arg: self._base_on_board(base, log_path, engine) for arg, base in bases.items()}
            digest, reused = self._build_and_push(recipe, ref, {**board_bases, **recipe.build_args}, labels,
                                                  log_path, client, engine)
            remember(key, BuildRecord(ref.repository, ref.tag or "latest", digest))
        return BuiltImage(recipe.name, ref.with_digest(digest), str(log_path), time.monotonic() - started, reused)

    def _build_here(self, recipe: Recipe, engine: BuilderEngine) -> BuiltImage:
        assert self.here is not None
        built = self.here.build(recipe)
        with Path(built.log_path).open("a") as log:
            log.write(f"\nbuilt here, not on the builder {self.builder_url}: it builds natively for "
                      f"{engine.platform} only\n")
        return built

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

    def _base_on_board(self, base: bootstrap.BaseImage, log_path: Path, engine: BuilderEngine) -> str:
        """Load the bootstrapped ``base`` into the board's engine unless it has it; its name there."""
        bootstrap.ensure_base(base, log=self.log)
        with log_path.open("a") as log:
            if engine.has_image(base.ref):
                log.write(f"{base.ref}: already in the builder's engine\n")
            else:
                log.write(f"{base.ref}: loading into the builder's engine\n")
                log.flush()
                engine.load_image(local_engine().api.get_image(base.ref))
        return base.ref

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
        with log_path.open("a") as log:
            log.write(f"$ DOCKER_HOST=<{self.builder_url}> " + " ".join(command) + "\n")
        env = {"DOCKER_BUILDKIT": "1", "DOCKER_HOST": engine.docker_url}
        failure = run_build_cli(command, env, log_path, self.timeout, self.record_process,
                                f"native build of {recipe.name} on {self.builder_url}")
        if failure:
            raise self._error(recipe, failure, log_path)

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
