"""``rvconform``: run the conformance suites, check the host, make base images."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from harness import defaults
from harness.errors import RvconformError

DESCRIPTION = """\
Conformance harness for riscv64 container images: builds recipes for linux/riscv64, pushes them to a
registry, pulls and runs them on boards, and checks that they start, do their job, are riscv64
and stay within their size budgets.

commands:
  run [PYTEST ARGS]   the conformance suites, reports in ./reports (junit.xml, report.html);
                      any pytest or rvconform option passes through, e.g. --recipe redis -n auto
  doctor              check this host's prerequisites and print the fix for each missing one
  bootstrap           make the Debian base images the recipes need, from a Debian mirror
  config RUNTIME      registry configuration for a board: k3s registries.yaml, containerd
                      hosts.toml or docker daemon.json (rvconform config k3s --registry URL)
  sizes               image sizes over time: a table against the baseline, a Markdown summary for a
                      pull request (reports/sizes.md) and a plot (reports/sizes.png)

`rvconform run --help` lists the suite options (--recipes, --recipe, --image, --registry, --board,
--reports, --structure-test, ...) in the 'rvconform' group.

exit status of `rvconform run`:
  0    every selected check passed (skipped checks say why in the report)
  1    a check failed, or could not run because something it needs failed (an error)
  2    usage or set-up error: a bad option or recipe, nothing selected (or every selected test
       skipped), a missing prerequisite
  3    internal error in rvconform or pytest (please report it with the output)
  130  interrupted (Ctrl-C or SIGTERM); junit.xml, report.html and results.json say so
Other commands: 0 success, 1 a doctor check failed, 2 usage or set-up error.
"""

#: pytest's exit codes -> rvconform's (pytest 2 is an interruption, 4 a usage error, 5 "no tests ran").
RUN_EXIT_CODES = {0: 0, 1: 1, 2: 130, 3: 3, 4: 2, 5: 2}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rvconform`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(f"usage: rvconform {{run,doctor,bootstrap,config,sizes}} ...\n\n{DESCRIPTION}")
        return 0 if args else 2
    if args[0] == "--version":
        from harness.environment import rvconform_version

        print(f"rvconform {rvconform_version()}")
        return 0
    command, rest = args[0], args[1:]
    commands = {"run": run, "doctor": doctor, "bootstrap": bootstrap, "config": config, "sizes": sizes}
    if command not in commands:
        print(f"rvconform: unknown command {command!r}; use one of {', '.join(commands)}", file=sys.stderr)
        return 2
    try:
        return commands[command](rest)
    except RvconformError as error:
        print(f"rvconform {command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rvconform {command}: interrupted", file=sys.stderr)
        return 130


def run(args: list[str]) -> int:
    """Run the suites with reports on (default ./reports); the exit status in DESCRIPTION."""
    import pytest

    # Located, not imported: pytest must import the suites itself to rewrite their asserts.
    suites_dir = importlib.util.find_spec("suites").submodule_search_locations[0]
    has_reports = any(a == "--reports" or a.startswith("--reports=") for a in args)
    options = [] if has_reports else ["--reports", defaults.REPORTS_DIR]
    targets = [] if any(_is_suite_path(a) for a in args) else [suites_dir]
    # testinfra is a library here (the SSH board's paramiko backend); its plugin's options (--hosts, --sudo,
    # ...) would do nothing in a run, so they stay out of `rvconform run --help`.
    status = int(pytest.main([*targets, "-p", "no:pytest11.testinfra", *options, *args]))
    if status == pytest.ExitCode.NO_TESTS_COLLECTED:
        print("rvconform run: no test ran (none was selected, or every selected one was skipped), so nothing "
              "was checked; check --recipe, --board and -k", file=sys.stderr)
    return RUN_EXIT_CODES.get(status, status)


def _is_suite_path(arg: str) -> bool:
    """A test file or node id given on the command line (then it replaces the whole suite)."""
    path = Path(arg.split("::")[0])
    return not arg.startswith("-") and path.suffix == ".py" and path.exists()


def doctor(args: list[str]) -> int:
    """Print the host check table; 1 when a required prerequisite is missing."""
    from harness.hostcheck import run_doctor

    parser = argparse.ArgumentParser(prog="rvconform doctor", description="Check this host's prerequisites.")
    parser.parse_args(args)
    return run_doctor()


def bootstrap(args: list[str]) -> int:
    """Make (or reuse from the cache) the base images the recipes name in their [bases]."""
    from harness import bootstrap as bases
    from harness.recipes import load_recipes

    parser = argparse.ArgumentParser(
        prog="rvconform bootstrap",
        description="Make the Debian base images named in the recipes' [bases] with mmdebstrap, cache them "
        "(keyed by their inputs) and load them into the engine with the right platform.",
    )
    parser.add_argument("--recipes", default=defaults.RECIPES_DIR, help="recipes directory (default: %(default)s)")
    parser.add_argument("--recipe", action="append", default=[], help="only this recipe (repeatable)")
    parser.add_argument("--mirror", default=defaults.DEBIAN_MIRROR, help="Debian mirror (default: %(default)s)")
    parser.add_argument("--refresh", action="store_true", help="rebuild even when cached")
    options = parser.parse_args(args)
    wanted = {
        bases.base_for(spec, platform, options.mirror)  # a multi-platform recipe needs bases per architecture
        for recipe in load_recipes(Path(options.recipes), options.recipe or None)
        for platform in recipe.platforms for spec in recipe.bases.values()
    }
    for base in sorted(wanted, key=lambda b: b.ref):
        print(f"{bases.ensure_base(base, refresh=options.refresh)}  ({base.archive})")
    return 0


def config(args: list[str]) -> int:
    """Print a registry configuration file for a board's runtime."""
    from harness.runtime_config import main as config_main

    return config_main(args)


def sizes(args: list[str]) -> int:
    """Size table, Markdown and plot from the size history; 1 when a recipe is over its limits."""
    from harness.sizes.report import report_history

    parser = argparse.ArgumentParser(
        prog="rvconform sizes",
        description="Compare each recipe's latest size with its baseline and budget; write a Markdown "
        "summary and a plot of the size history.",
    )
    reports = defaults.REPORTS_DIR
    parser.add_argument("--history", default=f"{reports}/{defaults.HISTORY_FILE}",
                        help="size history (default: %(default)s)")
    parser.add_argument("--baseline-branch", default=defaults.BASELINE_BRANCH,
                        help="baseline: the last run on this branch before the latest (default: %(default)s)")
    parser.add_argument("--baseline", help="pinned baseline sizes.json (wins over --baseline-branch)")
    parser.add_argument("--recipes", default=defaults.RECIPES_DIR,
                        help="recipes directory, for budgets (default: %(default)s)")
    parser.add_argument("--markdown", default=f"{reports}/sizes.md", help="Markdown summary (default: %(default)s)")
    parser.add_argument("--plot", default=f"{reports}/sizes.png", help="PNG plot (default: %(default)s)")
    options = parser.parse_args(args)
    return report_history(Path(options.history), options.baseline_branch,
                          Path(options.baseline) if options.baseline else None, Path(options.recipes),
                          Path(options.markdown), Path(options.plot))


if __name__ == "__main__":
    raise SystemExit(main())
