"""The plugin's and the fixtures' own logic, without a session: which runs are rvconform's, which recipes a
suite applies to, how a failed step is pointed at, how the options are read."""

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from harness import plugin
from harness.errors import RvconformError
from harness.fixtures import Outcome, _attempt
from harness.recipes import Recipe
from harness.settings import OPTIONS, given_options, read_settings

SUITES = Path(__file__).parents[2] / "suites"


def config(*args: str, options: dict[str, Any] | None = None, cwd: Path = Path("/"), **extra: Any) -> Any:
    """A stand-in for pytest.Config with the given arguments and rvconform option values (else defaults)."""
    values = {flag.removeprefix("--").replace("-", "_"): spec.get("default") for flag, spec in OPTIONS.items()}
    values.update(options or {})
    return SimpleNamespace(args=list(args), invocation_params=SimpleNamespace(dir=cwd),
                           getoption=lambda name: values[name], **extra)


def test_a_run_is_rvconform_s_when_it_collects_the_suites_or_sets_an_option(tmp_path: Path) -> None:
    assert plugin.is_conformance_run(config(str(SUITES)))
    assert plugin.is_conformance_run(config(f"{SUITES}/test_redis.py::test_auth_set_get"))
    assert plugin.is_conformance_run(config("suites", cwd=SUITES.parent))
    assert plugin.is_conformance_run(config("tests", options={"board": ["qemu"]}))
    assert not plugin.is_conformance_run(config("tests/unit", cwd=SUITES.parent))
    assert not plugin.is_conformance_run(config(str(tmp_path)))


def test_an_xdist_worker_follows_its_controller() -> None:
    assert plugin.is_conformance_run(config(workerinput={"rvconform_run": ("id", "/dir")}))
    assert not plugin.is_conformance_run(config(str(SUITES), workerinput={"workerid": "gw0"}))


def test_given_options_are_those_set_to_something_else_than_their_default() -> None:
    assert given_options(config()) == []
    assert given_options(config(options={"board": ["local"], "ready_timeout": 30.0})) == ["--board", "--ready-timeout"]


def test_structure_test_files_are_checked_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "busybox").mkdir()
    (tmp_path / "busybox" / "image.toml").write_text("")
    good = tmp_path / "cst.yaml"
    good.write_text('schemaVersion: "2.0.0"\n')
    settings = read_settings(config(options={"recipes": str(tmp_path),
                                             "structure_test": [str(good), f"busybox={good}"]}))
    assert [(f.path, f.recipe) for f in settings.structure_tests] == [(good, None), (good, "busybox")]
    bad = tmp_path / "bad.yaml"
    bad.write_text('schemaVersion: "9"\n')
    for values, words in (([str(tmp_path / "missing.yaml")], "missing.yaml: no such file"),
                          ([f"redis={good}"], "there is no recipe 'redis' in"),
                          ([str(bad)], "schemaVersion '9' is not supported")):
        with pytest.raises(pytest.UsageError, match=words) as info:
            read_settings(config(options={"recipes": str(tmp_path), "structure_test": values}))
        assert "fix: " in str(info.value)


def metafunc(**markers: Any) -> Any:
    """A stand-in for pytest.Metafunc whose test carries ``markers`` (name -> marker args)."""
    marks = {name: SimpleNamespace(args=args) for name, args in markers.items()}
    return SimpleNamespace(definition=SimpleNamespace(get_closest_marker=marks.get))


def recipe(name: str, port: int | None = None, checks: tuple[str, ...] = ()) -> Recipe:
    return Recipe(name=name, dir=Path(name), dockerfile=Path(name) / "Dockerfile", port=port,
                  checks={check: {} for check in checks})


def test_a_suite_applies_to_the_recipes_its_markers_ask_for() -> None:
    redis, cli, plain = recipe("redis", 6379, ("redis",)), recipe("redis-cli", None, ("redis-cli",)), recipe("tiny")
    assert [r.name for r in (redis, cli, plain) if plugin._applies(metafunc(profile=("redis",)), r)] == ["redis"]
    assert [r.name for r in (redis, cli, plain) if plugin._applies(metafunc(service=()), r)] == ["redis"]
    assert [r.name for r in (redis, cli, plain) if plugin._applies(metafunc(), r)] == ["redis", "redis-cli", "tiny"]


