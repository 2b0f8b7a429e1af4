"""A VM's pinned host key: read from the image's public key file (never trusted without one), pinned under the
name paramiko looks it up by, and any other key refused with both fingerprints and how to rebuild the image."""

from pathlib import Path

import paramiko
import pytest

from harness.boards.host_keys import fingerprint, pin, pinned_key_error, read_pinned_key
from harness.boards.ssh_route import SshHop
from harness.errors import BoardUnreachable

HOP = SshHop("127.0.0.1", "127.0.0.1", 40123, "root", ())


def public_key_file(path: Path, key: paramiko.PKey) -> Path:
    path.write_text(f"{key.get_name()} {key.get_base64()} root@rvconform-vm\n")
    return path


@pytest.fixture
def pinned_file(tmp_path: Path) -> tuple[Path, paramiko.PKey]:
    key = paramiko.ECDSAKey.generate()  # paramiko cannot make ed25519 keys; any type will do for the logic
    (tmp_path / "image").mkdir()
    return public_key_file(tmp_path / "image" / "ssh_host_ed25519_key.pub", key), key


def test_the_pinned_key_is_the_one_in_the_image_s_file(pinned_file) -> None:
    path, key = pinned_file
    pinned = read_pinned_key("qemu", str(path))
    assert pinned.key == key and pinned.path == path


@pytest.mark.parametrize(("content", "expected"), [
    (None, "no host key to pin for the VM; refusing to trust whatever key it presents"),
    ("", "cannot read the VM's host key"),
    ("ssh-ed25519 !!!not-base64\n", "cannot read the VM's host key"),
    ("ssh-ed25519 bm90IGEga2V5\n", "cannot read the VM's host key"),
    ("ssh-unknown AAAA\n", "cannot read the VM's host key"),
])
def test_without_a_readable_key_the_vm_is_never_trusted(tmp_path: Path, content: str | None, expected: str) -> None:
    path = tmp_path / "ssh_host_ed25519_key.pub"
    if content is not None:
        path.write_text(content)
    with pytest.raises(BoardUnreachable) as caught:
        read_pinned_key("qemu", str(path) if content is not None else None)
    assert expected in str(caught.value)
    with pytest.raises(BoardUnreachable, match="cannot read the VM's host key"):
        read_pinned_key("qemu", str(tmp_path / "no-such-file.pub"))


def test_the_key_is_pinned_for_the_vm_s_port_and_another_type_is_refused(pinned_file) -> None:
    path, key = pinned_file
    client = paramiko.SSHClient()
    pin(client, "qemu", HOP, read_pinned_key("qemu", str(path)))
    assert client.get_host_keys().lookup("[127.0.0.1]:40123") == {key.get_name(): key}
    other = paramiko.RSAKey.generate(1024)
    with pytest.raises(BoardUnreachable) as caught:
        client._policy.missing_host_key(client, "[127.0.0.1]:40123", other)
    assert f"pinned {key.get_name()} {fingerprint(key)}" in str(caught.value)
    assert f"presented ssh-rsa {fingerprint(other)}" in str(caught.value)


def test_another_key_names_the_vm_both_fingerprints_and_how_to_rebuild_the_image(pinned_file) -> None:
    path, key = pinned_file
    presented = paramiko.ECDSAKey.generate()
    error = pinned_key_error("qemu", HOP, read_pinned_key("qemu", str(path)), presented)
    assert error.message.startswith("qemu: THE HOST KEY OF THE VM (SSH on 127.0.0.1:40123) HAS CHANGED")
    assert f"pinned ecdsa-sha2-nistp256 {fingerprint(key)} (made with its image: {path})" in error.message
    assert f"presented ecdsa-sha2-nistp256 {fingerprint(presented)}" in error.message
    assert "man in the middle" in error.message and "not connecting" in error.message
    assert error.fix is not None and f"rebuild the VM image: `rm -rf {path.parent}`" in error.fix
