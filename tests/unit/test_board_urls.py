"""Board URLs: what each kind accepts, and the error (with the fix) for everything else."""

import pytest

from harness.boards import board_id, validate_board_url
from harness.boards.url import ACCEPT_NEW, STRICT, VERIFY, QemuOptions, SshTarget, parse_board_url
from harness.errors import BoardError


def test_an_ssh_url_names_user_host_port_key_and_runtime() -> None:
    target = parse_board_url("ssh://riscv@board1.lab:2222?key=~/.ssh/id_ed25519&runtime=ctr").target
    assert target == SshTarget("riscv", "board1.lab", 2222, "~/.ssh/id_ed25519", "ctr")
    assert parse_board_url("ssh://board2").target == SshTarget(None, "board2", None, None, None)


@pytest.mark.parametrize(("query", "host_keys"), [("", VERIFY), ("?accept_new_host_key=1", ACCEPT_NEW),
                                                  ("?accept_new_host_key=0", STRICT)])
def test_accept_new_host_key_said_or_not(query: str, host_keys: str) -> None:
    # unsaid, the ssh config's StrictHostKeyChecking decides; said, it wins over the config
    assert parse_board_url(f"ssh://board1{query}").target.host_keys == host_keys


def test_a_qemu_url_names_cpus_memory_and_an_images_directory() -> None:
    assert parse_board_url("qemu").target == QemuOptions()
    assert parse_board_url("qemu://?cpus=4&memory=4096").target == QemuOptions(4, 4096)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ssh://board1?runtime=lxc", "unknown runtime 'lxc'"),
        ("ssh://board1?user=x", "is not ssh://USER@HOST"),
        ("ssh://board1:notaport", "is not ssh://USER@HOST"),
        ("ssh:///nohost", "is not ssh://USER@HOST"),
        ("serial://board1", "unknown board URL 'serial://board1'"),
        ("locale", "unknown board URL 'locale'"),
        ("qemu://?cpus=0", "is not qemu[://?cpus=N"),
        ("qemu://host", "is not qemu[://?cpus=N"),
        ("qemu://?disk=9", "is not qemu[://?cpus=N"),
    ],
)
def test_bad_board_urls_get_a_fix(url: str, expected: str) -> None:
    with pytest.raises(BoardError) as caught:
        validate_board_url(url)
    assert expected in str(caught.value) and "fix:" in str(caught.value)


@pytest.mark.parametrize("url", ["local", "qemu", "qemu://?cpus=2&memory=2048", "ssh://riscv@board1:22?runtime=docker"])
def test_good_board_urls_are_accepted(url: str) -> None:
    assert validate_board_url(url) in ("local", "qemu", "ssh")


def test_board_ids_are_short_and_stable() -> None:
    assert board_id("local") == "local"
    assert board_id("qemu://?cpus=2") == "qemu"
    assert board_id("ssh://riscv@board1:22?key=/k&runtime=ctr") == "riscv@board1:22"
