"""Session fixtures: the run, the registry, each recipe's image, boards and deployed containers.

``recipe`` and ``board_url`` are parametrized by the plugin (session scope), so every fixture below
exists once per recipe, per board, or per pair. Each step that can fail on its own (build, pull,
start) is a test of its own; the fixtures that later tests use re-raise that failure as a short
error pointing at it, so one broken recipe fails its own tests and nothing else.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlsplit

import pytest

from harness.boards import Board, PullResult, board_id, open_board
from harness.build import Builder, BuiltImage
from harness.conformance.filesystem import ImageContents, read_layers
from harness.conformance.platform import ResolvedImage, resolve
from harness.deploy import Deployment, deploy
from harness.errors import RegistryUnreachable, RvconformError
from harness.images import ImageSupply, client_for, size_key
from harness.plugin_state import BASELINES, RECIPES, RUN, SETTINGS
from harness.recipes import Recipe, load_recipe
from harness.registry import Registry, external_registry, shared_storage, spawn_registry
from harness.registry_access import ACCESS
from harness.registry_client import Manifest
from harness.registry_security import secure
from harness.run import Run, sweep_stale_runs
from harness.run.records import BOARD, REGISTRY, SWEPT, BoardRecord
from harness.settings import Settings
from harness.sizes.history import Baseline
from harness.sizes.measure import ImageSize
from harness.tag_pull import TagPull, pull_by_tag

if TYPE_CHECKING:
    from harness.native_build import NativeBuilder

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """A step's result or the error that stopped it; tests of the step assert on it."""

    value: T | None = None
    error: Exception | None = None

    def require(self, step: str, see: str, request: pytest.FixtureRequest) -> T:
        """The value, or fail the calling fixture with a short pointer to the step's own test; with the
        whole message when that test is not in this run (deselected with -k, say), so the cause is seen."""
        __tracebackhide__ = True
        if self.error is not None:
            if all(item.name != see for item in request.session.items):
                pytest.fail(f"{step} failed: {self.error}", pytrace=False)
            first_line = str(self.error).splitlines()[0]
            pytest.fail(f"{step} failed, see {see}: {first_line}", pytrace=False)
        return self.value  # type: ignore[return-value]

    def fail_if_error(self, prefix: str = "") -> T:
        """The value, or fail the calling test with the error's whole message, said once."""
        __tracebackhide__ = True
        if self.error is not None:
            pytest.fail(f"{prefix}{self.error}", pytrace=False)
        return self.value  # type: ignore[return-value]


def _attempt(step: Any, *args: Any) -> Outcome[Any]:
    try:
        return Outcome(value=step(*args))
    except (RvconformError, AssertionError) as error:
        return Outcome(error=error)


@pytest.fixture(scope="session")
def rv_settings(pytestconfig: pytest.Config) -> Settings:
    """This run's settings (parsed options)."""
    return pytestconfig.stash[SETTINGS]


@pytest.fixture(scope="session")
def rv_run(pytestconfig: pytest.Config) -> Run:
    """This run's shared state; the first use sweeps what crashed runs left behind."""
    run = pytestconfig.stash[RUN]
    run.once(SWEPT, sweep_stale_runs)
    run.note_engine_used()
    return run


@pytest.fixture(scope="session")
def registry(rv_run: Run, rv_settings: Settings) -> Registry:
    """The run's registry: spawned once per run on 127.0.0.1, or the one given with --registry.

    Every process that uses it remembers its access (scheme, the run's CA, credentials) for later clients.
    """
    opened = rv_run.once(REGISTRY, lambda: _open_registry(rv_run, rv_settings))
    ACCESS.remember(opened.access())
    return opened


def _open_registry(run: Run, settings: Settings) -> Registry:
    try:
        if settings.registry_url:
            return _given_registry(settings.registry_url)
        workdir = run.dir / "registry"
        security = secure(workdir / "secrets", tls=settings.registry_tls, auth=settings.registry_auth)
        registry, process = spawn_registry(workdir, storage=shared_storage(), security=security)
    except RvconformError as error:
        failure = str(error)
    else:
        run.record_process(process.pid, "registry")
        return registry
    # Failed outside the handler: inside it, the report would say the message twice ("During handling...").
    pytest.fail(failure, pytrace=False)


