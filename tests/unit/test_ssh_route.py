"""How an SSH board's route is read from an ssh_config: aliases, identity files, known_hosts files, ProxyJump
(several hops, each with its own settings), ProxyCommand (ssh's tokens expanded), and which of the two wins."""

from pathlib import Path

import pytest

from harness.boards.ssh_route import SshConfig, SshHop, config_path, load_config, resolve_route
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
    UserKnownHostsFile /etc/lab/jump_known_hosts
"""


def route(host: str, text: str = CONFIG, user: str | None = None, port: int | None = None,
          key: str | None = None):
    return resolve_route(host, user, port, key, SshConfig.from_text(text))


def test_an_alias_gives_hostname_port_user_key_jump_and_known_hosts() -> None:
    found = route("riscv-board")
    board, jump = found.board, found.jumps[0]
    assert (board.name, board.hostname, board.port, board.user) == ("riscv-board", "10.1.2.3", 2200, "riscv")
    assert board.key_files == (str(Path("~/.ssh/lab_key").expanduser()),)
    assert board.known_hosts[0] == Path("/etc/lab/known_hosts")
    assert (jump.name, jump.hostname, jump.port, jump.user, jump.key_files) == (
        "lab-jump", "gateway.lab", 22, "jumper", ("/keys/jump",))
    assert jump.known_hosts[0] == Path("/etc/lab/jump_known_hosts")  # each hop's own, as its own ssh reads it
    assert found.proxy_command is None


def test_what_the_url_says_wins_over_the_config() -> None:
    found = route("riscv-board", user="root", port=22, key="/url/key")
    assert (found.board.user, found.board.port, found.board.key_files) == ("root", 22, ("/url/key",))
    assert found.board.hostname == "10.1.2.3"


def test_a_host_not_in_the_config_is_itself_as_root_on_22_with_the_default_known_hosts() -> None:
    found = route("board9")
    assert found.hops == (SshHop("board9", "board9", 22, "root", (), found.board.known_hosts),)
    assert found.board.known_hosts[0] == Path("~/.ssh/known_hosts").expanduser()
    assert found.proxy_command is None


@pytest.mark.parametrize("written, name, user, port", [
    ("me@gw:2022", "gw", "me", 2022),
    ("ssh://me@gw:2022", "gw", "me", 2022),
    ("gw", "gw", "root", 22),
    ("[fe80::1]:2022", "fe80::1", "root", 2022),
])
def test_a_jump_written_user_at_host_port(written: str, name: str, user: str, port: int) -> None:
    jump = route("b", f"Host b\n    ProxyJump {written}\n").jumps[0]
    assert (jump.name, jump.hostname, jump.user, jump.port) == (name, name, user, port)


@pytest.mark.parametrize("written", ["gw:ssh", "me@", "a,,b", "[::1]x"])
def test_a_jump_not_user_at_host_port_is_named(written: str) -> None:
    with pytest.raises(BoardError, match=r"ssh config: Host b: ProxyJump .* not \[USER@\]HOST\[:PORT\]"):
        route("b", f"Host b\n    ProxyJump {written}\n")


def test_several_jump_hosts_are_connected_in_order_each_with_its_own_settings() -> None:
    found = route("board", "Host board\n    ProxyJump a,me@b:2022,c\nHost a\n    HostName 10.0.0.1\n    Port 2201\n"
                  "Host b\n    HostName 10.0.0.2\n    User admin\nHost c\n    IdentityFile /keys/c\n")
    assert [(hop.name, hop.hostname, hop.port, hop.user) for hop in found.hops] == [
        ("a", "10.0.0.1", 2201, "root"), ("b", "10.0.0.2", 2022, "me"), ("c", "c", 22, "root"),
        ("board", "board", 22, "root")]
    assert found.hops[2].key_files == ("/keys/c",)


def test_a_jump_host_s_own_proxy_jump_is_followed() -> None:
    found = route("board", "Host board\n    ProxyJump inner\nHost inner\n    ProxyJump outer\n"
                  "Host outer\n    ProxyJump edge\n")
    assert [hop.name for hop in found.hops] == ["edge", "outer", "inner", "board"]


def test_only_the_first_listed_jump_host_s_own_way_counts_as_in_ssh_j() -> None:
    # ssh -J a -W board b: a goes its own way (through z); b's own ProxyJump gives way to the list
    found = route("board", "Host board\n    ProxyJump a,b\nHost a\n    ProxyJump z\nHost b\n    ProxyJump elsewhere\n"
                  "    ProxyCommand never\n")
    assert [hop.name for hop in found.hops] == ["z", "a", "b", "board"]
    assert found.proxy_command is None


def test_the_first_jump_host_may_be_reached_through_its_proxy_command() -> None:
    found = route("board", "Host board\n    ProxyJump gw\nHost gw\n    HostName 10.9.9.9\n    Port 2222\n"
                  "    ProxyCommand nc -X connect -x proxy.lab:3128 %h %p\n")
    assert [hop.name for hop in found.hops] == ["gw", "board"]
    assert found.proxy_command == "nc -X connect -x proxy.lab:3128 10.9.9.9 2222"


def test_a_jump_loop_is_named_with_its_chain() -> None:
    with pytest.raises(BoardError, match=r"ProxyJump loops: board -> gw -> gw") as caught:
        route("board", "Host gw\n    HostName 10.0.0.1\nHost *\n    ProxyJump gw\n")
    assert "ProxyJump none" in str(caught.value)
    with pytest.raises(BoardError, match=r"ProxyJump loops: a -> b -> a"):
        route("a", "Host a\n    ProxyJump b\nHost b\n    ProxyJump a\n")


def test_a_jump_chain_made_from_tokens_cannot_grow_without_end() -> None:
    with pytest.raises(BoardError, match="more than 10 jump hosts"):
        route("b", "Host *\n    ProxyJump %h.x\n")


def test_proxy_command_tokens_are_expanded_with_the_values_the_connection_uses() -> None:
    text = ("Host board\n    HostName 10.1.2.3\n    Port 2200\n    User riscv\n"
            "    ProxyCommand ssh -W %h:%p -l %r bastion # %n 100%% ~/x\n")
    assert route("board", text).proxy_command == "ssh -W 10.1.2.3:2200 -l riscv bastion # board 100% ~/x"
    # the URL's user and port win over the config's, in the tokens too (paramiko's own expansion uses the config's)
    assert route("board", text, user="root", port=22).proxy_command == (
        "ssh -W 10.1.2.3:22 -l root bastion # board 100% ~/x")


def test_percent_percent_is_a_literal_percent_not_the_start_of_a_token() -> None:
    assert route("b", "Host b\n    ProxyCommand printf %%h\n").proxy_command == "printf %h"


@pytest.mark.parametrize("command, token", [("nc %h %x", "%x"), ("nc %h %", "%")])
def test_an_unknown_token_is_named_with_the_config_and_the_host(tmp_path, command: str, token: str) -> None:
    path = tmp_path / "config"
    path.write_text(f"Host b\n    ProxyCommand {command}\n")
    with pytest.raises(BoardError) as caught:
        resolve_route("b", None, None, None, load_config(path))
    assert f"{path}: Host b: ProxyCommand {command!r} has the token {token}" in str(caught.value)
    assert "%h, %n, %p, %r, %%" in str(caught.value)


def test_a_name_with_shell_characters_never_goes_into_a_proxy_command() -> None:
    with pytest.raises(BoardError, match=r"%r in ProxyCommand would be 'x;reboot'"):
        route("b", "Host b\n    ProxyCommand nc %h %p -l %r\n", user="x;reboot")
    with pytest.raises(BoardError, match=r"%h in ProxyCommand would be '-oProxyCommand=x'"):
        route("b", "Host b\n    HostName -oProxyCommand=x\n    ProxyCommand nc %h %p\n")
    assert route("b", "Host b\n    ProxyCommand nc %p\n", user="x;reboot").proxy_command == "nc 22"


@pytest.mark.parametrize("text, jumps, command", [
    ("Host b\n    ProxyCommand nc %h %p\n    ProxyJump gw\n", [], "nc b 22"),
    ("Host b\n    ProxyJump gw\n    ProxyCommand nc %h %p\n", ["gw"], None),
    ("Host b\n    ProxyCommand nc %h %p\nHost *\n    ProxyJump gw\n", [], "nc b 22"),
    ("Host b\n    ProxyJump gw\nHost *\n    ProxyCommand nc %h %p\n", ["gw"], "nc gw 22"),  # gw's own way
    ("Host b\n    ProxyCommand none\nHost *\n    ProxyJump gw\n", [], None),
    ("Host b\n    ProxyJump none\nHost *\n    ProxyCommand nc %h %p\n", [], None),
    ("Host *\n    ProxyCommand none\n    ProxyJump gw\n", [], None),
])
def test_of_proxy_jump_and_proxy_command_the_first_found_wins_none_included(text: str, jumps: list[str],
                                                                            command: str | None) -> None:
    found = route("b", text)
    assert [hop.name for hop in found.jumps] == jumps
    assert found.proxy_command == command


def test_a_config_named_in_the_environment_must_exist(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("RVCONFORM_SSH_CONFIG", str(tmp_path / "missing"))
    with pytest.raises(BoardError, match=r"RVCONFORM_SSH_CONFIG=.*no such file"):
        config_path()
    monkeypatch.setenv("RVCONFORM_SSH_CONFIG", "/dev/null")
    assert config_path() == Path("/dev/null")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def board_in(config: Path, host: str = "board") -> SshHop:
    """The board hop ``host`` resolves to under the config at ``config`` (its Includes read)."""
    return resolve_route(host, None, None, None, load_config(config)).board


def test_an_included_file_s_hosts_are_known_relative_absolute_glob_and_tilde(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write(tmp_path / "conf.d" / "a.conf", "Host rel\n    HostName 10.0.0.1\n")
    write(tmp_path / "abs" / "b.conf", "Host abs\n    HostName 10.0.0.2\n")
    write(tmp_path / "many" / "c1.conf", "Host glob1\n    HostName 10.0.0.3\n")
    write(tmp_path / "many" / "c2.conf", "Host glob2\n    HostName 10.0.0.4\n")
    write(tmp_path / "home" / "lab.conf", "Host tilde\n    HostName 10.0.0.5\n")
    config = write(tmp_path / "config", f"Include conf.d/a.conf {tmp_path}/abs/b.conf\nInclude many/*.conf\n"
                   "Include ~/lab.conf nothing/*.conf no-such-file\n")
    assert [board_in(config, name).hostname for name in ("rel", "abs", "glob1", "glob2", "tilde")] == [
        "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"]


def test_the_user_s_config_takes_relative_includes_from_dot_ssh(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("RVCONFORM_SSH_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path / ".ssh" / "config.d" / "lab", "Host board\n    HostName 10.9.9.9\n")
    write(tmp_path / ".ssh" / "config", "Include config.d/*\n")
    assert board_in(config_path()).hostname == "10.9.9.9"


def test_an_include_inside_a_host_block_applies_within_that_block_only(tmp_path) -> None:
    write(tmp_path / "user.conf", "User labuser\nHost other\n    Port 2222\n")
    config = write(tmp_path / "config", "Host board\n    Include user.conf\n    HostName 10.0.0.7\n"
                   "Host *\n    Port 2200\n")
    board = board_in(config)
    assert (board.hostname, board.user, board.port) == ("10.0.0.7", "labuser", 2200)
    assert board_in(config, "elsewhere").user == "root"  # the included User stays in Host board
    assert board_in(config, "other").port == 2222


def test_after_a_top_level_include_the_rest_applies_to_every_host_again(tmp_path) -> None:
    write(tmp_path / "lab.conf", "Host lab\n    HostName 10.0.0.8\n")
    config = write(tmp_path / "config", "Include lab.conf\nUser everyone\n")
    assert board_in(config, "board").user == "everyone"
    assert board_in(config, "lab").hostname == "10.0.0.8"


def test_nested_includes_are_read_with_paths_from_the_same_directory(tmp_path) -> None:
    write(tmp_path / "d" / "inner.conf", "Host board\n    HostName 10.0.0.9\n")
    write(tmp_path / "d" / "outer.conf", "Include d/inner.conf\n")
    config = write(tmp_path / "config", "Include=d/outer.conf\n")
    assert board_in(config).hostname == "10.0.0.9"


def test_an_include_loop_is_named(tmp_path) -> None:
    write(tmp_path / "a.conf", "Include b.conf\n")
    write(tmp_path / "b.conf", "Include a.conf\n")
    config = write(tmp_path / "config", "Include a.conf\n")
    with pytest.raises(BoardError, match=r"a.conf includes itself: .*config -> .*a.conf -> .*b.conf -> .*a.conf"):
        load_config(config)


def test_includes_nested_deeper_than_ssh_allows_are_named(tmp_path) -> None:
    for depth in range(20):
        write(tmp_path / f"{depth}.conf", f"Include {depth + 1}.conf\n")
    config = write(tmp_path / "config", "Include 0.conf\n")
    with pytest.raises(BoardError, match=r"the ssh config .*16.conf \(included by .*15.conf\) is nested more than 16"):
        load_config(config)


def test_an_included_file_that_cannot_be_read_is_named_with_the_including_file(tmp_path) -> None:
    (tmp_path / "bad.conf").write_bytes(b"Host \xff\n")
    (tmp_path / "dir.conf").mkdir()
    config = write(tmp_path / "config", "Host board\n    Include bad.conf\n")
    with pytest.raises(BoardError, match=rf"cannot read the ssh config {tmp_path}/bad.conf \(included by {config}\)"):
        load_config(config)
    config.write_text("Include *.conf\n")
    with pytest.raises(BoardError, match=rf"cannot read the ssh config {tmp_path}/bad.conf"):
        load_config(config)
    config.write_text("Include dir.conf\n")
    with pytest.raises(BoardError, match=rf"cannot read the ssh config {tmp_path}/dir.conf \(included by"):
        load_config(config)


def test_host_key_alias_and_strict_host_key_checking_are_read_per_host() -> None:
    found = route("board", "Host board\n    Port 2201\n    HostKeyAlias lab-board-1\n"
                  "    StrictHostKeyChecking accept-new\n    ProxyJump gw\nHost gw\n    StrictHostKeyChecking yes\n")
    assert (found.board.key_name, found.board.accepts_new_key) == ("lab-board-1", True)
    assert (found.jumps[0].key_name, found.jumps[0].accepts_new_key) == ("gw", False)
    assert route("x", "Host x\n    Port 2\n    StrictHostKeyChecking no\n").board.key_name == "[x]:2"
    assert route("x", "Host x\n    StrictHostKeyChecking no\n").board.accepts_new_key
    assert not route("x", "").board.accepts_new_key
