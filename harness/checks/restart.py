"""``[checks.restart]`` and the built-in persistence checks: data a service was given survives a stop and a
start of its container (the same container: its filesystem and volumes are kept).

They restart the service container the other checks use, and wait until it is ready again: a second
container of the same service cannot run beside it on a board with host networking (containerd's ctr), where
both would bind the same port.
"""

from __future__ import annotations

from harness.checks.commands import result_problems, run_exec
from harness.checks.network import http_problems, tcp_problems
from harness.checks.spec import CommandCheck, HttpCheck, Probe, RestartCheck
from harness.deploy import Deployment, wait_ready
from harness.wait import Deadline


def probe_problems(probe: Probe, deployment: Deployment, image_env: dict[str, str]) -> list[str]:
    """Run one exec, http or tcp step against the deployment; what is wrong with its answer."""
    if isinstance(probe, CommandCheck):
        return result_problems(probe, run_exec(deployment.board, deployment.container, probe, image_env))
    if isinstance(probe, HttpCheck):
        return http_problems(probe, deployment.endpoint(probe.port))
    return tcp_problems(probe, deployment.endpoint(probe.port))


def restart(deployment: Deployment, ready_timeout: float) -> None:
    """Stop and start the deployment's container, and wait until its service is ready again."""
    log_before = len(deployment.logs())
    deployment.board.restart(deployment.container)
    wait_ready(deployment, Deadline(ready_timeout), log_from=log_before)


def restart_problems(check: RestartCheck, deployment: Deployment, ready_timeout: float,
                     image_env: dict[str, str]) -> list[str]:
    """Set up, restart, verify: what went wrong, each step named; empty when the data survived."""
    if check.setup is not None:
        problems = probe_problems(check.setup, deployment, image_env)
        if problems:
            return [f"the setup step before the restart failed: {problem}" for problem in problems]
    restart(deployment, ready_timeout)
    return [f"after the restart: {problem}" for problem in probe_problems(check.verify, deployment, image_env)]
