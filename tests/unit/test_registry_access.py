"""Where registry credentials and CAs come from, and how a 401 challenge is read (pure logic)."""

import base64
import json
from pathlib import Path

import pytest

from harness.errors import RegistryError
from harness.registry_access import AccessBook, docker_config_credentials, find_credentials, parse_ca_options
from harness.registry_auth import parse_challenge
from harness.registry_client import _scope


def _config(tmp_path: Path, content: dict) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(content))
    return path


def test_docker_config_auths_in_base64_or_plain_fields(tmp_path: Path) -> None:
    encoded = base64.b64encode(b"alice:s3cret:with:colons").decode()
    path = _config(tmp_path, {"auths": {"https://lab:5000": {"auth": encoded}, "other:443": {
        "username": "bob", "password": "pw"}}})
    alice = docker_config_credentials("lab:5000", path)
    assert alice and (alice.username, alice.password) == ("alice", "s3cret:with:colons")
    assert "s3cret" not in repr(alice), "a password never shows in a repr"
    bob = docker_config_credentials("other:443", path)
    assert bob and (bob.username, bob.password) == ("bob", "pw")
    assert docker_config_credentials("unknown:5000", path) is None


def test_a_credential_helper_alone_is_a_clear_error(tmp_path: Path) -> None:
    path = _config(tmp_path, {"auths": {"lab:5000": {}}, "credHelpers": {"lab:5000": "pass"}})
    with pytest.raises(RegistryError, match=r"credential helper 'pass'[\s\S]*fix: set RVCONFORM_REGISTRY_USERNAME"):
        docker_config_credentials("lab:5000", path)
    store = _config(tmp_path, {"credsStore": "desktop"})
    with pytest.raises(RegistryError, match="credential helper 'desktop'"):
        docker_config_credentials("lab:5000", store)


def test_a_broken_auth_entry_names_the_file(tmp_path: Path) -> None:
    path = _config(tmp_path, {"auths": {"lab:5000": {"auth": "not base64!"}}})
    with pytest.raises(RegistryError, match=r"auths\[lab:5000\]: 'auth' is not base64"):
        docker_config_credentials("lab:5000", path)


def test_the_environment_wins_over_the_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    _config(tmp_path, {"auths": {"lab:5000": {"username": "file", "password": "f"}}})
    monkeypatch.setenv("RVCONFORM_REGISTRY_USERNAME", "env")
    monkeypatch.setenv("RVCONFORM_REGISTRY_PASSWORD", "e")
    found = find_credentials("lab:5000")
    assert found and found.username == "env" and "RVCONFORM_REGISTRY_USERNAME" in found.source
    monkeypatch.delenv("RVCONFORM_REGISTRY_PASSWORD")
    with pytest.raises(RegistryError, match="only one of"):
        find_credentials("lab:5000")


def test_ca_options_for_every_registry_or_one(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert parse_ca_options([str(ca), f"lab:5000={ca}"]) == {None: ca, "lab:5000": ca}
    with pytest.raises(RegistryError, match="no such file"):
        parse_ca_options([f"lab:5000={tmp_path / 'missing.pem'}"])


def test_the_scheme_is_https_unless_loopback_or_declared_plain() -> None:
    book = AccessBook()
    book.configure({"127.0.0.1:6000": Path("ca.pem")}, ("lab:5000",), "https://127.0.0.1:7000")
    assert book.access("127.0.0.1:5000").scheme == "http"
    assert book.access("lab:5000").scheme == "http"
    assert book.access("ghcr.example:443").scheme == "https"
    assert book.access("127.0.0.1:5000", "https").scheme == "https"
    assert book.access("127.0.0.1:6000").scheme == "https", "a CA for one registry says it speaks TLS"
    assert book.access("127.0.0.1:6000").ca_file == Path("ca.pem")
    assert book.access("127.0.0.1:7000").scheme == "https"


def test_challenges_and_scopes_are_read() -> None:
    bearer = parse_challenge('Bearer realm="https://auth.lab/token",service="registry.lab",'
                             'scope="repository:riscv64/redis:pull",error="invalid_token"')
    assert bearer and bearer.scheme == "bearer"
    assert bearer.params == {"realm": "https://auth.lab/token", "service": "registry.lab",
                             "scope": "repository:riscv64/redis:pull", "error": "invalid_token"}
    basic = parse_challenge('Basic realm="lab"')
    assert basic and (basic.scheme, basic.params) == ("basic", {"realm": "lab"})
    assert _scope("/v2/riscv64/redis/manifests/1") == "repository:riscv64/redis:pull"
    assert _scope("/v2/a/b/c/blobs/sha256:00") == "repository:a/b/c:pull"
    assert _scope("/v2/") == ""


def test_the_report_names_the_run_registry_and_its_security_without_a_secret() -> None:
    from harness.registry import Registry

    spawned = Registry("https://127.0.0.1:5000", pid=1, ca_file="/run/ca.pem", credentials_file="/run/credentials")
    assert spawned.describe() == ("https://127.0.0.1:5000, spawned for this run (TLS with a CA made for this run; "
                                  "an htpasswd login made for this run)")
    assert Registry("http://127.0.0.1:5000", pid=1).describe() == "http://127.0.0.1:5000, spawned for this run"
    assert Registry("https://lab:443").describe() == "https://lab:443, given with --registry"
