"""Registry configs for a board's runtime: each case checks one rule of one format (containerd hosts.toml, docker
daemon.json, k3s registries.yaml), of the reference workflow's config, or of `rvconform config`."""

import base64
import json
import tomllib
from pathlib import Path

import pytest

from harness.boards.url import parse_board_url
from harness.errors import RvconformError
from harness.runtime_config import (
    REFERENCE_REGISTRIES_YAML,
    Mirror,
    RegistryAccess,
    containerd_hosts_toml,
    docker_cert_paths,
    docker_daemon_json,
    hosts_dir_path,
    k3s_registries_yaml,
    k3s_to_containerd,
    main,
    parse_k3s_registries,
    parse_registry,
    reference_k3s_config,
    without_public_fallbacks,
)
from harness.runtime_config.access import quote

FIXTURES = Path(__file__).parents[2] / "fixtures" / "runtime"
LAB = "lab.example:5000"
REWRITE = ("^riscv64/(.*)", "riscv64/$1")
DOCKER_IO_TO_10_0_2_2 = Mirror("docker.io", ("http://10.0.2.2:5000", "https://registry-1.docker.io"), (REWRITE,))
SECRET = "s3cr3t-p@ss'\"#: word"


def https_lab(**settings: object) -> RegistryAccess:
    return RegistryAccess(url=f"https://{LAB}", **settings)


# Registry URLs


@pytest.mark.parametrize(("url", "expected", "host", "insecure"), [
    ("http://10.0.2.2:5000", "http://10.0.2.2:5000", "10.0.2.2:5000", True),
    ("10.0.2.2:5000", "http://10.0.2.2:5000", "10.0.2.2:5000", True),
    ("https://lab.example:5000/", "https://lab.example:5000", LAB, False),
])
def test_registry_urls_parse_to_scheme_and_host(url: str, expected: str, host: str, insecure: bool) -> None:
    access = parse_registry(url)
    assert (access.url, access.host, access.insecure) == (expected, host, insecure)
    assert access.scheme == expected.split("://")[0]


@pytest.mark.parametrize("bad", ["ftp://lab:5000", "http://", "http://lab:5000/v2/riscv64", "lab:port",
                                 "http://user:pw@lab:5000", "http://lab:5000?x=1", ""])
def test_a_bad_registry_url_is_named_with_the_expected_form(bad: str) -> None:
    with pytest.raises(RvconformError, match=r"not a registry base URL[\s\S]*fix: write it as http://HOST:PORT"
                       ) as info:
        parse_registry(bad)
    assert repr(bad) in str(info.value)


def test_the_password_stays_out_of_reprs() -> None:
    assert SECRET not in repr(https_lab(username="ci", password=SECRET))


# containerd hosts.toml


def test_hosts_toml_points_a_mirror_at_its_endpoints_in_order() -> None:
    mirror = Mirror("docker.io", ("http://10.0.2.2:5000", f"https://{LAB}"))
    accesses = {LAB: https_lab(ca_file="/etc/ssl/lab-ca.pem", skip_verify=True)}
    hosts = tomllib.loads(containerd_hosts_toml(mirror, accesses, None))
    assert hosts["server"] == "http://10.0.2.2:5000"
    assert list(hosts["host"]) == ["http://10.0.2.2:5000", f"https://{LAB}"]
    assert hosts["host"]["http://10.0.2.2:5000"] == {"capabilities": ["pull", "resolve"]}
    assert hosts["host"][f"https://{LAB}"] == {
        "capabilities": ["pull", "resolve"], "skip_verify": True, "ca": "/etc/ssl/lab-ca.pem"}


def test_hosts_toml_server_is_the_fallback_when_given_and_carries_its_tls() -> None:
    mirror = Mirror("docker.io", ("http://10.0.2.2:5000",))
    hosts = tomllib.loads(containerd_hosts_toml(mirror, {LAB: https_lab(ca_file="/ca.pem")}, f"https://{LAB}"))
    assert hosts["server"] == f"https://{LAB}" and hosts["ca"] == "/ca.pem"
    assert list(hosts["host"]) == ["http://10.0.2.2:5000"]


def test_hosts_toml_states_the_rewrites_it_cannot_apply() -> None:
    text = containerd_hosts_toml(Mirror("docker.io", ("http://10.0.2.2:5000",), (REWRITE,)),
                                 {}, None)
    assert text.startswith("# Not applied: stock containerd's hosts.toml cannot rewrite")
    assert '#   "^riscv64/(.*)" -> "riscv64/$1"' in text
    assert "rewrite" not in tomllib.loads(text)


