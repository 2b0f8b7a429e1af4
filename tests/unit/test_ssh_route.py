"""How an SSH board's route is read from an ssh_config: aliases, identity files, ProxyJump, known_hosts files."""

from pathlib import Path

import paramiko
import pytest

from harness.boards.ssh_route import SshHop, config_path, resolve_route
from harness.errors import BoardError

CONFIG = """
Host riscv-board
    HostName 10.1.2.3
    Port 2200
    User riscv
    IdentityFile ~/.ssh/lab_key
    ProxyJump lab-jump
    UserKnownHostsFile /etc/lab/known_hosts

Host lab-jump
    HostName gateway.lab
    User jumper
    IdentityFile /keys/jump

Host two-hops
    ProxyJump a,b
"""


def route(host: str, user: str | None = None, port: int | None = None, key: str | None = None):
    return resolve_route(host, user, port, key, paramiko.SSHConfig.from_text(CONFIG))


def test_an_alias_gives_hostname_port_user_key_jump_and_known_hosts() -> None:
    found = route("riscv-board")
    assert found.board == SshHop("riscv-board", "10.1.2.3", 2200, "riscv", (str(Path("~/.ssh/lab_key").expanduser()),))
    assert found.jump == SshHop("lab-jump", "gateway.lab", 22, "jumper", ("/keys/jump",))
    assert found.known_hosts[0] == Path("/etc/lab/known_hosts")


def test_what_the_url_says_wins_over_the_config() -> None:
    found = route("riscv-board", user="root", port=22, key="/url/key")
    assert (found.board.user, found.board.port, found.board.key_files) == ("root", 22, ("/url/key",))
    assert found.board.hostname == "10.1.2.3"


def test_a_host_not_in_the_config_is_itself_as_root_on_22_with_the_default_known_hosts() -> None:
    found = route("board9")
    assert found.board == SshHop("board9", "board9", 22, "root", ())
    assert found.jump is None
    assert found.known_hosts[0] == Path("~/.ssh/known_hosts").expanduser()


def test_a_jump_written_user_at_host_port() -> None:
    config = paramiko.SSHConfig.from_text("Host b\n    ProxyJump me@gw:2022\n")
    assert resolve_route("b", None, None, None, config).jump == SshHop("gw", "gw", 2022, "me", ())


def test_more_than_one_hop_is_refused_with_a_fix() -> None:
    with pytest.raises(BoardError, match="more than one hop") as caught:
        route("two-hops")
    assert "fix:" in str(caught.value)


def test_a_config_named_in_the_environment_must_exist(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("RVCONFORM_SSH_CONFIG", str(tmp_path / "missing"))
    with pytest.raises(BoardError, match=r"RVCONFORM_SSH_CONFIG=.*no such file"):
        config_path()
    monkeypatch.setenv("RVCONFORM_SSH_CONFIG", "/dev/null")
    assert config_path() == Path("/dev/null")
