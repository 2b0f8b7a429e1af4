"""The main job, as a user runs it: every shipped recipe passes every check on the local board."""

from __future__ import annotations

EXPECTED = [
    "test_build[redis]", "test_build[nginx]", "test_build[redis-cli]",
    "test_pull[redis-local]", "test_pull[nginx-local]", "test_pull[redis-cli-local]",
    "test_starts[redis-local]", "test_starts[nginx-local]",
    "test_refuses_commands_without_auth[redis-local]", "test_refuses_a_wrong_password[redis-local]",
    "test_auth_set_get[redis-local]", "test_info_server_says_riscv64[redis-local]",
    "test_serves_the_page[nginx-local]", "test_missing_page_is_404[nginx-local]",
    "test_server_header_names_nginx[nginx-local]",
    "test_auth_set_get_against_redis[redis-cli-local]",
    "test_within_budget[redis]", "test_within_budget[nginx]", "test_within_budget[redis-cli]",
]


def test_rvconform_run_passes_every_check_and_writes_the_reports(run_suites) -> None:
    run = run_suites(cli=True)
    failed = {name: verdict.message[:500] for name, verdict in run.verdicts.items() if verdict.outcome != "passed"}
    assert not failed, f"{failed}\n{run.output[-3000:]}"
    assert run.returncode == 0, run.output[-3000:]
    assert set(EXPECTED) <= set(run.verdicts), sorted(set(EXPECTED) - set(run.verdicts))

    redis = run.verdicts["test_auth_set_get[redis-local]"].properties
    assert redis["board"] == "local" and redis["platform"] == "linux/riscv64"
    assert redis["image"].endswith(redis["digest"]) and redis["digest"].startswith("sha256:")
    assert 0 < int(redis["unpacked_bytes"]) <= 12_000_000
    values = [value for verdict in run.verdicts.values() for value in verdict.properties.values()]
    assert not any("requirepass" in value or value == "password" for value in values), "no secret in reports"

    html = (run.reports / "report.html").read_text()
    assert "test_auth_set_get[redis-local]" in html and "riscv64/redis" in html
    for recipe in ("redis", "nginx", "redis-cli"):
        assert any(line.startswith(f"{recipe} ") and "passed" in line for line in run.output.splitlines()), recipe
