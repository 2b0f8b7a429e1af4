"""The rvconform pytest plugin: options, markers and hooks. Thin: the work lives in the library.

Loaded through the ``pytest11`` entry point (or the root conftest.py in a checkout), so it loads in every
pytest run of the venv it is installed in. It stays out of the way of those: unless a run collects the
conformance suites or sets an rvconform option, it makes no run directory, installs no signal handler,
starts no progress display and parametrizes nothing.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import signal
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from harness import progress, reports
from harness.boards import board_id
from harness.boards.platforms import runs_platform
from harness.build import BuiltImage
from harness.checks.spec import BOARD_KINDS
from harness.environment import run_environment
from harness.errors import RvconformError
from harness.fixtures import *  # noqa: F403  (fixtures are found by pytest through this module)
from harness.fixtures import stopped_containers
from harness.images import size_key
from harness.plugin_state import BASELINES, RECIPES, RUN, SETTINGS
from harness.progress_display import Display
from harness.recipes import Recipe, load_recipes, with_structure_tests
from harness.registry_access import ACCESS
from harness.results import ResultCollector
from harness.run import Run
from harness.run.records import BOARD, IMAGE, REGISTRY, SIZE
from harness.settings import Settings, add_options, given_options, read_settings
from harness.sizes import run_summary
from harness.sizes.history import SizeRecord

_WORKER_KEY = "rvconform_run"
_INPUT_ERROR = pytest.StashKey[RvconformError]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(tryfirst=True)  # before pytest-html and junitxml read the report paths
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "profile(name): run only for recipes with [checks.<name>]")
    config.addinivalue_line("markers", "service: run only for recipes that declare a service port")
    config.addinivalue_line("markers", "declared(kind): one test per declared check of that kind (declared_check)")
    config.addinivalue_line("markers", "slow: takes minutes (still runs in CI)")
    config.addinivalue_line("markers", "index: once per multi-platform recipe (its image index), not per platform")
    if is_conformance_run(config):
        _start(config)


def is_conformance_run(config: pytest.Config) -> bool:
    """Whether this pytest run is rvconform's: an xdist worker of one, or a run that collects the suites or
    sets an rvconform option. Any other run in the same venv is left alone."""
    worker = getattr(config, "workerinput", None)
    if worker is not None:
        return _WORKER_KEY in worker
    suites = Path(importlib.util.find_spec("suites").submodule_search_locations[0]).resolve()
    paths = (Path(config.invocation_params.dir, arg.split("::")[0]).resolve() for arg in config.args)
    return any(path == suites or suites in path.parents for path in paths) or bool(given_options(config))


def _active(config: pytest.Config) -> bool:
    return RUN in config.stash


def _start(config: pytest.Config) -> None:
    """Set up the conformance run: settings, the run directory, and in the controlling process the signal
    handler, the summary, the progress display and the report paths."""
    settings = read_settings(config)
    config.stash[SETTINGS] = settings
    know_registries(settings)
    worker = getattr(config, "workerinput", None)
    _recipes(config)
    if _INPUT_ERROR in config.stash:  # now, before anything (the reports of an earlier run) is touched
        raise pytest.UsageError(str(config.stash[_INPUT_ERROR]))
    config.stash[RUN] = Run.join(*worker[_WORKER_KEY]) if worker else Run.start()
    progress.enable(config.stash[RUN].dir)  # every process of the run records its long steps for the display
    try:
        config.stash[BASELINES] = run_summary.load_baselines(settings)
    except RvconformError as error:
        raise pytest.UsageError(str(error)) from None
    if worker is None:
        signal.signal(signal.SIGTERM, _interrupt)
        # A process started in the background of a script inherits SIGINT ignored, and Python then leaves it
        # so: a Ctrl-C or `kill -INT` would be lost and the run would go on. The run always cleans up and stops.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        config.pluginmanager.register(_SummaryPlugin(), "rvconform-summary")
        if not config.option.fulltrace:
            config.pluginmanager.register(_ShortInterrupt(), "rvconform-short-interrupt")
        config.pluginmanager.register(Display(config.stash[RUN].dir), "rvconform-progress")
    if settings.reports_dir and worker is None:
        _enable_reports(config, settings.reports_dir)
    if getattr(config.option, "numprocesses", None) and getattr(config.option, "dist", "no") in ("no", "load"):
        config.option.dist = "loadgroup"  # pytest_xdist_make_scheduler keeps each board's tests in one worker


def know_registries(settings: Settings) -> None:
    """Tell this process's registry access book what the options say: CA files and plain-HTTP registries."""
    ACCESS.configure(settings.registry_ca, settings.registry_http, settings.registry_url, settings.pull_timeout)