def test_hosts_toml_marks_an_endpoint_path_and_drops_duplicate_endpoints() -> None:
    mirror = Mirror("docker.io", ("http://a:5000", "http://a:5000", "https://b/proxy/v2"))
    hosts = tomllib.loads(containerd_hosts_toml(mirror, {}, None))
    assert list(hosts["host"]) == ["http://a:5000", "https://b/proxy/v2"]
    assert hosts["host"]["https://b/proxy/v2"]["override_path"] is True


def test_hosts_toml_names_registries_needing_credentials_without_the_password() -> None:
    text = containerd_hosts_toml(Mirror(LAB, (f"https://{LAB}",)), {LAB: https_lab(username="ci", password=SECRET)})
    assert f"# {LAB} needs credentials" in text and SECRET not in text


def test_hosts_toml_quotes_strange_strings_validly() -> None:
    odd = 'C:\\ca "lab"\n\x7f\u2028.pem'
    hosts = tomllib.loads(containerd_hosts_toml(Mirror(LAB, (f"https://{LAB}",)), {LAB: https_lab(ca_file=odd)}))
    assert hosts["host"][f"https://{LAB}"]["ca"] == odd
    assert json.loads(quote(odd)) == odd


def test_a_mirror_without_endpoint_has_no_hosts_toml() -> None:
    with pytest.raises(RvconformError, match="no endpoint"):
        containerd_hosts_toml(Mirror("docker.io", ()), {}, None)


def test_hosts_dir_path_names_the_registry_and_refuses_a_path() -> None:
    assert hosts_dir_path("10.0.2.2:5000") == "/etc/containerd/certs.d/10.0.2.2:5000"
    assert hosts_dir_path("*") == "/etc/containerd/certs.d/_default"
    with pytest.raises(RvconformError):
        hosts_dir_path("../etc")


def test_hosts_toml_fixture_parses_as_documented() -> None:
    hosts = tomllib.loads((FIXTURES / "hosts.toml").read_text())
    assert hosts["server"] == "http://10.0.2.2:5000"
    assert hosts["host"] == {"http://10.0.2.2:5000": {"capabilities": ["pull", "resolve"]}}


# docker daemon.json


def test_daemon_json_lists_plain_http_and_unverified_registries() -> None:
    registries = [parse_registry("10.0.2.2:5000"), https_lab(skip_verify=True), RegistryAccess("https://hub:443")]
    assert json.loads(docker_daemon_json(registries)) == {"insecure-registries": ["10.0.2.2:5000", LAB]}


def test_daemon_json_merge_keeps_other_keys_and_entries_sorted_without_duplicates() -> None:
    existing = {"log-driver": "journald", "insecure-registries": ["z.lab:5000", "10.0.2.2:5000"], "debug": True}
    merged = json.loads(docker_daemon_json([parse_registry("10.0.2.2:5000"), parse_registry("a.lab:1")], existing))
    assert merged == {"log-driver": "journald", "debug": True,
                      "insecure-registries": ["10.0.2.2:5000", "a.lab:1", "z.lab:5000"]}
    assert existing["insecure-registries"] == ["z.lab:5000", "10.0.2.2:5000"]


def test_daemon_json_with_nothing_to_allow_adds_nothing() -> None:
    assert json.loads(docker_daemon_json([RegistryAccess("https://hub")], {"debug": True})) == {"debug": True}


def test_daemon_json_refuses_a_malformed_existing_list() -> None:
    with pytest.raises(RvconformError, match="not a list of strings"):
        docker_daemon_json([], {"insecure-registries": "10.0.2.2:5000"})


def test_docker_cert_paths_only_for_https_with_a_ca() -> None:
    assert docker_cert_paths(https_lab(ca_file="/ca.pem")) == [f"/etc/docker/certs.d/{LAB}/ca.crt"]
    assert docker_cert_paths(https_lab()) == docker_cert_paths(parse_registry("10.0.2.2:5000")) == []


def test_daemon_json_fixture_is_the_reference_example() -> None:
    assert json.loads((FIXTURES / "daemon.json").read_text()) == {"insecure-registries": ["192.168.173.76:6000"]}


# k3s registries.yaml


