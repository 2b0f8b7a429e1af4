"""SSH boards go as the user's own ssh: host keys checked against known_hosts (unknown or changed: a clear error,
never a connection), ``accept_new_host_key=1`` records a new key, and the ssh_config's Host aliases, IdentityFile
and ProxyJump are honoured. Real sshd processes on 127.0.0.1; the ssh_config is the tests' own
(RVCONFORM_SSH_CONFIG), never ~/.ssh."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import time
from pathlib import Path

import pytest

from harness.boards import open_board
from harness.boards.transport import SshTransport
from harness.boards.url import ACCEPT_NEW, OWN_VM
from harness.errors import BoardUnreachable
from harness.labels import run_labels
from tests.integration.conftest import Sshd, start_sshd, stop_sshd

LABELS = run_labels("ssh-config-test")


def fingerprint_of(public_key_file: Path) -> str:
    """What ``ssh-keygen -l`` says of a public key file: SHA256:..."""
    blob = base64.b64decode(public_key_file.read_text().split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@pytest.fixture
def ssh_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write an ssh_config (known_hosts in tmp_path) for this test, and a cache of its own for the harness's
    known_hosts; returns (write, known_hosts path)."""
    monkeypatch.setenv("RVCONFORM_CACHE", str(tmp_path / "cache"))
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")

    def write(text: str = "") -> Path:
        config = tmp_path / "ssh_config"
        config.write_text(f"{text}\nHost *\n    UserKnownHostsFile {known_hosts}\n")
        monkeypatch.setenv("RVCONFORM_SSH_CONFIG", str(config))
        return config

    return write, known_hosts


@pytest.fixture
def jump_sshd(sshd: Sshd, tmp_path: Path):
    """A second sshd, the jump host (TCP forwarding allowed), letting in the same client key as ``sshd``."""
    home = tmp_path / "jump"
    home.mkdir()
    server = start_sshd(home, sshd.key.parent)
    yield server
    stop_sshd(server)


def connect(sshd: Sshd, **options: object) -> SshTransport:
    return SshTransport("board-under-test", "root", "127.0.0.1", sshd.port, str(sshd.key), **options).open()


def test_a_known_host_key_connects(sshd, ssh_config) -> None:
    write, known_hosts = ssh_config
    write()
    known_hosts.write_text(sshd.known_hosts_line)
    transport = connect(sshd)
    try:
        assert transport.check(["echo", "hello"]).strip() == "hello"
    finally:
        transport.close()


def test_an_unknown_host_key_fails_fast_naming_the_fingerprint_and_the_fix(sshd, ssh_config) -> None:
    write, _ = ssh_config
    write()
    started = time.monotonic()
    with pytest.raises(BoardUnreachable) as caught:
        connect(sshd)
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert "board-under-test" in message and "is not known" in message
    assert f"ssh-ed25519 {fingerprint_of(sshd.home / 'host_key.pub')}" in message
    assert "ssh-keyscan" in message and "accept_new_host_key=1" in message


def test_a_changed_host_key_never_connects_and_shows_both_fingerprints(sshd, ssh_config) -> None:
    write, known_hosts = ssh_config
    write()
    impostor = sshd.other_key.with_name("other_key.pub").read_text().split()[:2]
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {impostor[0]} {impostor[1]}\n")
    with pytest.raises(BoardUnreachable) as caught:
        connect(sshd)
    message = str(caught.value)
    assert "HAS CHANGED" in message and "man in the middle" in message
    assert f"known ssh-ed25519 {fingerprint_of(sshd.other_key.with_name('other_key.pub'))}" in message
    assert f"presented ssh-ed25519 {fingerprint_of(sshd.home / 'host_key.pub')}" in message
    assert f"ssh-keygen -R '[127.0.0.1]:{sshd.port}'" in message


def test_accept_new_records_the_key_in_the_harness_known_hosts_and_then_verifies_it(sshd, ssh_config,
                                                                                    tmp_path) -> None:
    write, known_hosts = ssh_config
    write()
    board = open_board(f"{sshd.url('docker')}&accept_new_host_key=1", LABELS)
    board.close()
    recorded = (tmp_path / "cache" / "ssh" / "known_hosts").read_text()
    assert recorded == sshd.known_hosts_line
    assert known_hosts.read_text() == ""  # the user's file is theirs
    connect(sshd).close()  # now known, without the opt-in
    impostor = sshd.other_key.with_name("other_key.pub").read_text().split()[1]
    (tmp_path / "cache" / "ssh" / "known_hosts").write_text(recorded.replace(recorded.split()[2], impostor))
    with pytest.raises(BoardUnreachable, match="HAS CHANGED"):  # accept-new never replaces a recorded key
        connect(sshd, host_keys=ACCEPT_NEW)


def test_a_host_alias_with_identity_file_and_proxy_jump_reaches_the_board(sshd, jump_sshd, ssh_config) -> None:
    write, known_hosts = ssh_config
    known_hosts.write_text(sshd.known_hosts_line + jump_sshd.known_hosts_line)
    write(f"Host lab-jump\n    HostName 127.0.0.1\n    Port {jump_sshd.port}\n    User root\n"
          f"    IdentityFile {sshd.key}\n"
          f"Host riscv-board\n    HostName 127.0.0.1\n    Port {sshd.port}\n    User root\n"
          f"    IdentityFile {sshd.key}\n    ProxyJump lab-jump\n")
    accepted_before = (jump_sshd.home / "log").read_text().count("Accepted publickey")
    board = open_board("ssh://riscv-board?runtime=docker", LABELS)
    try:
        assert board.kernel_release()
    finally:
        board.close()
    assert (jump_sshd.home / "log").read_text().count("Accepted publickey") == accepted_before + 1


