"""A board's trust in a run's CA: the local engine's (added beside the user's files, removed at close or by the
sweep) and docker/podman over SSH (certs.d, a private client directory)."""

import base64
import json
import subprocess
from pathlib import Path

import pytest

from harness.boards import local
from harness.boards.base import CommandResult
from harness.boards.board_names import Mark, parse_name
from harness.boards.registry_trust import CliTrust, EngineTrust, engine_trusting
from harness.boards.ssh import _pull_failure
from harness.image_ref import ImageRef
from harness.registry_access import Credentials
from harness.run import sweep


def test_trust_is_added_beside_the_users_ca_and_undone(tmp_path: Path) -> None:
    ca = tmp_path / "run-ca.crt"
    ca.write_text("RUN CA")
    users = tmp_path / "certs.d" / "lab:5000"
    users.mkdir(parents=True)
    (users / "ca.crt").write_text("USER CA")
    trust = EngineTrust("20261129-run", root=tmp_path / "certs.d")
    ours = trust.trust("lab:5000", ca)
    fresh = trust.trust("127.0.0.1:5001", ca)
    assert ours.name.startswith("rvconform-20261129-run-") and ours.read_text() == "RUN CA"
    assert (users / "ca.crt").read_text() == "USER CA"
    trust.undo()
    assert sorted(p.name for p in users.iterdir()) == ["ca.crt"], "the user's CA stays"
    assert not fresh.parent.exists(), "a directory made for the run goes with it"


def test_trust_makes_a_missing_certs_d_and_removes_it_with_the_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("RUN CA")
    root = tmp_path / "etc" / "docker" / "certs.d"
    trust = EngineTrust("run", root=root)
    written = trust.trust("172.18.0.1:5000", ca)
    assert written.parent == root / "172.18.0.1:5000" and written.suffix == ".crt", "docker reads *.crt as CAs"
    trust.undo()
    assert not (tmp_path / "etc").exists(), "every directory it made goes, certs.d too"


def test_trust_keeps_a_directory_someone_else_filled_meanwhile(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("RUN CA")
    trust = EngineTrust("run", root=tmp_path / "certs.d")
    trust.trust("lab:5000", ca)
    (tmp_path / "certs.d" / "lab:5000" / "ca.crt").write_text("USER CA")
    trust.undo()
    assert [p.name for p in (tmp_path / "certs.d").rglob("*")] == ["lab:5000", "ca.crt"]


def test_engine_trusting_holds_the_ca_for_the_block_only_and_only_for_a_tls_registry_with_one(tmp_path: Path) -> None:
    from harness.registry_access import RegistryAccess

    ca = tmp_path / "ca.pem"
    ca.write_text("RUN CA")
    root = tmp_path / "certs.d"
    with pytest.raises(RuntimeError), engine_trusting(RegistryAccess("lab:5000", "https", ca), "run", root):
        [held] = root.glob("lab:5000/rvconform-run-*.crt")
        assert held.read_text() == "RUN CA"
        raise RuntimeError("the push failed")
    assert not root.exists(), "removed also when the block fails"
    for access in (None, RegistryAccess("lab:5000", "http", ca), RegistryAccess("lab:5000", "https")):
        with engine_trusting(access, "run", root):
            assert not root.exists(), access


def test_a_certificate_the_local_engine_refuses_is_named_with_where_its_ca_goes() -> None:
    seen = ImageRef.parse("172.18.0.1:5000/riscv64/tiny:1")
    said = 'Get "https://172.18.0.1:5000/v2/": x509: certificate signed by unknown authority'
    error = local._pull_failure(seen, "linux/riscv64", said)
    assert "refused the TLS certificate of registry 172.18.0.1:5000" in error.message and said in error.message
    assert "--registry-ca 172.18.0.1:5000=FILE" in (error.fix or "")
    assert "/etc/docker/certs.d/172.18.0.1:5000/" in (error.fix or "")
    other = local._pull_failure(seen, "linux/riscv64", "manifest unknown")
    assert "pull of 172.18.0.1:5000/riscv64/tiny:1 for linux/riscv64 failed" in other.message


def test_the_sweep_removes_what_a_crashed_run_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweep, "DOCKER_CERTS_D", str(tmp_path))
    ca = tmp_path / "ca.pem"
    ca.write_text("RUN CA")
    left = EngineTrust("crashed", root=tmp_path).trust("127.0.0.1:5002", ca)
    other = EngineTrust("alive", root=tmp_path).trust("127.0.0.1:5003", ca)
    sweep.remove_engine_trust("crashed")
    assert not left.exists() and not left.parent.exists()
    assert other.exists(), "another run's trust is not touched"


class _ShellHere:
    """The part of SshTransport that CliTrust uses, running the same commands on this machine."""

    board = "here"

    def run(self, argv: list[str], timeout: float = 120.0, stdin: bytes | None = None) -> CommandResult:
        done = subprocess.run(argv, input=stdin or b"", capture_output=True, timeout=timeout)
        return CommandResult(done.returncode, done.stdout.decode(), done.stderr.decode())

    def check(self, argv: list[str], timeout: float = 120.0, stdin: bytes | None = None) -> str:
        result = self.run(argv, timeout, stdin)
        assert result.exit_status == 0, result.output
        return result.stdout