def _interrupt(signum: int, frame: Any) -> None:
    """Turn SIGTERM into Ctrl-C, so fixtures and the run's teardown clean up."""
    raise KeyboardInterrupt(f"signal {signum}")


class _ShortInterrupt:
    """Ctrl-C or SIGTERM: pytest renders the interrupt's traceback (and prints only its last line without
    --fulltrace). Rendering all of its ~60 frames parses each frame's source file; under load that alone took
    longer than the whole cleanup, so only the innermost frame is kept."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        if len(excinfo.traceback) > 1:
            excinfo.traceback = excinfo.traceback[-1:]


def _enable_reports(config: pytest.Config, reports_dir: Any) -> None:
    reports_dir.mkdir(parents=True, exist_ok=True)
    if not config.option.xmlpath:
        config.option.xmlpath = str(reports_dir / "junit.xml")
    if hasattr(config.option, "htmlpath") and not config.option.htmlpath:
        config.option.htmlpath = str(reports_dir / "report.html")
        config.option.self_contained_html = True


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: workers join the controller's run, so session resources are shared."""
    if not _active(node.config):
        return
    run = node.config.stash[RUN]
    node.workerinput[_WORKER_KEY] = (run.id, str(run.dir))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize suites over the selected recipes (filtered by markers) and boards.

    A test that parametrizes ``recipe`` or ``board_url`` itself keeps its own values.
    """
    if not _active(metafunc.config):
        return
    declared = metafunc.definition.get_closest_marker("declared")
    if declared is not None:
        _parametrize_declared(metafunc, declared.args[0])
        return
    own = {name for mark in metafunc.definition.iter_markers("parametrize") for name in _argnames(mark)}
    if "recipe" in metafunc.fixturenames and "recipe" not in own:
        recipes = [view for r in _recipes(metafunc.config) for view in _views(metafunc, r) if _applies(metafunc, view)]
        per_index = metafunc.definition.get_closest_marker("index") is not None
        params = [pytest.param(r, id=r.name if per_index else r.view_id) for r in recipes]
        params = params or [_nothing_applies(metafunc)]
        metafunc.parametrize("recipe", params, scope="session")
    if "board_url" in metafunc.fixturenames and "board_url" not in own:
        boards = list(metafunc.config.stash[SETTINGS].boards)
        metafunc.parametrize("board_url", boards, ids=[board_id(b) for b in boards], scope="session")


def _views(metafunc: pytest.Metafunc, recipe: Recipe) -> list[Recipe]:
    """The recipe once per declared platform; for an ``index`` test, a multi-platform recipe once (by name)."""
    if metafunc.definition.get_closest_marker("index"):
        return [recipe] if recipe.multi_platform else []
    return recipe.views()


def _parametrize_declared(metafunc: pytest.Metafunc, kind: str) -> None:
    """One test per declared check of ``kind``: per recipe and board (id RECIPE-BOARD-CHECK) for the kinds that
    need a container, per recipe (id RECIPE-CHECK) for those read from the image."""
    boards = list(metafunc.config.stash[SETTINGS].boards) if kind in BOARD_KINDS else [None]
    params = [pytest.param(*_declared_values(recipe, url, check), id=_declared_id(recipe, url, check.name))
              for base in _recipes(metafunc.config) for recipe in base.views()
              for check in getattr(recipe.declared, kind) if _check_applies(check, recipe)
              for url in boards if url is None or runs_platform(url, recipe.platform)]
    names = "recipe,board_url,declared_check" if kind in BOARD_KINDS else "recipe,declared_check"
    if not params:
        article = "an" if kind[0] in "aeiou" else "a"
        skip = pytest.mark.skip(reason=f"no selected recipe declares {article} {kind} check")
        params = [pytest.param(*([None] * len(names.split(","))), id="no-check", marks=skip)]
    metafunc.parametrize(names, params, scope="session")


def _declared_values(recipe: Recipe, url: str | None, check: object) -> tuple[object, ...]:
    return (recipe, check) if url is None else (recipe, url, check)


def _check_applies(check: object, recipe: Recipe) -> bool:
    """A check with a ``platforms`` filter runs only for those platforms' entries."""
    applies = getattr(check, "applies_to", None)
    return applies is None or applies(recipe.platform)


def _declared_id(recipe: Recipe, url: str | None, name: str) -> str:
    return f"{recipe.view_id}-{name}" if url is None else f"{recipe.view_id}-{board_id(url)}-{name}"


def _argnames(mark: pytest.Mark) -> list[str]:
    names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
    return [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)