def reference_like() -> tuple[list[Mirror], dict[str, RegistryAccess]]:
    mirrors = [
        DOCKER_IO_TO_10_0_2_2,
        Mirror(LAB, (f"https://{LAB}",)),
        Mirror("10.0.2.2:5000", ("http://10.0.2.2:5000",)),
    ]
    accesses = {
        LAB: https_lab(ca_file="/etc/ssl/lab ca.pem", skip_verify=True, username="ci", password=SECRET),
        "10.0.2.2:5000": parse_registry("10.0.2.2:5000"),
    }
    return mirrors, accesses


def test_registries_yaml_text_is_stable_and_quoted() -> None:
    mirrors, accesses = reference_like()
    assert k3s_registries_yaml(mirrors[:1], accesses) == f"""\
mirrors:
  "docker.io":
    endpoint:
      - "http://10.0.2.2:5000"
      - "https://registry-1.docker.io"
    rewrite:
      "^riscv64/(.*)": "riscv64/$1"
configs:
  "{LAB}":
    auth:
      username: "ci"
      password: {json.dumps(SECRET)}
    tls:
      ca_file: "/etc/ssl/lab ca.pem"
      insecure_skip_verify: true
"""


def test_registries_yaml_round_trips() -> None:
    mirrors, accesses = reference_like()
    parsed_mirrors, parsed = parse_k3s_registries(k3s_registries_yaml(mirrors, accesses))
    assert parsed_mirrors == mirrors
    assert parsed == {LAB: accesses[LAB]}  # a plain-HTTP registry needs no configs entry
    assert parsed[LAB].password == SECRET


def test_registries_yaml_without_mirrors_is_still_a_mapping() -> None:
    assert parse_k3s_registries(k3s_registries_yaml([], {})) == ([], {})


def test_embedded_reference_equals_the_fixture_file() -> None:
    assert (FIXTURES / "registries.yaml").read_text() == REFERENCE_REGISTRIES_YAML


def test_reference_config_takes_the_registry_the_run_stood_up() -> None:
    assert reference_k3s_config("10.0.2.2:5000") == [
        DOCKER_IO_TO_10_0_2_2,
        Mirror("10.0.2.2:5000", ("http://10.0.2.2:5000",)),
    ]


def test_reference_config_works_without_the_fixture_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("harness.runtime_config.reference_workflow.REFERENCE_FIXTURE", tmp_path / "missing.yaml")
    assert reference_k3s_config("10.0.2.2:5000")[1] == Mirror("10.0.2.2:5000", ("http://10.0.2.2:5000",))


@pytest.mark.parametrize("bad", ["http://10.0.2.2:5000", "10.0.2.2:5000/v2", ""])
def test_reference_config_wants_a_host(bad: str) -> None:
    with pytest.raises(RvconformError, match="is not HOST:PORT"):
        reference_k3s_config(bad)


def test_without_public_fallbacks_keeps_only_owned_endpoints() -> None:
    mirrors = without_public_fallbacks([*reference_k3s_config("10.0.2.2:5000"), Mirror("quay.io", ("quay.io",))],
                                       ["10.0.2.2:5000"])
    assert [m.endpoints for m in mirrors] == [("http://10.0.2.2:5000",), ("http://10.0.2.2:5000",)]
    assert mirrors[0].rewrites == (REWRITE,)


def test_k3s_to_containerd_writes_one_hosts_toml_per_mirror_and_per_tls_only_registry() -> None:
    mirrors, accesses = reference_like()
    files = k3s_to_containerd([*mirrors, Mirror("quay.io", ())], {**accesses, "tls.lab:443": RegistryAccess(
        "https://tls.lab:443", ca_file="/ca.pem")})
    assert sorted(files) == [f"/etc/containerd/certs.d/{name}/hosts.toml"
                             for name in ("10.0.2.2:5000", "docker.io", LAB, "tls.lab:443")], "quay.io has no endpoint"
    assert tomllib.loads(files["/etc/containerd/certs.d/tls.lab:443/hosts.toml"])["ca"] == "/ca.pem"


