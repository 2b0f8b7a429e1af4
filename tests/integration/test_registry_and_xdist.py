"""The spawned registry: answers, keeps its log, is shared by xdist workers with one build per recipe; xdist keeps a
board's tests in one worker."""

import re
import time

import pytest
import requests

from harness.errors import RegistryError
from harness.registry import external_registry


def test_the_spawned_registry_serves_what_was_pushed(registry_process, tiny_image) -> None:
    assert requests.get(f"{registry_process.url}/v2/", timeout=5).status_code == 200
    client = registry_process.client()
    assert "riscv64/tiny" in requests.get(f"{registry_process.url}/v2/_catalog", timeout=5).json()["repositories"]
    assert "1" in client.tags("riscv64/tiny")
    assert client.manifest("riscv64/tiny", "1").digest == tiny_image.ref.digest


def test_an_unreachable_registry_is_named_within_seconds() -> None:
    started = time.monotonic()
    with pytest.raises(RegistryError, match=r"registry http://127.0.0.1:9 does not answer[\s\S]*fix:"):
        external_registry("http://127.0.0.1:9")
    assert time.monotonic() - started < 10


def test_xdist_workers_share_one_registry_and_one_build_per_recipe_and_each_board_stays_in_one_worker(
    run_suites, recipes_dir) -> None:
    run = run_suites("-n", "2", "-v", recipes=recipes_dir("tiny", "over-budget"))
    assert run.outcome("test_pull[tiny-local]") == "passed", run.output
    workers = {test: worker for worker, test in re.findall(r"^\[(gw\d+)\] .*?(?:PASSED|FAILED|ERROR|SKIPPED) (\S+)",
                                                          run.output, re.MULTILINE)}
    board_tests = [test for test in workers if re.search(r"[\[-]local\]$", test)]
    assert board_tests and len(workers) > len(board_tests), run.output
    assert {workers[test] for test in board_tests} == {workers[board_tests[0]]}, \
        f"the local board's tests ran in more than one worker: {[(t, workers[t]) for t in board_tests]}"
    assert len(set(workers.values())) == 2, f"the other tests did not spread: {workers}"
    registries = {v.properties["image"].split("/")[0] for v in run.verdicts.values() if "image" in v.properties}
    assert len(registries) == 1, registries
    log = (run.reports / "logs" / "registry.log").read_text()
    for recipe in ("tiny", "over-budget"):
        # One build asks by its tag (1-<build key>) at most twice (its build record's check, then the push's);
        # two builds would ask more. Pulls go by digest.
        builds = re.findall(rf'"GET /v2/riscv64/{recipe}/manifests/1-[0-9a-f]+ ', log)
        assert 1 <= len(builds) <= 2, f"{recipe} was looked up {len(builds)} times: built more than once"
        assert len(re.findall(rf'"PUT /v2/riscv64/{recipe}/manifests/1-[0-9a-f]+ ', log)) <= 1


def test_an_unchanged_recipe_is_neither_built_nor_pushed_while_the_registry_serves_it(
    registry_process, recipes_dir, tmp_path
) -> None:
    from harness.build import Builder
    from harness.recipes import load_recipe

    builder = Builder(registry_process.url, tmp_path / "logs")
    log = tmp_path / "logs" / "build-tiny-records.log"
    # Its own repository in the shared test registry: other tests pin riscv64/tiny:1 there.
    recipe_dir = (recipes_dir("tiny") / "tiny").rename(tmp_path / "recipes" / "tiny-records")
    first = builder.build(load_recipe(recipe_dir))
    assert "--platform linux/riscv64" in log.read_text(), "the first build runs BuildKit"
    again = builder.build(load_recipe(recipe_dir))
    assert again.ref.digest == first.ref.digest and again.reused
    assert "not built, not pushed" in log.read_text() and "--platform" not in log.read_text(), "BuildKit did not run"

    (recipe_dir / "note.txt").write_text(f"an input changed at {time.time_ns()}\n")  # never built before
    changed = builder.build(load_recipe(recipe_dir))
    assert "--platform linux/riscv64" in log.read_text(), "a changed input runs BuildKit again"
    assert changed.ref.digest == first.ref.digest, "BuildKit's output did not change (note.txt is not COPYed)"