def _recipes(config: pytest.Config) -> list[Recipe]:
    """The selected recipes, loaded on first use; bad input is kept for a clean usage error."""
    if RECIPES not in config.stash:
        settings = config.stash[SETTINGS]
        try:
            loaded = load_recipes(settings.recipes_dir, list(settings.recipe_names) or None)
            config.stash[RECIPES] = [with_structure_tests(recipe, settings.structure_tests) for recipe in loaded]
            unknown = sorted(set(settings.images) - {r.name for r in config.stash[RECIPES]})
            if unknown:
                raise RvconformError(f"--image names recipe(s) {', '.join(unknown)}, which are not selected "
                                     f"in {settings.recipes_dir}", fix="use a recipe name from there")
        except RvconformError as error:
            config.stash[_INPUT_ERROR] = error
            config.stash[RECIPES] = []
    return config.stash[RECIPES]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stop with the recipe error (pytest prints it as a usage error, no traceback); in an xdist worker, record
    each board's tests as one group for the controller's scheduler (``harness.board_groups``)."""
    if not _active(config):
        return
    error = config.stash.get(_INPUT_ERROR, None)
    if error is not None:
        raise pytest.UsageError(str(error))
    _deselect_foreign_platforms(config, items)
    worker = getattr(config, "workerinput", None)
    if worker is not None:
        from harness.board_groups import write_board_groups  # imports xdist's scheduler: xdist processes only

        write_board_groups(config.stash[RUN].dir, worker["workerid"], _board_groups(items))


def _board_groups(items: list[pytest.Item]) -> dict[str, str]:
    """Each board test's node id -> its board's group."""
    groups = {}
    for item in items:
        url = item.callspec.params.get("board_url") if hasattr(item, "callspec") else None
        if url:
            groups[item.nodeid] = f"board-{board_id(url)}"
    return groups


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """pytest-xdist: spread the tests, keeping each board's in one worker (``harness.board_groups``)."""
    if not _active(config) or config.getvalue("dist") != "loadgroup":
        return None
    from harness.board_groups import BoardGroupScheduling  # imports xdist's scheduler: xdist processes only

    return BoardGroupScheduling(config, log, config.stash[RUN].dir)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move what start-up and collection made (modules, plugins, test items: it lives until the run ends) out of
    the garbage collector's reach. pytest collects garbage at the end of the run to find unraisable exceptions;
    without this each pass walks all of it again (tens of milliseconds, a noticeable share of a quick check)."""
    if _active(session.config):
        gc.freeze()


def _deselect_foreign_platforms(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the tests of a multi-platform recipe's entry on a board that does not run its platform (the amd64
    entry on the riscv64 VM): that entry is checked on the boards that run it (the local engine, natively)."""
    foreign = [item for item in items if _foreign(item)]
    if foreign:
        config.hook.pytest_deselected(items=foreign)
        items[:] = [item for item in items if not _foreign(item)]


def _foreign(item: pytest.Item) -> bool:
    params = item.callspec.params if hasattr(item, "callspec") else {}
    recipe, url = params.get("recipe"), params.get("board_url")
    return isinstance(recipe, Recipe) and bool(url) and not runs_platform(url, recipe.platform)


def _nothing_applies(metafunc: pytest.Metafunc) -> Any:
    if metafunc.definition.get_closest_marker("index"):
        return pytest.param(None, id="no-recipe", marks=pytest.mark.skip(reason="no selected recipe declares "
                                                                                  "several platforms"))
    profile = metafunc.definition.get_closest_marker("profile")
    wanted = f"[checks.{profile.args[0]}]" if profile else "a service port"
    reason = f"no selected recipe has {wanted}"
    return pytest.param(None, id="no-recipe", marks=pytest.mark.skip(reason=reason))


def _applies(metafunc: pytest.Metafunc, recipe: Recipe) -> bool:
    profile = metafunc.definition.get_closest_marker("profile")
    if profile and recipe.check(profile.args[0]) is None:
        return False
    return not (metafunc.definition.get_closest_marker("service") and not recipe.is_service)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if not _active(item.config):
        return report
    recipe = item.callspec.params.get("recipe") if hasattr(item, "callspec") else None
    if isinstance(recipe, Recipe):
        size = item.config.stash[RUN].read(SIZE, size_key(recipe))
        known = {key for key, _ in item.user_properties}
        for key, value in reports.item_properties(item, size):
            if key not in known:
                item.user_properties.append((key, value))
        report.user_properties = list(item.user_properties)
    if report.failed and report.when == "call":
        _blame_stopped_containers(item, report)
    if report.failed and hasattr(item, "callspec"):
        _attach_logs(item, report)
    return report