def test_user_registries_yaml_in_common_forms() -> None:
    text = """\
---
# a user's file
mirrors:
  docker.io:
    endpoint:
    - http://localhost:5000   # bare, at the key's indentation
    - 'https://it''s.lab'
  "*":
    endpoint: ["https://any.lab"]
configs:
  "localhost:5000":
    tls:
      insecure_skip_verify: false
  any.lab:
    auth: {"username": "u", "password": "p # not a comment"}
"""
    mirrors, configs = parse_k3s_registries(text)
    assert mirrors == [Mirror("docker.io", ("http://localhost:5000", "https://it's.lab")),
                       Mirror("*", ("https://any.lab",))]
    assert configs["localhost:5000"] == RegistryAccess("http://localhost:5000")
    assert configs["any.lab"] == RegistryAccess("https://any.lab", username="u", password="p # not a comment")


@pytest.mark.parametrize(("text", "line", "problem"), [
    ("mirrors:\n  docker.io:\n     endpoint:\n    rewrite: {}\n", 4, "expected <block end>"),
    ("mirrors:\n\tdocker.io: {}\n", 2, "'\\t' that cannot start any token"),
    ("mirrors:\n  docker.io:\n    endpoint:\n      - url: x\n", 4, "endpoint items must be URL strings"),
    ('mirrors:\n  "docker.io:\n', 3, "while scanning a quoted scalar"),
    ("mirrors: {}\nmirrors: {}\n", 2, "duplicate key 'mirrors'"),
    ("mirrors:\n  docker.io:\n    endpoints:\n      - http://a\n", 3, "unknown key 'endpoints'"),
    ("configs:\n  lab:\n    tls:\n      cert_file: /c.pem\n", 4, "not handled by rvconform"),
    ("configs:\n  lab:\n    tls:\n      insecure_skip_verify: maybe\n", 4, "true or false"),
    ("configs:\n  lab:\n    auth:\n      password: 0123\n", 4, "quote it (unquoted, YAML reads it as 83)"),
    ("mirrors:\n  5000: {}\n", 2, "key 5000 in mirrors must be a string"),
    ("mirrors:\n  docker.io:\n    endpoint: http://a\n", 3, "endpoint must be a list"),
    ("mirrors: [a]\nconfigs: {}\n---\n", 3, "expected a single document"),
    ("key: |\n  text\n", 1, "unknown key 'key'"),
])
def test_malformed_registries_yaml_names_the_line(text: str, line: int, problem: str) -> None:
    with pytest.raises(RvconformError) as info:
        parse_k3s_registries(text, source="my.yaml")
    assert f"my.yaml line {line}: " in str(info.value) and problem in str(info.value)
    assert info.value.fix and "k3s reads mirrors" in info.value.fix


def test_registries_yaml_reads_yaml_booleans_anchors_and_block_scalars() -> None:
    text = """\
mirrors:
  docker.io:
    endpoint: &lab
      - http://lab:5000
  quay.io:
    endpoint: *lab
configs:
  lab:5000:
    tls:
      insecure_skip_verify: yes
      ca_file: >-
        /etc/ssl/lab.pem
"""
    mirrors, configs = parse_k3s_registries(text)
    assert mirrors == [Mirror("docker.io", ("http://lab:5000",)), Mirror("quay.io", ("http://lab:5000",))]
    assert configs["lab:5000"] == RegistryAccess("http://lab:5000", ca_file="/etc/ssl/lab.pem", skip_verify=True)


# rvconform config


def test_config_k3s_prints_registries_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["k3s", "--registry", "http://10.0.2.2:5000", "--fallback", "https://registry-1.docker.io",
                 "--rewrite", "^riscv64/(.*)=riscv64/$1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# /etc/rancher/k3s/registries.yaml: install it there, then restart k3s")
    mirrors, configs = parse_k3s_registries(out)
    assert mirrors == reference_k3s_config("10.0.2.2:5000") and configs == {}


def test_config_containerd_prints_each_hosts_toml_under_its_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["containerd", "--registry", "10.0.2.2:5000", "--mirror", "docker.io", "--mirror", "quay.io"]) == 0
    out = capsys.readouterr().out
    first, *sections = out.split("\n# /etc/containerd/certs.d/")
    assert "config_path" in first and "restart containerd" in first
    files = {s.split("\n", 1)[0]: tomllib.loads(s.split("\n", 1)[1]) for s in sections}
    assert sorted(files) == ["10.0.2.2:5000/hosts.toml", "docker.io/hosts.toml", "quay.io/hosts.toml"]
    assert all(f["server"] == "http://10.0.2.2:5000" for f in files.values())


