"""The local engine verifies a TLS registry against the CA rvconform writes under its certs.d.

Every other TLS test uses a registry on 127.0.0.1, which dockerd counts as insecure (127.0.0.0/8) and so never
verifies. Here the registry (the real distribution binary, TLS with a trustme CA, htpasswd with bcrypt) listens
on the gateway address of a bridge network the test makes: a host address, local, and not one dockerd skips.
The same pull fails with an x509 error without the CA in certs.d, and works with it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import docker.errors
import pytest

from conftest import SuiteRun, run_suites_in
from harness.boards.registry_trust import engine_trusting
from harness.defaults import DOCKER_CERTS_D
from harness.engine import engine
from harness.image_ref import ImageRef
from harness.registry import Registry, spawn_registry
from harness.registry_access import Credentials, RegistryAccess
from harness.registry_security import RegistrySecurity, make_htpasswd, make_tls, read_credentials

#: The label of the network this module makes, and of the test process that made it (a crashed one's is swept).
TEST_LABEL = "rvconform.test"
PID_LABEL = "rvconform.test.pid"
CERTS_D = Path(DOCKER_CERTS_D)
UNKNOWN_AUTHORITY = "x509: certificate signed by unknown authority"
PLATFORM = "linux/riscv64"


@dataclass(frozen=True)
class LabRegistry:
    """The registry on the test network's gateway: its URL, the CA that signed its certificate, a login."""

    registry: Registry
    ca: Path
    credentials: Credentials

    @property
    def host(self) -> str:
        return self.registry.host

    def access(self) -> RegistryAccess:
        return RegistryAccess(self.host, "https", self.ca, self.credentials)

    def env(self) -> dict[str, str]:
        """The login as a user gives it to rvconform."""
        return {"RVCONFORM_REGISTRY_USERNAME": self.credentials.username,
                "RVCONFORM_REGISTRY_PASSWORD": self.credentials.password}


def _remove_networks_of_dead_tests() -> None:
    """Networks this module made in a test process that died before its teardown."""
    for network in engine().networks.list(filters={"label": f"{TEST_LABEL}=engine-certs-d"}):
        pid = int(network.attrs.get("Labels", {}).get(PID_LABEL, "0"))
        if pid <= 0 or not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(docker.errors.APIError):  # gone already, or in use after all
                network.remove()


def _engine_skips_verification_for(subnet: str, address: str) -> list[str]:
    """What dockerd lists as insecure registries (never verified) of ``subnet`` or ``address``: CIDRs that
    overlap the subnet, and registries named by the address."""
    config = engine().info()["RegistryConfig"]
    cidrs = [cidr for cidr in config.get("InsecureRegistryCIDRs") or []
             if ipaddress.ip_network(cidr).overlaps(ipaddress.ip_network(subnet))]
    named = [name for name, index in (config.get("IndexConfigs") or {}).items()
             if not index.get("Secure", True) and name.rsplit(":", 1)[0] == address]
    return cidrs + named


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    """The gateway address of a bridge network made for this module (a host address, not loopback)."""
    _remove_networks_of_dead_tests()
    network = engine().networks.create(
        f"rvconform-certs-d-{secrets.token_hex(4)}", driver="bridge",
        labels={TEST_LABEL: "engine-certs-d", PID_LABEL: str(os.getpid())})
    try:
        subnet, address = (network.attrs["IPAM"]["Config"][0][key] for key in ("Subnet", "Gateway"))
        assert not ipaddress.ip_address(address).is_loopback, address
        assert _engine_skips_verification_for(subnet, address) == [], "dockerd would never verify the registry"
        yield address
    finally:
        network.remove()


@pytest.fixture
def lab_registry(gateway: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabRegistry]:
    """TLS (a CA made now, the certificate for the gateway's address only) and htpasswd, on the gateway; empty
    for each test, so none finds an image another pushed."""
    workdir = tmp_path_factory.mktemp("lab-registry")
    try:
        tls = make_tls(workdir / "secrets", names=(gateway,))
        htpasswd, credentials = make_htpasswd(workdir / "secrets")
        security = RegistrySecurity(tls=tls, htpasswd=htpasswd, credentials_file=credentials)
        registry, process = spawn_registry(workdir, security=security, address=gateway)
        try:
            yield LabRegistry(registry, tls.ca, read_credentials(credentials))
        finally:
            process.terminate()
            process.wait(timeout=10)
            _remove_local_images(registry.host)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # its CA key and password too


def _remove_local_images(host: str) -> None:
    """Every image the engine holds from ``host`` (a pull of a failed test may leave one)."""
    client = engine()
    for image in client.images.list():
        if any(name.startswith(f"{host}/") for name in image.tags + image.attrs.get("RepoDigests", [])):
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(image.id, force=True)


def _ours(host: str) -> list[Path]:
    """The CA files rvconform has under the engine's certs.d for ``host``."""
    return sorted((CERTS_D / host).glob("rvconform-*.crt"))


class _CertsDWatcher:
    """Samples what rvconform writes under certs.d for one registry while a run goes on."""

    def __init__(self, host: str, ca: Path) -> None:
        self.host = host
        self.ca = ca.read_bytes()
        self.seen: dict[str, bool] = {}  # file name -> whether it held the registry's CA
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            for path in _ours(self.host):
                with contextlib.suppress(FileNotFoundError):  # removed between the listing and the read
                    self.seen[path.name] = self.seen.get(path.name, False) or path.read_bytes() == self.ca
            self._stop.wait(0.05)

    def __enter__(self) -> _CertsDWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def _run(directory: Path, lab: LabRegistry, recipes: Path, ca: Path, tests: str) -> SuiteRun:
    """``rvconform run`` of the ``tests`` (a -k expression) with the lab registry as the user's own, on the
    local board."""
    return run_suites_in(directory, "--registry", lab.registry.url, "--registry-ca", str(ca), "--board", "local",
                         "-k", tests, recipes=recipes, cli=True, timeout=1800,
                         env={**lab.env(), "DOCKER_CONFIG": str(directory / "docker-config")})


