"""Registries secured like a lab's: TLS with a private CA, htpasswd, and distribution's token auth.

Real distribution registries on 127.0.0.1; every refusal must name the registry, what was expected and
the fix, within seconds.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from token_service import TokenService

from conftest import ROOT, parse_junit
from harness.errors import RegistryError
from harness.registry import Registry, spawn_registry
from harness.registry_access import Credentials, RegistryAccess
from harness.registry_client import RegistryClient
from harness.registry_security import RegistrySecurity, make_tls, secure

QUICK = 5.0


def _spawned(workdir: Path, security: RegistrySecurity) -> Iterator[Registry]:
    registry, process = spawn_registry(workdir, security=security)
    yield registry
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """TLS with the run-style CA and htpasswd with a random password, as --registry-tls --registry-auth make."""
    workdir = tmp_path_factory.mktemp("secured")
    yield from _spawned(workdir, secure(workdir / "secrets", tls=True, auth=True))


@pytest.fixture(scope="module")
def token_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenService]:
    service = TokenService("labuser", secrets.token_urlsafe(18), tmp_path_factory.mktemp("token"))
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory, token_service: TokenService) -> Iterator[Registry]:
    """TLS and distribution's auth.token, with the test's token service as realm."""
    workdir = tmp_path_factory.mktemp("token-registry")
    yield from _spawned(workdir, RegistrySecurity(tls=make_tls(workdir / "tls"), token=token_service.registry_config()))


def _client(registry: Registry, *, scheme: str = "https", ca: bool = True, credentials: Credentials | None = None,
            ) -> RegistryClient:
    access = registry.access()
    return RegistryClient(f"{scheme}://{registry.host}",
                          RegistryAccess(registry.host, scheme, access.ca_file if ca else None, credentials))


def _refused(client: RegistryClient, pattern: str) -> str:
    started = time.monotonic()
    with pytest.raises(RegistryError, match=pattern) as caught:
        client.manifest("riscv64/tiny", "1")
    assert time.monotonic() - started < QUICK, "a refusal arrives within seconds"
    assert "fix:" in str(caught.value)
    return str(caught.value)


def test_the_run_registry_serves_tls_and_passwords_from_0600_files(secured: Registry) -> None:
    access = secured.access()
    assert secured.url.startswith("https://127.0.0.1:") and access.ca_file and access.credentials
    secrets_dir = access.ca_file.parent
    for name in ("ca.crt", "server.crt", "server.key", "htpasswd", "credentials"):
        assert (secrets_dir / name).stat().st_mode & 0o777 == 0o600, name
    assert access.credentials.password not in (secrets_dir / "htpasswd").read_text(), "only the bcrypt hash"
    secured.client().ping()
    assert secured.client().tags("riscv64/none") == []


def test_a_wrong_password_is_named(secured: Registry) -> None:
    wrong = Credentials("rvconform", "not-the-password", "the test's wrong credentials")
    message = _refused(_client(secured, credentials=wrong), r"refused the password of user 'rvconform'")
    assert secured.host in message and "the test's wrong credentials" in message


def test_missing_credentials_are_named_with_the_variables_to_set(secured: Registry) -> None:
    message = _refused(_client(secured), r"asks for credentials and none were found")
    assert "RVCONFORM_REGISTRY_USERNAME" in message and secured.host in message


def test_an_unknown_ca_is_named(secured: Registry) -> None:
    message = _refused(_client(secured, ca=False, credentials=secured.access().credentials),
                       r"presents a certificate that the system's CAs do not vouch for")
    assert f"--registry-ca {secured.host}=FILE" in message


def test_plain_http_to_a_tls_port_is_named(secured: Registry) -> None:
    _refused(_client(secured, scheme="http"), rf"http://{secured.host} speaks TLS \(https\) on that port[\s\S]*"
                                              rf"fix: use https://{secured.host}")


def test_https_to_a_plain_http_port_is_named(registry_process: Registry) -> None:
    client = RegistryClient(f"https://{registry_process.host}", RegistryAccess(registry_process.host, "https"))
    _refused(client, rf"https://{registry_process.host} does not speak TLS on that port[\s\S]*"
                     rf"fix: if the registry really serves plain HTTP, give it as http://{registry_process.host}")


def test_a_certificate_for_another_host_is_named(tmp_path: Path) -> None:
    """The certificate names 127.0.0.1 only; the registry is reached as localhost (the same socket)."""
    tls = make_tls(tmp_path / "tls", names=("127.0.0.1",))
    for registry in _spawned(tmp_path / "registry", RegistrySecurity(tls=tls)):
        as_localhost = registry.host.replace("127.0.0.1", "localhost")
        client = RegistryClient(f"https://{as_localhost}", RegistryAccess(as_localhost, "https", tls.ca))
        message = _refused(client, rf"certificate that is not valid for {as_localhost}")
        assert "subjectAltName" in message


def test_a_token_registry_reads_with_credentials_and_names_its_refusals(
    token_registry: Registry, token_service: TokenService
) -> None:
    good = Credentials(token_service.username, token_service.password, "the test's token credentials")
    client = _client(token_registry, credentials=good)
    client.ping()
    assert client.tags("riscv64/none") == []
    assert client.auth._tokens, "a token was fetched and is cached per scope"
    wrong = Credentials(token_service.username, "wrong", "the test's wrong credentials")
    message = _refused(_client(token_registry, credentials=wrong), r"the token service http://127.0.0.1:\d+/token "
                       r"of https://127\.0\.0\.1:\d+ refused a token for 'repository:riscv64/tiny:pull'")
    assert "the test's wrong credentials" in message
    _refused(_client(token_registry), r"refused the anonymous token for 'repository:riscv64/tiny:pull': it asks "
                                      r"for credentials and none were found")


def test_an_expired_token_is_named(token_registry: Registry, token_service: TokenService) -> None:
    good = Credentials(token_service.username, token_service.password, "the test's token credentials")
    token_service.expired = True
    try:
        message = _refused(_client(token_registry, credentials=good),
                           r"refused the token that http://127.0.0.1:\d+/token issued for "
                           r"'repository:riscv64/tiny:pull'")
    finally:
        token_service.expired = False
    assert "expired" in message


def _inner_run(tmp_path: Path, *args: str, env: dict[str, str], watch_for: Path | None = None
               ) -> tuple[subprocess.CompletedProcess[str], str, list[str]]:
    """``rvconform run`` from the checkout, as a user runs it; returns (result, the secret found at
    ``watch_for``'s glob while it ran, process argument lines seen meanwhile)."""
    command = [sys.executable, "-m", "harness.cli", "run", "-p", "no:cacheprovider",
               "--reports", str(tmp_path / "reports"), *args]
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env={**os.environ, **env})
    secret, seen_args = "", []
    deadline = time.monotonic() + 1800
    while process.poll() is None and time.monotonic() < deadline:
        if watch_for and not secret:
            found = sorted(watch_for.parent.glob(watch_for.name)) if "*" in str(watch_for) else []
            found = found or sorted(Path("/").glob(str(watch_for).lstrip("/")))
            if found:
                secret = found[0].read_text().splitlines()[1]
        seen_args += subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()
        time.sleep(0.5)
    output, _ = process.communicate(timeout=60)
    return subprocess.CompletedProcess(command, process.returncode, output, ""), secret, seen_args