def test_an_unknown_jump_host_key_is_named_as_the_jump_host(sshd, jump_sshd, ssh_config) -> None:
    write, known_hosts = ssh_config
    known_hosts.write_text(sshd.known_hosts_line)
    write(f"Host riscv-board\n    HostName 127.0.0.1\n    Port {sshd.port}\n    IdentityFile {sshd.key}\n"
          f"    ProxyJump root@127.0.0.1:{jump_sshd.port}\n")
    with pytest.raises(BoardUnreachable) as caught:
        open_board("ssh://riscv-board?runtime=docker", LABELS)
    assert fingerprint_of(jump_sshd.home / "host_key.pub") in str(caught.value)
    assert f"[127.0.0.1]:{jump_sshd.port}" in str(caught.value)


def test_a_jump_host_that_does_not_forward_is_named_with_the_fix(sshd, ssh_config, tmp_path) -> None:
    home = tmp_path / "closed-jump"
    home.mkdir()
    jump = start_sshd(home, sshd.key.parent, forwarding=False)
    try:
        write, known_hosts = ssh_config
        known_hosts.write_text(sshd.known_hosts_line + jump.known_hosts_line)
        write(f"Host riscv-board\n    HostName 127.0.0.1\n    Port {sshd.port}\n    IdentityFile {sshd.key}\n"
              f"    ProxyJump root@127.0.0.1:{jump.port}\nHost 127.0.0.1\n    IdentityFile {sshd.key}\n")
        started = time.monotonic()
        with pytest.raises(BoardUnreachable) as caught:
            open_board("ssh://riscv-board?runtime=docker", LABELS)
        assert time.monotonic() - started < 20
        assert f"the jump host 127.0.0.1 (root@127.0.0.1:{jump.port}) cannot reach 127.0.0.1:{sshd.port}" \
            in str(caught.value)
        assert "allows TCP forwarding" in str(caught.value)
    finally:
        stop_sshd(jump)


def test_the_run_s_own_vm_is_reached_by_its_pinned_key_without_the_user_s_config_or_known_hosts(
        sshd, ssh_config) -> None:
    write, known_hosts = ssh_config  # no known key, and a config that would send everything through a dead jump host
    write("Host *\n    ProxyJump root@127.0.0.1:1\n")
    with pytest.raises(BoardUnreachable, match="connection refused"):
        connect(sshd)
    transport = connect(sshd, host_keys=OWN_VM, host_key=str(sshd.home / "host_key.pub"))
    try:
        assert transport.check(["echo", "vm"]).strip() == "vm"
    finally:
        transport.close()
    assert known_hosts.read_text() == "", "a pinned key is never written to any known_hosts"


def test_a_vm_presenting_another_key_than_the_pinned_one_is_refused_with_both_fingerprints(sshd, tmp_path) -> None:
    pinned = tmp_path / "image" / "ssh_host_ed25519_key.pub"  # a VM image's host key, but not the sshd's
    pinned.parent.mkdir()
    pinned.write_text(sshd.other_key.with_name("other_key.pub").read_text())
    accepted_before = (sshd.home / "log").read_text().count("Accepted publickey")
    started = time.monotonic()
    with pytest.raises(BoardUnreachable) as caught:
        connect(sshd, host_keys=OWN_VM, host_key=str(pinned))
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert f"board-under-test: THE HOST KEY OF THE VM (SSH on 127.0.0.1:{sshd.port}) HAS CHANGED" in message
    assert f"pinned ssh-ed25519 {fingerprint_of(pinned)} (made with its image: {pinned})" in message
    assert f"presented ssh-ed25519 {fingerprint_of(sshd.home / 'host_key.pub')}" in message
    assert f"rebuild the VM image: `rm -rf {pinned.parent}`" in message
    assert (sshd.home / "log").read_text().count("Accepted publickey") == accepted_before, "no login"


def test_a_pinned_key_of_another_type_is_refused_too(sshd, tmp_path) -> None:
    pinned = tmp_path / "rsa_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(pinned)], check=True)
    with pytest.raises(BoardUnreachable) as caught:
        connect(sshd, host_keys=OWN_VM, host_key=f"{pinned}.pub")
    message = str(caught.value)
    assert f"pinned ssh-rsa {fingerprint_of(Path(f'{pinned}.pub'))}" in message
    assert f"presented ssh-ed25519 {fingerprint_of(sshd.home / 'host_key.pub')}" in message


@pytest.mark.parametrize(("name", "expected"), [
    (None, "no host key to pin for the VM; refusing to trust whatever key it presents"),
    ("gone.pub", "cannot read the VM's host key"),
    ("garbage.pub", "cannot read the VM's host key"),
])
def test_a_vm_without_a_readable_pinned_key_is_never_trusted(sshd, tmp_path, name: str | None,
                                                             expected: str) -> None:
    (tmp_path / "garbage.pub").write_text("ssh-ed25519 bm90IGEga2V5\n")
    with pytest.raises(BoardUnreachable) as caught:
        connect(sshd, host_keys=OWN_VM, host_key=str(tmp_path / name) if name else None)
    assert expected in str(caught.value)