def test_docker_over_ssh_gets_a_named_crt_in_certs_d_and_keeps_a_users_different_one(tmp_path: Path) -> None:
    ca = tmp_path / "run-ca.crt"
    ca.write_text("RUN CA\n")
    users = tmp_path / "certs.d" / "lab:5000"
    users.mkdir(parents=True)
    (users / "ca.crt").write_text("USER CA\n")
    mark = Mark("0123456789ab", "20261129-101010-abcdef")
    trust = CliTrust(_ShellHere(), "docker", mark, certs_d=str(tmp_path / "certs.d"))  # type: ignore[arg-type]
    fresh = Path(trust.add_ca("127.0.0.1:5001", ca))
    beside = Path(trust.add_ca("lab:5000", ca))
    assert fresh.read_text() == "RUN CA\n" and parse_name(str(fresh)) == mark, "named by origin and run"
    assert beside.parent == users and parse_name(str(beside)) == mark and beside.suffix == ".crt"
    trust.undo()
    assert not fresh.parent.exists(), "a directory made for the run goes with it"
    assert sorted(p.name for p in users.iterdir()) == ["ca.crt"] and (users / "ca.crt").read_text() == "USER CA\n"


def test_docker_over_ssh_removes_the_certs_d_it_made_and_keeps_one_that_was_there(tmp_path: Path) -> None:
    ca = tmp_path / "run-ca.crt"
    ca.write_text("RUN CA\n")
    trust = CliTrust(_ShellHere(), "docker", certs_d=str(tmp_path / "certs.d"))  # type: ignore[arg-type]
    trust.add_ca("172.18.0.1:5000", ca)
    trust.undo()
    assert not (tmp_path / "certs.d").exists(), "an engine that had no certs.d has none again"
    (tmp_path / "certs.d").mkdir()
    trust.add_ca("172.18.0.1:5000", ca)
    trust.undo()
    assert (tmp_path / "certs.d").is_dir() and not list((tmp_path / "certs.d").iterdir())


def test_docker_over_ssh_leaves_an_identical_ca_alone(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("SAME CA\n")
    (tmp_path / "certs.d" / "lab:5000").mkdir(parents=True)
    (tmp_path / "certs.d" / "lab:5000" / "ca.crt").write_text("SAME CA\n")
    trust = CliTrust(_ShellHere(), "docker", certs_d=str(tmp_path / "certs.d"))  # type: ignore[arg-type]
    trust.add_ca("lab:5000", ca)
    trust.undo()
    assert (tmp_path / "certs.d" / "lab:5000" / "ca.crt").read_text() == "SAME CA\n", "not ours to remove"


@pytest.mark.parametrize("program", ["docker", "podman"])
def test_client_files_are_private_and_named_by_path_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         program: str) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    ca = tmp_path / "ca.crt"
    ca.write_text("RUN CA\n")
    trust = CliTrust(_ShellHere(), program, certs_d=str(tmp_path / "certs.d"))  # type: ignore[arg-type]
    trust.add_ca("127.0.0.1:5001", ca)
    auths = trust.write_auths("127.0.0.1:5001", "user", "s3cret-pass")
    assert Path(auths).stat().st_mode & 0o777 == 0o600
    assert trust.directory and Path(trust.directory).stat().st_mode & 0o777 == 0o700
    config = json.loads(Path(auths).read_text())
    assert base64.b64decode(config["auths"]["127.0.0.1:5001"]["auth"]) == b"user:s3cret-pass"
    before, after = trust.pull_args("127.0.0.1:5001", auths)
    assert "s3cret-pass" not in " ".join([*before, *after])
    if program == "docker":
        assert (before, after) == (["--config", str(Path(auths).parent)], [])
    else:
        assert before == [] and after == ["--cert-dir", f"{trust.directory}/certs/127.0.0.1:5001", "--authfile", auths]
        assert Path(after[1], "ca.crt").stat().st_mode & 0o777 == 0o600
    trust.remove_auths(auths)
    assert not Path(auths).exists()
    directory = trust.directory
    trust.undo()
    assert not Path(directory).exists() and not list((tmp_path / "certs.d").glob("*/*"))


def test_a_refused_password_is_named_on_an_ssh_board() -> None:
    seen = ImageRef.parse("127.0.0.1:5001/riscv64/tiny:1")
    credentials = Credentials("rvconform", "hidden", "$RVCONFORM_REGISTRY_USERNAME/$RVCONFORM_REGISTRY_PASSWORD")
    error = _pull_failure("ssh://b", seen, "linux/riscv64", "Error: unauthorized: authentication required",
                          credentials)
    assert "the registry 127.0.0.1:5001 refused the credentials of user 'rvconform'" in error.message
    assert "hidden" not in str(error) and "password" in (error.fix or "")
    other = _pull_failure("ssh://b", seen, "linux/riscv64", "connection refused", credentials)
    assert "pull of 127.0.0.1:5001/riscv64/tiny:1 for linux/riscv64 failed" in other.message