def _outputs_holding(secret_values: list[str], texts: dict[str, str], reports: Path) -> list[str]:
    """Names of outputs (given texts, and every file under ``reports``) that contain any of the secrets."""
    found = [name for name, text in texts.items() if any(s in text for s in secret_values)]
    for path in reports.rglob("*"):
        if path.is_file() and any(s.encode() in path.read_bytes() for s in secret_values):
            found.append(str(path))
    return found


def _image_config(storage: Path, manifest_digest: str) -> str:
    """The image config (labels included) as the registry stores it, for a pushed image."""
    def blob(digest: str) -> bytes:
        hex_digest = digest.split(":")[1]
        return (storage / "docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest / "data").read_bytes()
    import json

    return blob(json.loads(blob(manifest_digest))["config"]["digest"]).decode()


def _secured_main_job(tmp_path: Path, recipes: Path, boards: list[str], pulls_per_board: int = 2) -> None:
    """--registry-tls --registry-auth: build, push, pull and check on ``boards`` (``pulls_per_board`` pull
    tests pass on each: docker and podman boards have no mirror-config pull); the random password is in
    no output, no process's arguments and no image label; the user's docker config is untouched; the trust
    written for the engine is gone at the end."""
    from harness.cache import cache_dir

    docker_config = tmp_path / "docker-config"
    docker_config.mkdir()
    (docker_config / "config.json").write_text('{"auths": {}}\n')
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    watch = tmp / f"rvconform-{os.getuid()}" / "runs" / "*" / "registry" / "secrets" / "credentials"
    board_args = [arg for board in boards for arg in ("--board", board)]
    result, password, seen_args = _inner_run(
        tmp_path, "--registry-tls", "--registry-auth", "--recipes", str(recipes), *board_args,
        env={"TMPDIR": str(tmp), "DOCKER_CONFIG": str(docker_config)}, watch_for=watch)
    verdicts = parse_junit(tmp_path / "reports" / "junit.xml")
    assert result.returncode == 0, result.stdout[-3000:]
    names = ["test_build[tiny]", "test_manifest_platform[tiny]"]
    for board in boards:  # an SSH board's test ids carry USER@HOST:PORT (and _0, _1 for two runtimes there)
        board_key = board.split("://")[1].split("?")[0] if board.startswith("ssh") else board
        names += [n for n in verdicts if n.startswith(("test_pull[", "test_pull_through")) and board_key in n
                  and n not in names and verdicts[n].outcome != "skipped"]
    assert len(names) >= 2 + pulls_per_board * len(boards), sorted(verdicts)
    assert {verdicts[n].outcome for n in names} == {"passed"}, {n: verdicts[n].outcome for n in names}
    image = verdicts["test_build[tiny]"].properties["image"]
    assert image.startswith("127.0.0.1:"), image
    assert len(password) >= 20, "the inner run's password was found while it ran"
    config = _image_config(cache_dir("registry") / "storage", image.split("@")[1])
    leaks = _outputs_holding([password], {"terminal": result.stdout, "ps": "\n".join(seen_args),
                                          "image config": config}, tmp_path / "reports")
    assert leaks == [], f"the registry password appears in {leaks}"
    assert (docker_config / "config.json").read_text() == '{"auths": {}}\n', "no login into the user's config"
    # The BuildKit CLI keeps its own .buildNodeID there (not a credential); nothing there holds the password.
    assert _outputs_holding([password], {}, docker_config) == []
    host = image.split("/")[0]
    assert not list(Path("/etc/docker/certs.d", host).glob("rvconform-*.crt")), "the engine's trust was removed"


def test_the_main_job_passes_through_a_tls_and_password_registry_with_no_secret_in_any_output(
    tmp_path: Path, recipes_dir
) -> None:
    _secured_main_job(tmp_path, recipes_dir("tiny"), ["local"])


def test_the_main_job_passes_on_ssh_docker_and_podman_boards_through_a_tls_and_password_registry(
    tmp_path: Path, recipes_dir, sshd
) -> None:
    """The same main job on docker and podman boards over SSH: pulls with the CA and a 0600 client config on
    the board, deploys and checks; no secret in any output or process argument."""
    before = set(Path("/tmp").glob("rvconform-????????"))  # the board (this machine) makes them with mktemp
    _secured_main_job(tmp_path, recipes_dir("tiny"), [sshd.url("docker"), sshd.url("podman")], pulls_per_board=1)
    assert set(Path("/tmp").glob("rvconform-????????")) <= before, "the boards' private directories are gone"


@pytest.mark.slow
def test_the_qemu_board_pulls_through_tls_and_password_with_credentials_off_the_command_line(
    tmp_path: Path, recipes_dir
) -> None:
    """The qemu board (a riscv64 VM, containerd's ctr, pulling from 10.0.2.2): a hosts.toml with the run's CA
    and an Authorization header, in 0600 files of a 0700 directory on the VM, removed at the end."""
    _secured_main_job(tmp_path, recipes_dir("tiny"), ["qemu"])


def test_an_image_in_a_token_registry_is_checked_with_image_and_no_token_leaks(
    tmp_path: Path, recipes_dir, token_registry: Registry, token_service: TokenService
) -> None:
    """distribution's auth.token with the test's token service: the image is pushed with credentials, then
    an ``--image`` run reads and pulls it with credentials from the environment and the CA given per registry."""
    from harness.build import Builder
    from harness.recipes import load_recipe

    credentials = Credentials(token_service.username, token_service.password, "the test")
    ca_file = token_registry.access().ca_file
    access = RegistryAccess(token_registry.host, "https", ca_file, credentials)
    recipes = recipes_dir("tiny")
    builder = Builder(token_registry.url, tmp_path / "build-logs", access=access)
    built = builder.build(load_recipe(recipes / "tiny"))
    result, _, seen_args = _inner_run(
        tmp_path, "--image", f"tiny={built.ref.registry}/{built.ref.repository}:{built.ref.tag}",
        "--registry-ca", f"{token_registry.host}={ca_file}", "--recipes", str(recipes),
        env={"RVCONFORM_REGISTRY_USERNAME": credentials.username,
             "RVCONFORM_REGISTRY_PASSWORD": credentials.password, "DOCKER_CONFIG": str(tmp_path / "none")})
    verdicts = parse_junit(tmp_path / "reports" / "junit.xml")
    assert result.returncode == 0, result.stdout[-3000:]
    for name in ("test_manifest_platform[tiny]", "test_config_platform[tiny]", "test_elf_files[tiny]",
                 "test_pull[tiny-local]"):
        assert verdicts[name].outcome == "passed", (name, verdicts[name].message)
    assert len(token_service.issued) > 2, "tokens were issued for the reads"
    leaks = _outputs_holding([credentials.password, *token_service.issued],
                             {"terminal": result.stdout, "ps": "\n".join(seen_args)}, tmp_path / "reports")
    assert leaks == [], f"a password or token appears in {leaks}"


def _config_files(output: str) -> dict[str, str]:
    """``rvconform config containerd`` output split into its files: /etc/containerd/certs.d/NAME -> content."""
    files: dict[str, str] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("# /etc/containerd/certs.d/"):
            current = line.removeprefix("# /etc/containerd/certs.d/")
            files[current] = ""
        elif current:
            files[current] += line + "\n"
    return files


@pytest.mark.slow
def test_rvconform_config_containerd_output_pulls_on_the_qemu_board_through_tls_and_password(
    tmp_path: Path, recipes_dir, secured: Registry, qemu_run
) -> None:
    """The hosts.toml files `rvconform config containerd` prints for a TLS + password registry, installed on
    the qemu board (0600, CA copied there), make containerd pull the pushed image, directly and as docker.io."""
    from harness.boards import open_board
    from harness.boards.registry_trust import ContainerdTrust
    from harness.build import Builder
    from harness.labels import run_labels
    from harness.recipes import load_recipe

    access = secured.access()
    assert access.credentials and access.ca_file
    built = Builder(secured.url, tmp_path / "logs", access=access).build(load_recipe(recipes_dir("tiny") / "tiny"))
    board = open_board("qemu", run_labels(f"config-{secrets.token_hex(4)}"), qemu_run)
    directory = f"/run/rvconform-config-{secrets.token_hex(4)}"
    files = ContainerdTrust(board.transport, directory)  # type: ignore[attr-defined]
    try:
        seen = board.reach_registry("127.0.0.1", secured.port)
        printed = subprocess.run(
            [sys.executable, "-m", "harness.cli", "config", "containerd", "--registry", f"https://{seen}",
             "--ca-file", f"{directory}/ca.crt", "--username", access.credentials.username,
             "--password-env", "REGISTRY_PASSWORD", "--auth-header"],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
            env={**os.environ, "REGISTRY_PASSWORD": access.credentials.password}, check=True).stdout
        config = _config_files(printed)
        assert sorted(config) == sorted([f"{seen}/hosts.toml", "docker.io/hosts.toml"]), printed
        files.write_private(f"{directory}/ca.crt", access.ca_file.read_text())
        for path, content in config.items():
            files.write_private(f"{directory}/hosts/{path}", content)
        runtime = board.runtime  # type: ignore[attr-defined]
        for name in (f"{seen}/{built.ref.repository}:{built.ref.tag}", f"docker.io/{built.ref.repository}:1"):
            pulled = runtime.pull_with_hosts(name, f"{directory}/hosts", "linux/riscv64")
            assert pulled.digest == built.ref.digest, (name, pulled)
            runtime.remove_image(name)
    finally:
        files.undo()
        board.close()


@pytest.mark.slow
def test_rvconform_config_docker_output_pulls_in_the_qemu_board_s_docker_through_tls_and_password(
    tmp_path: Path, recipes_dir, secured: Registry, qemu_run
) -> None:
    """What `rvconform config docker` prints for a TLS + password registry (daemon.json on stdout, where the CA
    goes and the docker login it needs on stderr), done in the qemu board's docker (started for this: it is off
    at boot), makes docker pull the pushed image; without the login the same pull is refused."""
    from harness.boards import open_board
    from harness.build import Builder
    from harness.labels import run_labels
    from harness.recipes import load_recipe

    access = secured.access()
    assert access.credentials and access.ca_file
    built = Builder(secured.url, tmp_path / "logs", access=access).build(load_recipe(recipes_dir("tiny") / "tiny"))
    board = open_board("qemu", run_labels(f"config-{secrets.token_hex(4)}"), qemu_run)
    transport = board.transport  # type: ignore[attr-defined]
    seen = board.reach_registry("127.0.0.1", secured.port)
    client_dir = f"/run/rvconform-docker-config-{secrets.token_hex(4)}"
    written: list[str] = []
    try:
        transport.check(["systemctl", "start", "docker"], timeout=600)
        existing = tmp_path / "daemon.json"
        existing.write_text(transport.run(["cat", "/etc/docker/daemon.json"]).stdout or "{}")
        printed = subprocess.run(
            [sys.executable, "-m", "harness.cli", "config", "docker", "--registry", f"https://{seen}",
             "--ca-file", str(access.ca_file), "--username", access.credentials.username,
             "--password-env", "REGISTRY_PASSWORD", "--merge", str(existing)],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
            env={**os.environ, "REGISTRY_PASSWORD": access.credentials.password}, check=True)
        assert access.credentials.password not in printed.stdout + printed.stderr
        transport.write_file("/etc/docker/daemon.json", printed.stdout)
        copies = [line.split(" to ")[1].removesuffix(" on the board") for line in printed.stderr.splitlines()
                  if line.startswith(f"# copy {access.ca_file} to ")]
        assert copies == [f"/etc/docker/certs.d/{seen}/ca.crt"], printed.stderr
        transport.write_file(copies[0], access.ca_file.read_text())
        written.append(copies[0].rsplit("/", 1)[0])
        assert f"run docker login {seen} on the board" in printed.stderr
        transport.check(["systemctl", "restart", "docker"], timeout=600)
        name = f"{seen}/{built.ref.repository}@{built.ref.digest}"
        docker = ["docker", "--config", client_dir]
        written.append(client_dir)
        refused = transport.run([*docker, "pull", "--platform", "linux/riscv64", name], timeout=300)
        assert refused.exit_status != 0 and "no basic auth credentials" in refused.output, refused.output
        transport.check(["sh", "-c", f"umask 077 && mkdir -p {client_dir}"])
        transport.check([*docker, "login", seen, "--username", access.credentials.username, "--password-stdin"],
                        stdin=access.credentials.password.encode(), timeout=120)
        transport.check([*docker, "pull", "--platform", "linux/riscv64", name], timeout=600)
        digests = transport.check([*docker, "image", "inspect", "--format", "{{json .RepoDigests}}", name])
        assert built.ref.digest in digests
        transport.run([*docker, "image", "rm", name])
    finally:
        for path in written:
            transport.run(["rm", "-rf", path])
        board.close()


@pytest.fixture(scope="module")
def secured_tiny(secured: Registry, tmp_path_factory: pytest.TempPathFactory):
    """The tiny test recipe, built for riscv64 and pushed to the TLS + password registry."""
    from conftest import BAD_IMAGES
    from harness.build import Builder
    from harness.recipes import load_recipe

    return Builder(secured.url, tmp_path_factory.mktemp("logs"), access=secured.access()).build(
        load_recipe(BAD_IMAGES / "tiny"))


class _ArgsWatcher:
    """Samples every process's arguments (`ps`, on this machine, which is the board) while a pull runs."""

    def __init__(self) -> None:
        import threading

        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.lines += subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True,
                                         timeout=10).stdout.splitlines()
            self._stop.wait(0.05)

    def __enter__(self) -> _ArgsWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def _private_files(board) -> list[Path]:
    """What the board's client trust wrote: every file (the board is this machine)."""
    trust = board.cli_trust
    files = [Path(path) for path in trust.written]
    if trust.directory:
        files += [path for path in Path(trust.directory).rglob("*")]
    return files