def _given_registry(url: str) -> Registry:
    """The registry given with --registry; when it does not answer, the message says it was that option's (a
    refusal that names its own fix, e.g. of the certificate or the password, keeps that fix)."""
    try:
        return external_registry(url)
    except RvconformError as error:
        fix = error.fix if error.fix and not isinstance(error, RegistryUnreachable) else (
            f"check that the registry runs and that --registry {url} is its base URL "
            "(http://HOST:PORT or https://HOST:PORT)")
        raise RvconformError(f"--registry {url}: {error.message}", fix=fix) from None


@pytest.fixture(scope="session")
def image_supply(rv_run: Run, rv_settings: Settings, request: pytest.FixtureRequest) -> Iterator[ImageSupply]:
    """Builds each recipe once per run (or pins the --image given for it), here or on the --builder board."""
    needs_builder = bool(set(_selected(request)) - set(rv_settings.images))
    registry: Registry | None = request.getfixturevalue("registry") if needs_builder else None
    builder = Builder(
        registry_url=registry.url if registry else "http://unused", logs_dir=rv_settings.logs_dir,
        bases=rv_settings.bases, mirror=rv_settings.mirror, timeout=rv_settings.build_timeout,
        access=registry.access() if registry else None,
        tag_by_content=registry is not None and registry.pid is not None,  # ours: its storage is shared by runs
        work_dir=rv_run.dir / "contexts",  # removed with the run, also by the sweep after a crash
        record_process=rv_run.record_process, run_id=rv_run.id,
    )
    if rv_settings.builder and registry is not None:
        native = _native_builder(rv_run, rv_settings, registry, builder)
        try:
            yield ImageSupply(rv_run, native, rv_settings.images)
        finally:
            native.close()
        return
    yield ImageSupply(rv_run, builder, rv_settings.images)


def _native_builder(run: Run, settings: Settings, registry: Registry, here: Builder) -> NativeBuilder:
    """The --builder board's builds; the platforms it does not have are built ``here``."""
    from harness.native_build import NativeBuilder  # with SSH (paramiko): loaded only when --builder is given

    return NativeBuilder(
        builder_url=settings.builder or "", registry_url=registry.url, logs_dir=settings.logs_dir, run=run,
        labels=run.labels, mirror=settings.mirror, timeout=settings.build_timeout, access=registry.access(),
        tag_by_content=registry.pid is not None, work_dir=run.dir / "contexts", here=here,
        record_process=run.record_process,
    )


def _selected(request: pytest.FixtureRequest) -> list[str]:
    return [recipe.name for recipe in request.config.stash.get(RECIPES, [])]


@pytest.fixture(scope="session")
def built(image_supply: ImageSupply, recipe: Recipe) -> Outcome[BuiltImage]:
    """The recipe's build (or pinned --image), as an outcome."""
    return _attempt(image_supply.get, recipe)


@pytest.fixture(scope="session")
def image(built: Outcome[BuiltImage], recipe: Recipe, image_supply: ImageSupply,
          request: pytest.FixtureRequest) -> BuiltImage:
    """The recipe's pushed image (for a multi-platform recipe's view: pinned to its platform's entry of the
    index); a failed build fails here, pointing at test_build.

    Its sizes are measured here too, so every test's report can carry them.
    """
    value = built.require(f"build of {recipe.name}", f"test_build[{recipe.view_id}]", request)
    with contextlib.suppress(Exception):  # test_size reports a failure to measure
        image_supply.size(recipe)
    return value.for_platform(recipe.platform) if recipe.multi_platform else value


@pytest.fixture(scope="session")
def connected(
    board_url: str, rv_run: Run, rv_settings: Settings, request: pytest.FixtureRequest
) -> Iterator[Outcome[Board]]:
    """The board connected for the session and reaching the run's registries, as an outcome."""
    outcome = _attempt(_connect, board_url, rv_run, rv_settings, request)
    yield outcome
    if outcome.value is not None:
        outcome.value.close()


