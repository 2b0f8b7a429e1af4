"""The main job, as a user runs it: every shipped recipe passes every check on the local board and on
the full-system riscv64 VM, in one run and one report, through a registry secured like a lab's (TLS with the
run's own CA, htpasswd login): every push and every board's pull goes through TLS and a login."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

BOARDS = ("local", "qemu")
SERVICES = {"redis": "redis", "redis-static": "redis", "nginx": "nginx", "nginx-static": "nginx"}
RECIPES = [*SERVICES, "redis-cli"]
PER_IMAGE = ["test_build", "test_manifest_platform", "test_config_platform", "test_elf_files",
             "test_config_metadata", "test_within_budget"]
PER_BOARD = ["test_pull", "test_pull_through_k3s_mirror_config"]
REDIS = ["test_refuses_commands_without_auth", "test_refuses_a_wrong_password", "test_auth_set_get",
         "test_info_server_says_riscv64"]
NGINX = ["test_serves_the_page", "test_missing_page_is_404", "test_server_header_names_nginx"]


def expected_tests() -> set[str]:
    names = {f"{test}[{recipe}]" for recipe in RECIPES for test in PER_IMAGE}
    for board in BOARDS:
        names.add(f"test_board_reachable[{board}]")
        names |= {f"{test}[{recipe}-{board}]" for recipe in RECIPES for test in PER_BOARD}
        for recipe, kind in SERVICES.items():
            names |= {f"{test}[{recipe}-{board}]" for test in ["test_starts", *(REDIS if kind == "redis" else NGINX)]}
        names.add(f"test_auth_set_get_against_redis[redis-cli-{board}]")
    return names


def test_rvconform_run_passes_every_check_on_both_boards_and_writes_the_reports(run_suites) -> None:
    run = run_suites("--board", "local", "--board", "qemu", "--registry-tls", "--registry-auth", cli=True)
    not_passed = {name: verdict.message[:500] for name, verdict in run.verdicts.items()
                  if verdict.outcome != "passed" and not (name.startswith("test_size_growth[")
                                                          and verdict.outcome == "skipped")}
    assert not not_passed, f"{not_passed}\n{run.output[-3000:]}"
    assert run.returncode == 0, run.output[-3000:]
    assert expected_tests() <= set(run.verdicts), sorted(expected_tests() - set(run.verdicts))

    redis = run.verdicts["test_auth_set_get[redis-local]"].properties
    assert redis["board"] == "local" and redis["platform"] == "linux/riscv64"
    assert redis["image"].endswith(redis["digest"]) and redis["digest"].startswith("sha256:")
    assert redis["build"] in ("built", "reused")
    assert 0 < int(redis["unpacked_bytes"]) <= 12_000_000
    assert run.verdicts["test_auth_set_get[redis-qemu]"].properties["board"] == "qemu"
    values = [value for verdict in run.verdicts.values() for value in verdict.properties.values()]
    assert not any("requirepass" in value or value == "password" for value in values), "no secret in reports"

    registry = json.loads((run.reports / "results.json").read_text())["environment"]["run registry"]
    assert registry.startswith("https://127.0.0.1:") and "TLS" in registry and "htpasswd" in registry, registry

    html = (run.reports / "report.html").read_text()
    assert "test_auth_set_get[redis-qemu]" in html and "riscv64/redis" in html
    assert "The size plot appears once the size history has two runs" in html, "one run: no plot, and why"
    for name in ("sizes.json", "sizes.md", "size-history.jsonl"):
        assert (run.reports / name).is_file(), name
    for recipe in RECIPES:
        assert any(line.startswith(f"{recipe} ") and "passed" in line for line in run.output.splitlines()), recipe