@pytest.mark.parametrize("runtime", ["docker", "podman"])
def test_an_ssh_board_pulls_through_tls_and_password_with_no_secret_on_a_command_line(
    secured: Registry, secured_tiny, sshd, runtime: str
) -> None:
    """docker/podman over SSH: the CA (docker's certs.d, podman's --cert-dir) and the credentials in a 0600
    client config of a 0700 directory, never in a process's arguments; everything is gone after close."""
    from harness.boards import open_board
    from harness.labels import run_labels

    access = secured.access()
    assert access.credentials
    board = open_board(sshd.url(runtime), run_labels(f"sshtrust-{secrets.token_hex(4)}"))
    try:
        seen = board.attach_registry(secured.url, access=access)
        assert seen != secured.host, "the board reaches the registry through its own forward"
        directory = board.cli_trust.directory
        if runtime == "podman":
            assert directory and Path(directory).stat().st_mode & 0o777 == 0o700
            assert Path(directory, "certs", seen, "ca.crt").stat().st_mode & 0o777 == 0o600
        else:
            [ours] = Path("/etc/docker/certs.d", seen).glob("rvconform-*.crt")
            assert ours.read_text() == access.ca_file.read_text()
        with _ArgsWatcher() as watcher:
            pulled = board.pull(secured_tiny.ref, "linux/riscv64")
        assert pulled.digest == secured_tiny.ref.digest, pulled
        assert len(watcher.lines) > 5, "ps was sampled during the pull"
        assert any(f"{runtime} " in line and " pull " in line for line in watcher.lines), "the pull was seen"
        assert not [line for line in watcher.lines if access.credentials.password in line]
        assert not [line for line in watcher.lines if "auth" in line and "{" in line]
        written = _private_files(board)
        assert written, "files were written on the board"
        assert not [p for p in written if p.name == "config.json"], "the client config went after the pull"
    finally:
        board.close()
    assert not [path for path in written if path.exists()], "the board's files are gone after close"
    assert not Path("/etc/docker/certs.d", seen).exists()
    assert directory is None or not Path(directory).exists()