def _connect(board_url: str, run: Run, settings: Settings, request: pytest.FixtureRequest) -> Board:
    opened = open_board(board_url, run.labels, run)
    try:
        run.write(BOARD, BoardRecord(board_url, opened.kernel_release()), board_id(board_url))
        own = _run_registry_url(settings, request)
        for url in _registry_urls(settings, request):
            access = ACCESS.access(urlsplit(url).netloc, urlsplit(url).scheme)
            opened.attach_registry(url, settings.registry_address if url == own else None, access)
    except BaseException:
        opened.close()
        raise
    return opened


@pytest.fixture(scope="session")
def board(connected: Outcome[Board], board_url: str, request: pytest.FixtureRequest) -> Board:
    """A reachable board; one that is not fails here, pointing at test_board_reachable (which has the cause)."""
    return connected.require(f"connecting to board {board_url}", f"test_board_reachable[{board_id(board_url)}]",
                             request)


def _run_registry_url(settings: Settings, request: pytest.FixtureRequest) -> str | None:
    if set(_selected(request)) - set(settings.images):
        return request.getfixturevalue("registry").url
    return settings.registry_url


def _registry_urls(settings: Settings, request: pytest.FixtureRequest) -> list[str]:
    """Every registry the run's images come from: the run's own (or --registry), and those --image names."""
    own = _run_registry_url(settings, request)
    given = [client_for(ref).url for ref in settings.images.values()]
    return list(dict.fromkeys([*([own] if own else []), *given]))


@pytest.fixture(scope="session")
def tag_pulled(board: Board, image: BuiltImage, recipe: Recipe, rv_settings: Settings) -> Outcome[TagPull] | None:
    """For a multi-platform recipe's view: the board's pull of the tag (not a digest) for the view's platform,
    and which entry it received, as an outcome; None for a single-platform recipe (pulled by digest only)."""
    if not recipe.multi_platform:
        return None
    return _attempt(pull_by_tag, board, image, recipe.platform, client_for(image.ref), rv_settings.pull_timeout)


@pytest.fixture(scope="session")
def pulled(board: Board, image: BuiltImage, recipe: Recipe, tag_pulled: Outcome[TagPull] | None,
           rv_settings: Settings) -> Outcome[PullResult]:
    """The pull of the recipe's image on the board, pinned by digest (a multi-platform view's: its entry's,
    after the pull by tag), as an outcome."""
    return _attempt(board.pull, image.ref, recipe.platform, rv_settings.pull_timeout)


@pytest.fixture(scope="session")
def on_board(pulled: Outcome[PullResult], recipe: Recipe, board: Board, request: pytest.FixtureRequest) -> PullResult:
    """The recipe's image, pulled on the board; fails pointing at test_pull when the pull failed."""
    return pulled.require(f"pull of {recipe.name} on {board.name}",
                          f"test_pull[{recipe.view_id}-{board_id(board.name)}]", request)


@pytest.fixture(scope="session")
def started(
    board: Board, recipe: Recipe, image: BuiltImage, pulled: Outcome[PullResult], rv_settings: Settings,
    request: pytest.FixtureRequest,
) -> Iterator[Outcome[Deployment]]:
    """The recipe's container started on the board and answering, as an outcome."""
    pulled.require(f"pull of {recipe.name} on {board.name}", f"test_pull[{recipe.view_id}-{board_id(board.name)}]",
                   request)
    outcome = _attempt(deploy, board, recipe, image, rv_settings.ready_timeout)
    failed_log = getattr(outcome.error, "container_log", None)
    if failed_log is not None:
        _save_log(rv_settings, recipe, board, failed_log)
    yield outcome
    if outcome.value is not None:
        with contextlib.suppress(RvconformError):
            _save_log(rv_settings, recipe, board, outcome.value.logs())
        board.remove(outcome.value.container)


@pytest.fixture
def deployment(started: Outcome[Deployment], recipe: Recipe, board: Board, request: pytest.FixtureRequest
               ) -> Deployment:
    """The recipe's container on the board, still running; fails pointing at test_starts when it did not
    start, and with its exit code and log when it has stopped since (asked again for every test)."""
    running = started.require(f"start of {recipe.name} on {board.name}",
                              f"test_starts[{recipe.view_id}-{board_id(board.name)}]", request)
    fail_if_stopped(running)
    return running


