"""The local engine's trust in a run's CA: added beside the user's files, removed at close or by the sweep."""

from pathlib import Path

import pytest

from harness.boards.registry_trust import EngineTrust
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


def test_the_sweep_removes_what_a_crashed_run_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweep, "DOCKER_CERTS_D", str(tmp_path))
    ca = tmp_path / "ca.pem"
    ca.write_text("RUN CA")
    left = EngineTrust("crashed", root=tmp_path).trust("127.0.0.1:5002", ca)
    other = EngineTrust("alive", root=tmp_path).trust("127.0.0.1:5003", ca)
    sweep.remove_engine_trust("crashed")
    assert not left.exists() and not left.parent.exists()
    assert other.exists(), "another run's trust is not touched"
