"""SSH boards go as the user's own ssh: host keys checked against known_hosts (unknown or changed: a clear error,
never a connection), ``accept_new_host_key=1`` (or the config's StrictHostKeyChecking accept-new) records a new
key, and the ssh_config's Host aliases, Include, HostKeyAlias, IdentityFile, ProxyCommand and ProxyJump (several
hops) are honoured. Real sshd processes on 127.0.0.1 (and the real ssh client
as a ProxyCommand); the ssh_config is the tests' own (RVCONFORM_SSH_CONFIG), never ~/.ssh."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import time
import uuid
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


def _another_sshd(sshd: Sshd, home: Path):
    """One more sshd in ``home`` (TCP forwarding allowed) letting in the same client key as ``sshd``."""
    home.mkdir()
    server = start_sshd(home, sshd.key.parent)
    yield server
    stop_sshd(server)


@pytest.fixture
def jump_sshd(sshd: Sshd, tmp_path: Path):
    """A second sshd, the jump host."""
    yield from _another_sshd(sshd, tmp_path / "jump")


@pytest.fixture
def second_jump_sshd(sshd: Sshd, tmp_path: Path):
    """A third sshd, a second jump host."""
    yield from _another_sshd(sshd, tmp_path / "jump2")


def answers_and_closes(transport: SshTransport, word: str) -> None:
    """Assert that the open ``transport`` runs a command on its board (``echo word``), then close it."""
    try:
        assert transport.check(["echo", word]).strip() == word
    finally:
        transport.close()


def connect(sshd: Sshd, **options: object) -> SshTransport:
    return SshTransport("board-under-test", "root", "127.0.0.1", sshd.port, str(sshd.key), **options).open()


def test_a_known_host_key_connects(sshd, ssh_config) -> None:
    write, known_hosts = ssh_config
    write()
    known_hosts.write_text(sshd.known_hosts_line)
    answers_and_closes(connect(sshd), "hello")


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


def test_a_host_alias_defined_only_in_an_included_file_reaches_the_board(sshd, ssh_config, tmp_path) -> None:
    write, known_hosts = ssh_config
    known_hosts.write_text(sshd.known_hosts_line)
    (tmp_path / "config.d").mkdir()
    (tmp_path / "config.d" / "lab.conf").write_text(
        f"Host riscv-board\n    HostName 127.0.0.1\n    Port {sshd.port}\n    User root\n")
    (tmp_path / "keys.conf").write_text(f"IdentityFile {sshd.key}\n")
    write("Include config.d/*.conf\nHost riscv-board\n    Include keys.conf\n")
    answers_and_closes(SshTransport("board-under-test", None, "riscv-board", None, None).open(), "included")


def test_host_key_alias_names_the_key_in_known_hosts_instead_of_host_and_port(sshd, ssh_config) -> None:
    write, known_hosts = ssh_config
    key_type, key_data = sshd.known_hosts_line.split()[1:]
    known_hosts.write_text(f"lab-board-7 {key_type} {key_data}\n")  # no [127.0.0.1]:port entry
    write(host_block("riscv-board", sshd, "    HostKeyAlias lab-board-7\n"))
    answers_and_closes(SshTransport("board-under-test", None, "riscv-board", None, None).open(), "aliased")
    known_hosts.write_text(sshd.known_hosts_line)  # known under [127.0.0.1]:port only: not the alias's key
    with pytest.raises(BoardUnreachable) as caught:
        SshTransport("board-under-test", None, "riscv-board", None, None).open()
    assert "the host key of riscv-board (lab-board-7) is not known" in str(caught.value)
    assert "-o HostKeyAlias=lab-board-7" in str(caught.value)


def test_host_key_alias_is_what_accept_new_records_and_what_a_changed_key_names(sshd, ssh_config, tmp_path) -> None:
    write, _ = ssh_config
    write(host_block("riscv-board", sshd, "    HostKeyAlias lab-board-7\n"))
    SshTransport("board-under-test", None, "riscv-board", None, None, host_keys=ACCEPT_NEW).open().close()
    recorded = (tmp_path / "cache" / "ssh" / "known_hosts").read_text()
    assert recorded.split()[0] == "lab-board-7" and recorded.split()[1:] == sshd.known_hosts_line.split()[1:]
    impostor = sshd.other_key.with_name("other_key.pub").read_text().split()[:2]
    (tmp_path / "cache" / "ssh" / "known_hosts").write_text(f"lab-board-7 {impostor[0]} {impostor[1]}\n")
    with pytest.raises(BoardUnreachable) as caught:
        SshTransport("board-under-test", None, "riscv-board", None, None).open()
    assert "HAS CHANGED" in str(caught.value) and "ssh-keygen -R lab-board-7" in str(caught.value)


@pytest.mark.parametrize("setting", ["accept-new", "no"])
def test_strict_host_key_checking_accept_new_or_no_in_the_config_records_a_new_key_but_refuses_a_changed_one(
        sshd, ssh_config, tmp_path, setting: str) -> None:
    write, known_hosts = ssh_config
    write(host_block("riscv-board", sshd, f"    StrictHostKeyChecking {setting}\n"))
    board = open_board("ssh://riscv-board?runtime=docker", LABELS)
    board.close()
    harness_file = tmp_path / "cache" / "ssh" / "known_hosts"
    assert harness_file.read_text() == sshd.known_hosts_line
    assert known_hosts.read_text() == ""  # the user's file is theirs
    harness_file.write_text("")
    with pytest.raises(BoardUnreachable, match="is not known"):  # the URL's explicit option wins
        open_board("ssh://riscv-board?runtime=docker&accept_new_host_key=0", LABELS)
    assert harness_file.read_text() == ""
    harness_file.write_text(sshd.known_hosts_line)
    impostor = sshd.other_key.with_name("other_key.pub").read_text().split()[1]
    harness_file.write_text(sshd.known_hosts_line.replace(sshd.known_hosts_line.split()[2], impostor))
    with pytest.raises(BoardUnreachable, match="HAS CHANGED"):
        SshTransport("board-under-test", None, "riscv-board", None, None).open()


def test_strict_host_key_checking_yes_in_the_config_refuses_an_unknown_key(sshd, ssh_config) -> None:
    write, _ = ssh_config
    write(host_block("riscv-board", sshd, "    StrictHostKeyChecking yes\n"))
    with pytest.raises(BoardUnreachable, match="is not known"):
        SshTransport("board-under-test", None, "riscv-board", None, None).open()


def test_the_run_s_own_vm_is_reached_by_its_pinned_key_without_the_user_s_config_or_known_hosts(
        sshd, ssh_config) -> None:
    write, known_hosts = ssh_config  # no known key; a config that would send everything through a dead jump host
    write("Host dead-jump\n    HostName 127.0.0.1\n    Port 1\n    ProxyJump none\nHost *\n    ProxyJump dead-jump\n")
    with pytest.raises(BoardUnreachable, match="connection refused"):
        connect(sshd)
    answers_and_closes(connect(sshd, host_keys=OWN_VM, host_key=str(sshd.home / "host_key.pub")), "vm")
    assert known_hosts.read_text() == "", "a pinned key is never written to any known_hosts"


def accepted(server: Sshd) -> int:
    """How many logins the server let in so far."""
    return (server.home / "log").read_text().count("Accepted publickey")


def host_block(name: str, server: Sshd, more: str = "") -> str:
    """An ssh_config Host block for ``server`` (root, the tests' key)."""
    return (f"Host {name}\n    HostName 127.0.0.1\n    Port {server.port}\n    User root\n"
            f"    IdentityFile {server.key}\n{more}")


def ssh_w_through(server: Sshd, known_hosts: Path) -> str:
    """A ProxyCommand as a lab writes it: the real ssh client, ``-W`` through ``server`` (the tests' key, the
    server's host key checked in ``known_hosts``)."""
    return (f"ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={known_hosts} "
            f"-o GlobalKnownHostsFile=/dev/null -i {server.key} -p {server.port} -W %h:%p root@127.0.0.1")


def processes_with(marker: str) -> list[str]:
    """The command lines of running processes that contain ``marker``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in text:
            found.append(text)
    return found


def test_a_proxy_command_reaches_the_board_and_ends_with_it(sshd, jump_sshd, ssh_config, tmp_path) -> None:
    write, known_hosts = ssh_config
    known_hosts.write_text(sshd.known_hosts_line)  # the board's key only: the jump host is the command's business
    proxy_known_hosts = tmp_path / "proxy_known_hosts"
    proxy_known_hosts.write_text(jump_sshd.known_hosts_line)
    write(host_block("riscv-board", sshd, f"    ProxyCommand {ssh_w_through(jump_sshd, proxy_known_hosts)}\n"))
    through_jump, on_board = accepted(jump_sshd), accepted(sshd)
    board = open_board("ssh://riscv-board?runtime=docker", LABELS)
    try:
        assert board.kernel_release()
        assert processes_with(str(proxy_known_hosts)), "the ProxyCommand does not run"
    finally:
        board.close()
    assert accepted(jump_sshd) == through_jump + 1 and accepted(sshd) == on_board + 1
    assert processes_with(str(proxy_known_hosts)) == [], "the ProxyCommand outlived the board"


@pytest.mark.parametrize("command, ended", [
    ("false", "exited with status 1, printing nothing on stderr"),
    ("no-such-proxy-tool %h %p", "exited with status 127, saying: "),
    # ends after the connection started: its end must read as the end, not as a silence until the deadline
    ("sh -c 'sleep 0.5; echo no route to the lab >&2; exit 3'", "exited with status 3, saying: no route to the lab"),
    ("ssh -F /dev/null -o BatchMode=yes -p 1 -W %h:%p root@127.0.0.1", "exited with status 255, saying: "
     "ssh: connect to host 127.0.0.1 port 1: Connection refused"),
])
def test_a_proxy_command_that_fails_is_named_within_seconds(sshd, ssh_config, command: str, ended: str) -> None:
    write, known_hosts = ssh_config
    known_hosts.write_text(sshd.known_hosts_line)
    config = write(host_block("riscv-board", sshd, f"    ProxyCommand {command}\n"))
    started = time.monotonic()
    with pytest.raises(BoardUnreachable) as caught:
        SshTransport("board-under-test", None, "riscv-board", None, None).open()
    assert time.monotonic() - started < 5
    message = str(caught.value)
    expanded = command.replace("%h", "127.0.0.1").replace("%p", str(sshd.port))
    assert f"board-under-test: cannot connect to riscv-board (root@127.0.0.1:{sshd.port}) through its ProxyCommand " \
        f"`{expanded}`: the command {ended}" in message
    if "no-such" in command:
        assert "no-such-proxy-tool: not found" in message  # its stderr
    assert "run that command by hand" in message and f"Host riscv-board in {config}" in message
    assert "Traceback" not in message


def test_a_silent_proxy_command_is_named_at_the_connect_deadline_and_ended(sshd, ssh_config, monkeypatch) -> None:
    monkeypatch.setattr("harness.boards.transport.CONNECT_TIMEOUT", 2)
    write, known_hosts = ssh_config
    known_hosts.write_text(sshd.known_hosts_line)
    marker = f"{1000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"  # sleep's argument, unique to this test
    write(host_block("riscv-board", sshd, f"    ProxyCommand sleep {marker}\n"))
    started = time.monotonic()
    with pytest.raises(BoardUnreachable) as caught:
        SshTransport("board-under-test", None, "riscv-board", None, None).open()
    assert time.monotonic() - started < 2 + 5
    assert f"through its ProxyCommand `sleep {marker}`: the command runs, but no SSH banner came through it " \
        "within 2 s" in str(caught.value)
    assert processes_with(f"sleep {marker}") == [], "the ProxyCommand outlived the failed connection"


def test_several_jump_hosts_each_with_its_own_settings_lead_to_the_board(sshd, jump_sshd, second_jump_sshd,
                                                                         ssh_config) -> None:
    write, known_hosts = ssh_config
    known_hosts.write_text(sshd.known_hosts_line + jump_sshd.known_hosts_line + second_jump_sshd.known_hosts_line)
    write(host_block("lab-a", jump_sshd) + host_block("lab-b", second_jump_sshd)
          + host_block("riscv-board", sshd, "    ProxyJump lab-a,lab-b\n"))
    before = [accepted(server) for server in (jump_sshd, second_jump_sshd, sshd)]
    board = SshTransport("board-under-test", None, "riscv-board", None, None).open()
    try:
        assert board.check(["echo", "three hops"]).strip() == "three hops"
    finally:
        board.close()
    assert [accepted(server) for server in (jump_sshd, second_jump_sshd, sshd)] == [count + 1 for count in before]


def test_a_jump_host_s_own_proxy_jump_and_proxy_command_are_followed(sshd, jump_sshd, second_jump_sshd, ssh_config,
                                                                     tmp_path) -> None:
    # board -> ProxyJump lab-b; lab-b -> ProxyJump lab-a; lab-a -> ProxyCommand (ssh -W through the board's sshd)
    write, known_hosts = ssh_config
    known_hosts.write_text(sshd.known_hosts_line + jump_sshd.known_hosts_line + second_jump_sshd.known_hosts_line)
    proxy_known_hosts = tmp_path / "proxy_known_hosts"
    proxy_known_hosts.write_text(sshd.known_hosts_line)
    write(host_block("lab-a", jump_sshd, f"    ProxyCommand {ssh_w_through(sshd, proxy_known_hosts)}\n")
          + host_block("lab-b", second_jump_sshd, "    ProxyJump lab-a\n")
          + host_block("riscv-board", sshd, "    ProxyJump lab-b\n"))
    before = [accepted(server) for server in (jump_sshd, second_jump_sshd, sshd)]
    board = SshTransport("board-under-test", None, "riscv-board", None, None).open()
    try:
        assert board.check(["echo", "nested"]).strip() == "nested"
    finally:
        board.close()
    # the board's sshd let in the ProxyCommand's ssh and, at the end of the chain, the board's own connection
    assert [accepted(server) for server in (jump_sshd, second_jump_sshd, sshd)] == [
        before[0] + 1, before[1] + 1, before[2] + 2]
    assert processes_with(str(proxy_known_hosts)) == []


def test_an_unknown_host_key_of_a_second_jump_host_is_named_as_that_host(sshd, jump_sshd, second_jump_sshd,
                                                                         ssh_config) -> None:
    write, known_hosts = ssh_config
    known_hosts.write_text(sshd.known_hosts_line + jump_sshd.known_hosts_line)
    write(host_block("lab-a", jump_sshd) + host_block("lab-b", second_jump_sshd)
          + host_block("riscv-board", sshd, "    ProxyJump lab-a,lab-b\n"))
    with pytest.raises(BoardUnreachable) as caught:
        SshTransport("board-under-test", None, "riscv-board", None, None).open()
    assert "the host key of lab-b" in str(caught.value)
    assert fingerprint_of(second_jump_sshd.home / "host_key.pub") in str(caught.value)


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