def test_when_no_recipe_applies_the_suite_is_skipped_saying_why() -> None:
    skipped = plugin._nothing_applies(metafunc(profile=("nginx",)))
    assert skipped.id == "no-recipe" and skipped.marks[0].kwargs["reason"] == "no selected recipe has [checks.nginx]"
    assert plugin._nothing_applies(metafunc()).marks[0].kwargs["reason"] == "no selected recipe has a service port"


def test_a_test_s_own_parametrize_names_are_read_in_either_form() -> None:
    assert plugin._argnames(pytest.mark.parametrize("recipe, board_url", []).mark) == ["recipe", "board_url"]
    assert plugin._argnames(pytest.mark.parametrize(argnames=["recipe"], argvalues=[]).mark) == ["recipe"]


def _request_selecting(*names: str) -> pytest.FixtureRequest:
    """A stand-in for a fixture request in a session that selected the tests ``names``."""
    items = [SimpleNamespace(name=name) for name in names]
    return cast(pytest.FixtureRequest, SimpleNamespace(session=SimpleNamespace(items=items)))


def test_an_outcome_hands_out_its_value_or_points_at_the_step_s_own_test() -> None:
    selected = _request_selecting("test_build[tiny]", "test_pull[tiny-local]")
    assert Outcome(value=3).require("build of tiny", "test_build[tiny]", selected) == 3
    failed = Outcome(error=RvconformError("build of recipe 'tiny' failed (exit 1)\nstep 3/3 ..."))
    with pytest.raises(pytest.fail.Exception, match=r"^build of tiny failed, see test_build\[tiny\]: build of recipe "
                                                    r"'tiny' failed \(exit 1\)$"):
        failed.require("build of tiny", "test_build[tiny]", selected)


def test_an_outcome_whose_own_test_is_deselected_says_the_whole_cause() -> None:
    failed = Outcome(error=RvconformError("qemu: the VM did not boot\n--- console ---\nKernel panic"))
    with pytest.raises(pytest.fail.Exception, match=r"(?s)^connecting to board qemu failed: qemu: the VM did not "
                                                    r"boot\n--- console ---\nKernel panic$"):
        failed.require("connecting to board qemu", "test_board_reachable[qemu]", _request_selecting("test_pull[x]"))


def test_a_step_s_expected_failures_become_outcomes_and_bugs_propagate() -> None:
    def fails(error: Exception) -> None:
        raise error

    assert isinstance(_attempt(fails, RvconformError("down")).error, RvconformError)
    assert isinstance(_attempt(fails, AssertionError("wrong digest")).error, AssertionError)
    assert _attempt(lambda a, b: a + b, 1, 2).value == 3
    with pytest.raises(KeyError):
        _attempt(fails, KeyError("a bug"))


@pytest.mark.parametrize(("raised", "fix"), [
    ("RegistryUnreachable", "check that the registry runs and that --registry https://lab:5000 is its base URL"),
    ("RegistryError", "/tmp/wrong.crt is not the CA that signed the registry's certificate"),
])
def test_a_given_registry_s_refusal_keeps_its_own_fix_and_one_that_does_not_answer_gets_the_option_s(
    monkeypatch: pytest.MonkeyPatch, raised: str, fix: str
) -> None:
    from harness import errors, fixtures

    def refuse(url: str) -> None:
        raise getattr(errors, raised)(f"registry {url} said no", fix="/tmp/wrong.crt is not the CA that signed the "
                                      "registry's certificate")

    monkeypatch.setattr(fixtures, "external_registry", refuse)
    with pytest.raises(RvconformError) as caught:
        fixtures._given_registry("https://lab:5000")
    assert caught.value.message == "--registry https://lab:5000: registry https://lab:5000 said no"
    assert (caught.value.fix or "").startswith(fix)
