"""``[[checks.command]]``, ``[[checks.exec]]`` and CST command tests: a process run to completion, its exit
code and output compared with what was declared.

CST's ``setup`` and ``teardown`` commands run in the same container as the tested command, before and after it
(through the image's ``/bin/sh``); only the tested command's output and exit code are judged.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from harness.boards import Board, CommandResult, Container, RunSpec
from harness.checks.spec import CommandCheck, expand_variables
from harness.checks.text import shown, text_problems
from harness.image_ref import ImageRef

SHELL = "/bin/sh"
SETUP_FAILED = "rvconform: setup command failed:"


@dataclass(frozen=True)
class ImageConfig:
    """What a command check needs of the image config: its entrypoint and its environment."""

    entrypoint: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


def one_off_spec(check: CommandCheck, image: ImageConfig, name: str) -> RunSpec:
    """How to start the one-off container of ``check`` from the image whose config is ``image``."""
    command, entrypoint = check.command, check.entrypoint
    if check.setup or check.teardown:
        command, entrypoint = (_with_setup(check, entrypoint or ()),), (SHELL, "-c")
    env = expanded_env(check, image.env)
    if entrypoint is None:
        return RunSpec(name=name, command=command, env=env, user=check.user, entrypoint=image.entrypoint)
    return RunSpec(name=name, command=command, env=env, user=check.user, entrypoint=entrypoint,
                   replace_entrypoint=True)


def expanded_env(check: CommandCheck, image_env: dict[str, str]) -> dict[str, str]:
    """The check's environment, ``$NAME`` and ``${NAME}`` in its values expanded against the image's own
    environment (``PATH=/opt/bin:$PATH``), as container-structure-test does."""
    # A value without "$" is kept as it is: it may be a masked value from rvconform's own environment.
    return {key: expand_variables(value, image_env) if "$" in value else value for key, value in check.env.items()}


def run_one_off(board: Board, ref: ImageRef, check: CommandCheck, image: ImageConfig, name: str) -> CommandResult:
    """Run ``check`` in a container of its own on ``board`` (removed afterwards)."""
    return board.run_once(ref, one_off_spec(check, image, name), timeout=check.timeout)


def run_exec(board: Board, container: Container, check: CommandCheck, image_env: dict[str, str]) -> CommandResult:
    """Run ``check`` inside the running service ``container``."""
    command = (SHELL, "-c", _with_setup(check, ())) if check.setup or check.teardown else check.command
    return board.exec(container, command, env=expanded_env(check, image_env), user=check.user,
                      timeout=check.timeout)


def result_problems(check: CommandCheck, result: CommandResult) -> list[str]:
    """What differs between the process's exit code and output and the check's expectations."""
    if check.setup and SETUP_FAILED in result.stderr:
        failed = result.stderr.split(SETUP_FAILED, 1)[1].strip().splitlines()[0]
        return [f"a setup command failed, so the test did not run: {failed}"]
    problems = []
    if result.exit_status != check.exit_code:
        problems.append(f"expected exit code {check.exit_code}, got {result.exit_status}")
    problems += text_problems("stdout", result.stdout, check.stdout)
    problems += text_problems("stderr", result.stderr, check.stderr)
    if problems and not any(p.startswith(("stdout was", "stderr was")) for p in problems):
        problems.append(f"stdout was {shown(result.stdout)}; stderr was {shown(result.stderr)}")
    return problems


def _with_setup(check: CommandCheck, entrypoint: tuple[str, ...]) -> str:
    """One shell script: each setup command (stopping at the first that fails), the tested command with its
    status kept, then each teardown command; setup and teardown output is not part of the judged output."""
    lines = [f"{shlex.join(step)} >/dev/null 2>&1 || {{ echo {shlex.quote(SETUP_FAILED + ' ' + shlex.join(step))} >&2;"
             " exit 125; }" for step in check.setup]
    lines.append(f"{shlex.join((*entrypoint, *check.command))}; rvconform_status=$?")
    lines += [f"{shlex.join(step)} >/dev/null 2>&1" for step in check.teardown]
    lines.append("exit $rvconform_status")
    return "\n".join(lines)