def _blame_stopped_containers(item: pytest.Item, report: pytest.TestReport) -> None:
    """A test that failed while a container it needed had stopped (killed, crashed) says that, with the
    container's exit code and log, instead of the client's error (a refused connection, a port not shown)."""
    causes = stopped_containers(getattr(item, "funcargs", {}))
    if causes:  # what the client saw (a refused connection, an unpublished port) follows from it: not repeated
        report.longrepr = "\n".join(causes)


def _attach_logs(item: pytest.Item, report: pytest.TestReport) -> None:
    """A failed build shows its build log; a failed start shows the container's own log."""
    recipe = item.callspec.params.get("recipe")
    if not isinstance(recipe, Recipe):
        return
    extra = None
    if item.originalname == "test_build":
        outcome = item.config.stash[RUN].read(IMAGE, recipe.name)
        extra = reports.log_extra(outcome and outcome.build_log, f"build log of {recipe.name}")
    elif item.originalname == "test_starts":
        error = getattr(getattr(item, "funcargs", {}).get("started"), "error", None)
        text = getattr(error, "container_log", None)
        board = item.callspec.params.get("board_url", "")
        extra = reports.text_extra(text, f"container log of {recipe.name} on {board}") if text is not None else None
    if extra is not None:
        report.extras = [*getattr(report, "extras", []), extra]


class _SummaryPlugin:
    """In the controlling process: sizes, results.json, the report's header, --summary, and one line per
    image at the end of the run."""

    def __init__(self) -> None:
        self.summary = reports.ImageSummary()
        self.results = ResultCollector()
        self.sizes: run_summary.SizeSummary | None = None
        self.running: str | None = None  # the test that started and has not finished
        self.failed_recipes: set[str] = set()

    @pytest.hookimpl(tryfirst=True)  # before junitxml and pytest-html write their reports
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        config = session.config
        if RUN not in config.stash or not _recipes(config) or config.option.collectonly:
            return
        settings: Settings = config.stash[SETTINGS]
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        if interrupted:
            _report_interruption(config, self.running)
        elif exitstatus == pytest.ExitCode.OK and self._nothing_checked():
            config.get_terminal_writer().line("rvconform: every selected test was skipped (the reasons are above), "
                                              "so nothing was checked", red=True)
            session.exitstatus = exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
        self.sizes = self._finish_sizes(config, record=not interrupted)
        environment = run_environment(_board_kernels(config))
        registry = config.stash[RUN].read(REGISTRY)
        if registry:
            environment["run registry"] = registry.describe()
        _add_to_report_header(config, environment, interrupted)
        if settings.reports_dir:
            self.results.write(settings.reports_dir / "results.json", exit_status=int(exitstatus),
                               interrupted=interrupted, environment=environment)
        if settings.summary_file:
            _append_summary(settings.summary_file, self.results.counts(), self.sizes, interrupted)

    def _nothing_checked(self) -> bool:
        counts = self.results.counts()
        return counts["skipped"] > 0 and counts["passed"] + counts["failed"] + counts["error"] == 0

    def _finish_sizes(self, config: pytest.Config, *, record: bool) -> run_summary.SizeSummary | None:
        """This run's sizes; the history gets a record only for a recipe none of whose tests failed: a record
        is the next run's baseline, so one from a failed run would accept what this run rejected (a growth
        over the limit, an image that does not work) without anyone deciding it. A failed recipe's sizes
        are still in this run's sizes.json and report."""
        baselines, note = config.stash[BASELINES]
        measured = _measured(config)
        unrecorded = sorted({record.recipe for record in measured} & self.failed_recipes)
        if record and unrecorded and config.stash[SETTINGS].history_path:
            config.get_terminal_writer().line(f"rvconform: no size record for {', '.join(unrecorded)}: "
                                              "a test of it failed")
        try:
            return run_summary.finish(measured, config.stash[SETTINGS], _recipes(config), baselines, note,
                                      record=record, unrecorded=unrecorded)
        except (RvconformError, OSError) as error:
            config.get_terminal_writer().line(f"rvconform: size records not written: {error}", red=True)
            return None

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str]) -> None:
        if self.sizes and self.sizes.html:
            prefix.append(self.sizes.html)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        reports.html_header(cells)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        reports.html_row(report, cells)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.running = nodeid

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self.running = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.summary.add(report)
        self.results.add(report)
        properties = dict(report.user_properties)
        if report.failed and properties.get("recipe"):  # the recipe's records, and its entry's (busybox-amd64)
            self.failed_recipes.update(str(properties[key]) for key in ("recipe", "view") if properties.get(key))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        lines = self.summary.render()
        if lines:
            terminalreporter.section("rvconform: images")
            for line in lines:
                terminalreporter.write_line(line)


