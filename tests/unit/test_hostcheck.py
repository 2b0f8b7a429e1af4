"""The pure parts of `rvconform doctor`: binfmt parsing, the binfmt check on a fake /proc, the foreign
architecture check with a fake arch-test, the table and the exit code."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from harness.buildkit import major_version
from harness.environment import version_in
from harness.hostcheck import (
    FAIL,
    OK,
    QEMU_RISCV64_REGISTER,
    WARN,
    Check,
    check_binfmt,
    check_foreign_arch,
    exit_code,
    format_table,
    parse_binfmt,
    summary,
)

REPO = Path(__file__).resolve().parents[2]

WITH_F = """enabled
interpreter /usr/bin/qemu-riscv64-static
flags: POCF
offset 0
magic 7f454c460201010000000000000000000200f300
mask ffffffffffffff00fffffffffffffffffeffffff
"""
DEBIAN_DEFAULT = WITH_F.replace("/usr/bin/qemu-riscv64-static", "/usr/libexec/qemu-binfmt/riscv64-binfmt-P")
DEBIAN_DEFAULT = DEBIAN_DEFAULT.replace("flags: POCF", "flags: POF")  # what qemu-user-static registers
WITHOUT_F = WITH_F.replace("flags: POCF", "flags: P")
WITHOUT_P = WITH_F.replace("flags: POCF", "flags: OCF")  # what ENVIRONMENT.md's recipe registers


def fake_binfmt(tmp_path: Path, entry: str | None, *, mounted: bool = True) -> Path:
    if mounted:
        (tmp_path / "status").write_text("enabled\n")
    if entry is not None:
        (tmp_path / "qemu-riscv64").write_text(entry)
    return tmp_path


def test_parse_binfmt_with_f_flag():
    entry = parse_binfmt(WITH_F)
    assert entry["enabled"] is True
    assert entry["interpreter"] == "/usr/bin/qemu-riscv64-static"
    assert entry["flags"] == "POCF"
    assert entry["magic"] == "7f454c460201010000000000000000000200f300"


def test_parse_binfmt_without_f_flag():
    entry = parse_binfmt(WITHOUT_F)
    assert entry["enabled"] is True
    assert entry["flags"] == "P"


def test_parse_binfmt_disabled():
    entry = parse_binfmt(DEBIAN_DEFAULT.replace("enabled", "disabled"))
    assert entry["enabled"] is False
    assert entry["interpreter"] == "/usr/libexec/qemu-binfmt/riscv64-binfmt-P"


def test_parse_binfmt_empty_flags_and_empty_text():
    assert parse_binfmt(WITH_F.replace("flags: POCF", "flags: "))["flags"] == ""
    assert parse_binfmt("") == {"enabled": False, "interpreter": "", "flags": ""}


def test_check_binfmt_ok(tmp_path):
    check = check_binfmt(fake_binfmt(tmp_path, WITH_F))
    assert check.status == OK
    assert "POCF" in check.detail and "/usr/bin/qemu-riscv64-static" in check.detail


def test_check_binfmt_without_p_fails_naming_argv0(tmp_path):
    check = check_binfmt(fake_binfmt(tmp_path, WITHOUT_P))
    assert check.status == FAIL
    assert "without P" in check.detail and "busybox" in check.detail and "POCF" in check.fix


def test_check_binfmt_accepts_debians_own_registration(tmp_path):
    check = check_binfmt(fake_binfmt(tmp_path, DEBIAN_DEFAULT))
    assert check.status == OK
    assert "POF" in check.detail


def test_check_binfmt_without_f_says_to_unregister_first(tmp_path):
    check = check_binfmt(fake_binfmt(tmp_path, WITHOUT_F))
    assert check.status == FAIL
    assert "without F" in check.detail
    assert f"echo -1 > {tmp_path / 'qemu-riscv64'}" in check.fix
    assert QEMU_RISCV64_REGISTER in check.fix
    assert "scripts/setup-host" in check.fix


def test_check_binfmt_missing_entry(tmp_path):
    check = check_binfmt(fake_binfmt(tmp_path, None))
    assert check.status == FAIL
    assert "not registered" in check.detail
    assert "echo -1" not in check.fix
    assert f"> {tmp_path / 'register'}" in check.fix


def test_check_binfmt_not_mounted(tmp_path):
    check = check_binfmt(fake_binfmt(tmp_path, None, mounted=False))
    assert check.status == FAIL
    assert "not mounted" in check.detail
    assert f"mount -t binfmt_misc binfmt_misc {tmp_path}" in check.fix


def test_check_binfmt_disabled(tmp_path):
    check = check_binfmt(fake_binfmt(tmp_path, WITH_F.replace("enabled", "disabled")))
    assert check.status == FAIL
    assert f"echo 1 > {tmp_path / 'qemu-riscv64'}" in check.fix


def test_register_string_matches_setup_host():
    script = (REPO / "scripts" / "setup-host").read_text()
    match = re.search(r"^QEMU_RISCV64_REGISTER='([^']*)'$", script, re.MULTILINE)
    assert match, "scripts/setup-host no longer defines QEMU_RISCV64_REGISTER"
    assert match.group(1) == QEMU_RISCV64_REGISTER


def test_register_string_is_well_formed():
    fields = QEMU_RISCV64_REGISTER.split(":")
    assert fields[1:4] == ["qemu-riscv64", "M", ""]
    magic, mask = (field.encode().decode("unicode_escape").encode("latin-1") for field in fields[4:6])
    assert len(magic) == len(mask) == 20
    assert magic[:4] == b"\x7fELF" and magic[18:20] == b"\xf3\x00"  # EM_RISCV
    assert fields[6:] == ["/usr/bin/qemu-riscv64-static", "POCF"]


def fake_arch_test(returncode: int, output: str):
    def run(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        assert command == ["/usr/bin/arch-test", "riscv64"] and timeout > 0
        return subprocess.CompletedProcess(command, returncode, output, "")

    return run


def installed(name: str) -> str | None:
    return f"/usr/bin/{name}"


def test_foreign_arch_without_arch_test_fails_with_the_package_to_install():
    check = check_foreign_arch(which=lambda name: None, run=fake_arch_test(0, "never run"))
    assert check.status == FAIL
    assert "arch-test is not installed" in check.detail and "install arch-test for foreign" in check.detail
    assert "apt-get install -y arch-test" in check.fix and "scripts/setup-host" in check.fix


def test_foreign_arch_ok_when_arch_test_says_so():
    check = check_foreign_arch(which=installed, run=fake_arch_test(0, "riscv64: ok\n"))
    assert check.status == OK
    assert "riscv64: ok" in check.detail


def test_foreign_arch_fails_when_riscv64_cannot_run():
    output = "riscv64: not supported on this machine/kernel\n"
    check = check_foreign_arch(which=installed, run=fake_arch_test(1, output))
    assert check.status == FAIL
    assert "exited 1" in check.detail and "not supported on this machine/kernel" in check.detail
    assert "binfmt" in check.fix


def test_foreign_arch_fails_when_arch_test_hangs():
    check = check_foreign_arch(which=installed, run=lambda command, timeout: None)
    assert check.status == FAIL
    assert "did not finish" in check.detail


CHECKS = [
    Check("engine", OK, "engine 20.10.24 answers"),
    Check("binfmt qemu-riscv64", FAIL, "not registered", "run scripts/setup-host\necho -1 > x"),
    Check("base images", WARN, "none loaded", "run rvconform bootstrap"),
    Check("mmdebstrap", OK, "/usr/bin/mmdebstrap 1.3.5", "never shown"),
]


def test_format_table_shows_rows_and_fixes():
    lines = format_table(CHECKS).splitlines()
    assert lines[0].split() == ["check", "status", "detail"]
    assert lines[1].startswith("engine ") and " ok " in lines[1]
    failed = lines.index(next(line for line in lines if line.startswith("binfmt")))
    assert "FAIL" in lines[failed] and lines[failed].endswith("not registered")
    assert lines[failed + 1].strip() == "fix: run scripts/setup-host"
    assert lines[failed + 2].strip() == "echo -1 > x"
    assert lines[failed + 1].index("fix:") == lines[failed].index("not registered")  # under the detail
    assert any(line.strip() == "fix: run rvconform bootstrap" for line in lines)
    assert "never shown" not in format_table(CHECKS)


def test_format_table_aligns_columns():
    lines = format_table(CHECKS).splitlines()
    detail_column = lines[0].index("detail")
    rows = [line for line in lines if not line.startswith(" ")]
    assert all(len(row) > detail_column and row[detail_column - 1] == " " for row in rows[1:])


@pytest.mark.parametrize(
    ("statuses", "code"),
    [([OK, OK], 0), ([OK, WARN], 0), ([OK, FAIL], 1), ([WARN, FAIL, FAIL], 1), ([], 0)],
)
def test_exit_code(statuses, code):
    assert exit_code(Check(f"c{i}", status, "") for i, status in enumerate(statuses)) == code


def test_summary_names_failures_then_warnings():
    assert summary(CHECKS).startswith("failed: binfmt qemu-riscv64")
    assert summary(CHECKS[2:]) == "all required checks passed; warnings: base images"
    assert summary(CHECKS[:1]) == "all required checks passed"


@pytest.mark.parametrize(
    ("version", "major"),
    [("20.10.24+dfsg1", 20), ("28.2.2", 28), ("v0.12.1", 0), ("", None), ("unknown", None)],
)
def test_major_version(version, major):
    assert major_version(version) == major


def test_version_in_tool_output():
    assert version_in("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)") == "7.2.22"
    assert version_in("docker-registry github.com/docker/distribution 2.8.2+ds1") == "2.8.2+ds1"
    assert version_in("mmdebstrap 1.3.5\n") == "1.3.5"
    assert version_in("no digits") == "(version unknown)"
