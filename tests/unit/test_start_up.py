"""What a run loads before it needs it: libraries only some runs use load on first use, so a quick check of one
image does not pay for them (issue 10: the harness costs little more than the checks it runs)."""

import os
import subprocess
import sys

#: Loaded only by a TLS or password-protected registry (trustme, cryptography, bcrypt), structure tests and a
#: spawned registry's config (yaml), or an engine reached over ssh:// (paramiko and invoke, via the docker SDK).
NOT_AT_START = {"trustme", "cryptography", "bcrypt", "yaml", "paramiko", "invoke"}


def modules_after(code: str, **env: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    script = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            env={**os.environ, **env})
    return set(result.stdout.split())


def test_the_plugin_and_the_local_board_load_no_library_a_quick_check_does_not_use() -> None:
    loaded = modules_after("import harness.plugin, harness.boards.local, docker", DOCKER_HOST="")
    assert {"docker", "requests", "pytest"} <= loaded
    assert not NOT_AT_START & loaded, f"loaded at start: {sorted(NOT_AT_START & loaded)}"


def test_an_ssh_docker_host_keeps_the_sdk_ssh_transport() -> None:
    loaded = modules_after("import harness.boards.local\nfrom docker.api.client import SSHHTTPAdapter",
                           DOCKER_HOST="ssh://nobody@127.0.0.1")
    assert "paramiko" in loaded


def test_a_tls_registry_still_gets_its_certificates(tmp_path) -> None:
    from harness.registry_security import make_htpasswd, make_tls

    tls = make_tls(tmp_path)
    htpasswd, _ = make_htpasswd(tmp_path)
    assert b"BEGIN CERTIFICATE" in tls.ca.read_bytes()
    assert htpasswd.read_bytes().startswith(b"rvconform:$2")