INTERRUPTED_ID = "rvconform::run_interrupted"


def _report_interruption(config: pytest.Config, running: str | None) -> None:
    """Make the interruption a test case of its own, an error, in every report (junit.xml, report.html,
    results.json, the terminal): a CI that reads only the counts then sees that the run did not finish."""
    where = f"while {running} was running; it and" if running else "; the tests not reported and"
    message = (f"the run was interrupted (Ctrl-C or SIGTERM) {where} every test after it did not run: "
               "they are not in this report, and nothing they check was checked")
    for when, outcome, longrepr in (("setup", "failed", message), ("teardown", "passed", None)):
        report = pytest.TestReport(INTERRUPTED_ID, ("rvconform", None, "run interrupted"), {}, outcome, longrepr,
                                   when)
        config.hook.pytest_runtest_logreport(report=report)


def _measured(config: pytest.Config) -> list[SizeRecord]:
    """The size record of each image this run measured."""
    run: Run = config.stash[RUN]
    identity = run_summary.RunIdentity.here()
    records = (run_summary.current_record(view, _view_image(run, view), run.read(SIZE, size_key(view)), identity,
                                          size_key(view))
               for recipe in _recipes(config) for view in recipe.views())
    return [record for record in records if record]


def _view_image(run: Run, view: Recipe) -> BuiltImage | None:
    """The image of one platform's view: a multi-platform recipe's is pinned to that entry of the index."""
    image = _image(run, view)
    return image.for_platform(view.platform) if image and view.multi_platform else image


def _image(run: Run, recipe: Recipe) -> BuiltImage | None:
    outcome = run.read(IMAGE, recipe.name)
    return outcome.image if outcome else None


def _board_kernels(config: pytest.Config) -> dict[str, str]:
    run: Run = config.stash[RUN]
    records = (run.read(BOARD, board_id(url)) for url in config.stash[SETTINGS].boards)
    return {record.url: record.kernel for record in records if record}


def _add_to_report_header(config: pytest.Config, environment: dict[str, str], interrupted: bool) -> None:
    """The HTML report's environment table (pytest-metadata's, read by pytest-html) and JUnit's properties."""
    rows = {**({"RUN INTERRUPTED": "yes: the run did not finish; tests not run are not in this report"}
               if interrupted else {}), **environment}
    with contextlib.suppress(ImportError, KeyError):
        from pytest_metadata.plugin import metadata_key

        config.stash[metadata_key].update(rows)  # in place: pytest-html holds this very dict
    with contextlib.suppress(ImportError, KeyError):
        from _pytest.junitxml import xml_key  # what the public record_testsuite_property fixture uses

        for key, value in rows.items():
            config.stash[xml_key].add_global_property(key, value)


def _append_summary(path: Path, counts: dict[str, int], sizes: run_summary.SizeSummary | None,
                    interrupted: bool) -> None:
    verdicts = ", ".join(f"{count} {outcome}" for outcome, count in counts.items() if count) or "no test ran"
    lines = ["## rvconform", "", f"**{'Interrupted: ' if interrupted else ''}{verdicts}**", ""]
    with path.open("a", encoding="utf-8") as summary:
        summary.write("\n".join(lines) + "\n" + (sizes.markdown if sizes else "No image was measured.\n") + "\n")


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(RUN, None)
    if run is None or hasattr(config, "workerinput"):
        return
    _keep_registry_log(config, run)
    _keep_vm_logs(config, run)
    run.close()


def _keep_registry_log(config: pytest.Config, run: Run) -> None:
    registry = run.read(REGISTRY)
    settings = config.stash[SETTINGS]
    if registry and registry.log_path and settings.reports_dir:
        source = Path(registry.log_path)
        if source.is_file():
            settings.logs_dir.mkdir(parents=True, exist_ok=True)
            (settings.logs_dir / "registry.log").write_bytes(source.read_bytes())



def _keep_vm_logs(config: pytest.Config, run: Run) -> None:
    """The qemu board's console (and a hung boot's) and QEMU's output, as logs/vm-*.log: the run's directory,
    where the VM wrote them, goes with the run."""
    logs = sorted((run.dir / "vm").glob("*.log"))
    settings = config.stash[SETTINGS]
    if logs and settings.reports_dir:
        settings.logs_dir.mkdir(parents=True, exist_ok=True)
        for log in logs:
            with contextlib.suppress(OSError):
                (settings.logs_dir / f"vm-{log.name}").write_bytes(log.read_bytes())