def _passed(run: SuiteRun, names: list[str]) -> None:
    assert run.returncode == 0, run.output[-4000:]
    assert {name: run.outcome(name) for name in names} == dict.fromkeys(names, "passed"), run.output[-4000:]


def test_the_local_board_pulls_over_tls_verified_with_the_ca_it_puts_in_certs_d(
    tmp_path: Path, recipes_dir, lab_registry: LabRegistry
) -> None:
    """A run that only builds pushes from the engine here (no board open: the push's own CA file in certs.d);
    the next run pulls that image on the local board, directly and through containerd's mirror config, with the
    board's CA under certs.d/HOST:PORT as a ``.crt``; nothing of either is left there."""
    recipes = recipes_dir("tiny")
    certs_d_existed = CERTS_D.is_dir()
    pushed = _run(tmp_path / "push", lab_registry, recipes, lab_registry.ca, "test_build")
    _passed(pushed, ["test_build[tiny]"])
    assert pushed.verdicts["test_build[tiny]"].properties["image"].startswith(f"{lab_registry.host}/")
    assert not [name for name in pushed.verdicts if "local" in name], "no board was opened for the push"
    with _CertsDWatcher(lab_registry.host, lab_registry.ca) as watcher:
        pulled = _run(tmp_path / "pull", lab_registry, recipes, lab_registry.ca, "test_pull")
    _passed(pulled, ["test_pull[tiny-local]", "test_pull_through_k3s_mirror_config[tiny-local]"])
    assert watcher.seen and all(watcher.seen.values()), f"the registry's CA under certs.d/{lab_registry.host}: " \
                                                        f"{watcher.seen}"
    assert not (CERTS_D / lab_registry.host).exists(), "the runs removed the directory they made"
    assert CERTS_D.is_dir() == certs_d_existed, "certs.d itself is as the runs found it"


def _pull(ref: ImageRef, credentials: Credentials) -> str:
    """The engine's pull of ``ref`` (any local copy removed first); its digest, or the engine's refusal."""
    client = engine()
    with contextlib.suppress(docker.errors.APIError):
        client.images.remove(ref.pinned, force=True)
    try:
        pulled = client.images.pull(ref.pinned, platform=PLATFORM, auth_config=credentials.auth_config())
    except docker.errors.APIError as error:
        return f"refused: {error.explanation or error}"
    finally:
        _remove_local_images(ref.registry)
    return next(name.split("@")[1] for name in pulled.attrs["RepoDigests"] if name.startswith(ref.registry))


def test_without_the_ca_in_certs_d_the_engine_refuses_the_same_pull(
    tmp_path: Path, lab_registry: LabRegistry
) -> None:
    """The engine pulls the image (pushed by the harness's builder, whose push needs the CA in certs.d as well)
    only while the registry's CA is there: before, after, and with another CA there, the same pull is an x509
    unknown-authority refusal."""
    from conftest import BAD_IMAGES
    from harness.build import Builder
    from harness.recipes import load_recipe

    built = Builder(lab_registry.registry.url, tmp_path / "logs", access=lab_registry.access()).build(
        load_recipe(BAD_IMAGES / "tiny"))
    assert not _ours(lab_registry.host) and not (CERTS_D / lab_registry.host).exists()
    before = _pull(built.ref, lab_registry.credentials)
    with engine_trusting(lab_registry.access()):
        [written] = _ours(lab_registry.host)
        trusted = _pull(built.ref, lab_registry.credentials)
    after = _pull(built.ref, lab_registry.credentials)
    with engine_trusting(replace(lab_registry.access(), ca_file=make_tls(tmp_path / "wrong").ca)):
        wrong = _pull(built.ref, lab_registry.credentials)
    assert UNKNOWN_AUTHORITY in before, before
    assert written.suffix == ".crt" and written.parent.name == lab_registry.host
    assert trusted == built.ref.digest, trusted
    assert UNKNOWN_AUTHORITY in after, after
    assert UNKNOWN_AUTHORITY in wrong, f"the engine checks the certificate against the CA there: {wrong}"
    assert not (CERTS_D / lab_registry.host).exists()


def test_a_wrong_ca_is_named_with_the_registry_and_the_fix_within_seconds(
    tmp_path: Path, recipes_dir, lab_registry: LabRegistry
) -> None:
    """A CA that did not sign the registry's certificate: the run stops at the registry, naming it, the
    certificate problem and the fix, and leaves nothing under certs.d."""
    wrong = make_tls(tmp_path / "wrong", names=("127.0.0.1",)).ca
    started = time.monotonic()
    run = _run(tmp_path, lab_registry, recipes_dir("tiny"), wrong, "test_build or test_pull")
    seconds = time.monotonic() - started
    assert run.returncode != 0
    message = run.message("test_build[tiny]")
    assert f"https://{lab_registry.host}" in message and "certificate" in message, message
    assert str(wrong) in message and "--registry-ca" in message, message
    assert "During handling" not in message, "the message is said once"
    assert seconds < 60, f"the refusal took {seconds:.0f} s"
    assert not (CERTS_D / lab_registry.host).exists()