def fail_if_stopped(running: Deployment) -> None:
    """Fail the calling test when ``running``'s container is no longer running, saying so with its log."""
    __tracebackhide__ = True
    why = running.why_stopped()
    if why is not None:
        pytest.fail(why, pytrace=False)


def stopped_containers(funcargs: dict[str, Any]) -> list[str]:
    """For a test that failed: why each container it talked to (its Deployment arguments) stopped, if any did.
    A stopped container, not the client's error about it, is the cause to report."""
    values = [value for value in funcargs.values() if isinstance(value, Deployment)]
    return [why for why in map(Deployment.why_stopped, values) if why is not None]


@pytest.fixture(scope="session")
def image_size(image: BuiltImage, recipe: Recipe, image_supply: ImageSupply) -> ImageSize:
    """The image's compressed and unpacked size, as its registry holds it."""
    return image_supply.size(recipe)


@pytest.fixture(scope="session")
def resolved(image: BuiltImage, built: Outcome[BuiltImage], recipe: Recipe) -> Outcome[ResolvedImage]:
    """The image resolved, in its registry, to the manifest and config for the recipe's (view's) platform:
    through the index, for a multi-platform recipe."""
    ref = built.value.ref if recipe.multi_platform and built.value else image.ref
    return _attempt(resolve, client_for(ref), ref.repository, ref.digest, recipe.platform)


@pytest.fixture(scope="session")
def index(image: BuiltImage, built: Outcome[BuiltImage]) -> Manifest:
    """A multi-platform recipe's image index, as its registry serves it now."""
    ref = built.value.ref if built.value else image.ref
    return client_for(ref).manifest(ref.repository, ref.digest or ref.tag or "latest")


@pytest.fixture(scope="session")
def resolved_image(resolved: Outcome[ResolvedImage], recipe: Recipe, request: pytest.FixtureRequest
                   ) -> ResolvedImage:
    """The resolved image; fails pointing at test_manifest_platform when there is none for the platform."""
    return resolved.require(f"finding {recipe.platform} for {recipe.name}",
                            f"test_manifest_platform[{recipe.view_id}]", request)


@pytest.fixture(scope="session")
def image_contents(image: BuiltImage, resolved_image: ResolvedImage) -> ImageContents:
    """The image's final filesystem, read once from its layer blobs (cached by digest)."""
    client = client_for(image.ref)
    return _read_image(tuple(client.blob(resolved_image.repository, digest) for digest in resolved_image.layer_digests))


@functools.lru_cache(maxsize=8)
def _read_image(layer_paths: tuple[Path, ...]) -> ImageContents:
    """Kept by layer blobs for the process: pytest tears a session fixture down and sets it up again when the
    order of tests of several recipes and checks interleaves (it did, four times per image in a main job)."""
    return read_layers(list(layer_paths))


@pytest.fixture(scope="session")
def size_baseline(recipe: Recipe, pytestconfig: pytest.Config) -> Baseline | None:
    """The recipe's size baseline (pinned file or the baseline branch's last record), if there is one."""
    baselines, _ = pytestconfig.stash[BASELINES]
    return baselines.get(size_key(recipe))


def _save_log(settings: Settings, recipe: Recipe, board: Board, text: str) -> None:
    """Keep a service container's output in the logs directory (a courtesy: never fails the test)."""
    with contextlib.suppress(OSError):
        settings.logs_dir.mkdir(parents=True, exist_ok=True)
        (settings.logs_dir / f"container-{recipe.view_id}-{_slug(board.name)}.log").write_text(text)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


@pytest.fixture(scope="session")
def redis_server(
    board: Board, recipe: Recipe, image_supply: ImageSupply, rv_settings: Settings
) -> Iterator[Deployment]:
    """For a redis-cli recipe: its server recipe (``checks.redis-cli.server``) running on the same board."""
    name = str((recipe.check("redis-cli") or {}).get("server", "redis"))
    try:
        server = load_recipe(rv_settings.recipes_dir / name)
        server_image = image_supply.get(server)
        board.pull(server_image.ref, server.platform, rv_settings.pull_timeout)
        running = deploy(board, server, server_image, rv_settings.ready_timeout)
    except RvconformError as error:
        pytest.fail(f"{recipe.name}: its redis server (recipe '{name}') is not available: {error}",
                    pytrace=False)
    yield running
    board.remove(running.container)