def test_config_containerd_fallback_becomes_the_server(capsys: pytest.CaptureFixture[str]) -> None:
    main(["containerd", "--registry", "10.0.2.2:5000", "--fallback", "https://registry-1.docker.io"])
    assert 'server = "https://registry-1.docker.io"' in capsys.readouterr().out


def test_config_docker_prints_daemon_json_and_notes_on_stderr(capsys: pytest.CaptureFixture[str],
                                                              tmp_path: Path) -> None:
    existing = tmp_path / "daemon.json"
    existing.write_text('{"insecure-registries": ["old:1"], "debug": true}')
    assert main(["docker", "--registry", "10.0.2.2:5000", "--merge", str(existing)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"insecure-registries": ["10.0.2.2:5000", "old:1"], "debug": True}
    assert "restart dockerd" in captured.err


def test_config_docker_https_with_a_ca_says_where_the_ca_goes(capsys: pytest.CaptureFixture[str]) -> None:
    main(["docker", "--registry", f"https://{LAB}", "--ca-file", "/tmp/lab-ca.pem"])
    assert f"copy /tmp/lab-ca.pem to /etc/docker/certs.d/{LAB}/ca.crt" in capsys.readouterr().err


def test_config_reads_the_password_from_the_environment(capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_PASSWORD", SECRET)
    main(["k3s", "--registry", f"https://{LAB}", "--username", "ci", "--password-env", "LAB_PASSWORD"])
    _, configs = parse_k3s_registries(capsys.readouterr().out)
    assert (configs[LAB].username, configs[LAB].password) == ("ci", SECRET)
    main(["containerd", "--registry", f"https://{LAB}", "--username", "ci", "--password-env", "LAB_PASSWORD"])
    out = capsys.readouterr().out
    assert "needs credentials" in out and SECRET not in out


@pytest.mark.parametrize("password_arg", [["--password", SECRET], [f"--password={SECRET}"]])
def test_config_refuses_a_password_in_argv_without_echoing_it(password_arg: list[str]) -> None:
    with pytest.raises(RvconformError, match="--password-env") as info:
        main(["k3s", "--registry", LAB, "--username", "ci", *password_arg])
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(("argv", "message"), [
    (["k3s", "--registry", "http://lab:5000/v2"], "not a registry base URL"),
    (["k3s", "--registry", LAB, "--ca-file", "/ca.pem"], "for https registries"),
    (["k3s", "--registry", LAB, "--username", "ci"], "go together"),
    (["k3s", "--registry", LAB, "--username", "ci", "--password-env", "RVCONFORM_UNSET_VARIABLE"], "is not set"),
    (["k3s", "--registry", LAB, "--rewrite", "no-equals-sign"], "PATTERN=REPLACEMENT"),
    (["docker", "--registry", LAB, "--mirror", "docker.io"], "for k3s and containerd"),
])
def test_config_bad_input_is_an_rvconform_error(argv: list[str], message: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RVCONFORM_UNSET_VARIABLE", raising=False)
    with pytest.raises(RvconformError, match=message):
        main(argv)


# Fixtures


def test_board_examples_are_board_urls() -> None:
    lines = [line for line in (FIXTURES / "boards.example").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert {"local", "qemu", "qemu://?cpus=2&memory=2048"} <= set(lines)
    assert {parse_board_url(line).kind for line in lines} == {"local", "qemu", "ssh"}


def test_config_containerd_auth_header_carries_basic_credentials_in_valid_toml(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_PASSWORD", 'pa"ss')
    assert main(["containerd", "--registry", "https://10.0.2.2:5000", "--ca-file", "/etc/lab/ca.crt",
                 "--username", "lab", "--password-env", "LAB_PASSWORD", "--auth-header"]) == 0
    out = capsys.readouterr().out
    _, *sections = out.split("\n# /etc/containerd/certs.d/")
    files = {s.split("\n", 1)[0]: tomllib.loads(s.split("\n", 1)[1]) for s in sections}
    host = files["10.0.2.2:5000/hosts.toml"]["host"]["https://10.0.2.2:5000"]
    assert host["ca"] == "/etc/lab/ca.crt"
    assert host["header"]["Authorization"] == "Basic " + base64.b64encode(b'lab:pa"ss').decode()
    assert "needs credentials, which hosts.toml does not carry" not in out
    with pytest.raises(RvconformError, match="--auth-header needs credentials"):
        main(["containerd", "--registry", "https://10.0.2.2:5000", "--auth-header"])
