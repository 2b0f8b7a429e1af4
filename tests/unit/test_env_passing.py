"""How board runtimes are given a container's environment: off the board's process list (harness.boards.runtimes)."""

from harness.boards.runtimes import pass_env


def test_values_go_as_an_env_file_on_stdin_not_on_the_command_line() -> None:
    passing = pass_env("-e", {"REDISCLI_AUTH": "s3cret value ", "EMPTY": ""})
    assert passing.args == ["--env-file", "/dev/stdin"]
    assert passing.stdin == b"REDISCLI_AUTH=s3cret value \nEMPTY=\n"
    assert not any("s3cret" in arg for arg in passing.args)


def test_a_value_with_a_line_break_cannot_be_a_line_of_the_file() -> None:
    passing = pass_env("--env", {"ONE": "1", "TWO": "two\nlines", "CR": "x\r"})
    assert passing.args == ["--env-file", "/dev/stdin", "--env", "TWO=two\nlines", "--env", "CR=x\r"]
    assert passing.stdin == b"ONE=1\n"


def test_no_environment_no_env_file() -> None:
    assert pass_env("-e", {}).args == [] and pass_env("-e", {}).stdin is None