@pytest.mark.parametrize("runtime", ["docker", "podman"])
def test_an_ssh_board_names_a_wrong_registry_password(secured: Registry, secured_tiny, sshd, runtime: str) -> None:
    from dataclasses import replace

    from harness.boards import open_board
    from harness.errors import BoardError
    from harness.labels import run_labels

    wrong = Credentials("rvconform", "not-the-password", "the test's wrong credentials")
    board = open_board(sshd.url(runtime), run_labels(f"sshtrust-{secrets.token_hex(4)}"))
    try:
        seen = board.attach_registry(secured.url, access=replace(secured.access(), credentials=wrong))
        started = time.monotonic()
        with pytest.raises(BoardError) as caught:
            board.pull(secured_tiny.ref, "linux/riscv64")
        assert time.monotonic() - started < 60
        written = _private_files(board)
    finally:
        board.close()
    message = str(caught.value)
    assert f"the registry {seen} refused the credentials of user 'rvconform' (the test's wrong credentials)" \
        in message, message
    assert runtime in board.name and secured_tiny.ref.repository in message and "fix:" in message
    assert "not-the-password" not in message
    assert not [path for path in written if path.exists()], "the board's files are gone after close, also on failure"


def test_podman_over_ssh_needs_the_ca_it_is_given(secured: Registry, secured_tiny, sshd) -> None:
    """Without the run's CA the same podman pull fails on the certificate: the --cert-dir above is what works."""
    from dataclasses import replace

    from harness.boards import open_board
    from harness.errors import BoardError
    from harness.labels import run_labels

    board = open_board(sshd.url("podman"), run_labels(f"sshtrust-{secrets.token_hex(4)}"))
    try:
        board.attach_registry(secured.url, access=replace(secured.access(), ca_file=None))
        with pytest.raises(BoardError, match=r"certificate signed by unknown authority"):
            board.pull(secured_tiny.ref, "linux/riscv64")
    finally:
        board.close()
