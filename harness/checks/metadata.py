"""CST ``metadataTest``: the image config's environment, labels, ports, volumes, entrypoint, cmd, workdir and
user, compared with what the file declares."""

from __future__ import annotations

import re
from typing import Any

from harness.checks.spec import MetadataCheck, ValueExpectation
from harness.conformance.platform import config_env


def metadata_problems(check: MetadataCheck, image_config: dict[str, Any]) -> list[str]:
    """What differs between ``check`` and the image config (the registry's config blob); empty when none."""
    config = image_config.get("config") or {}
    problems = _values("environment variable", check.env, config_env(image_config))
    problems += _values("label", check.labels, config.get("Labels") or {})
    problems += _listed("port", check.exposed_ports, check.unexposed_ports,
                        {_port(p) for p in config.get("ExposedPorts") or {}}, _port)
    problems += _listed("volume", check.volumes, check.unmounted_volumes, set(config.get("Volumes") or {}), str)
    problems += _exact("entrypoint", check.entrypoint, tuple(config.get("Entrypoint") or ()))
    problems += _exact("cmd", check.cmd, tuple(config.get("Cmd") or ()))
    problems += _exact("workdir", check.workdir, config.get("WorkingDir") or "")
    problems += _exact("user", check.user, config.get("User") or "")
    return problems


def _values(what: str, expected: tuple[ValueExpectation, ...], actual: dict[str, str]) -> list[str]:
    problems = []
    for item in expected:
        if item.key not in actual:
            problems.append(f"expected {what} {item.key}; the image has none (it has: {_names(actual)})")
        elif item.is_regex and re.search(item.value, actual[item.key]) is None:
            problems.append(f"expected {what} {item.key} to match /{item.value}/, got {actual[item.key]!r}")
        elif not item.is_regex and actual[item.key] != item.value:
            problems.append(f"expected {what} {item.key}={item.value!r}, got {actual[item.key]!r}")
    return problems


def _listed(what: str, wanted: tuple[str, ...], unwanted: tuple[str, ...], actual: set[str], norm: Any) -> list[str]:
    problems = [f"expected {what} {item} in the image config; it has: {', '.join(sorted(actual)) or 'none'}"
                for item in wanted if norm(item) not in actual]
    problems += [f"expected no {what} {item} in the image config, but it is there" for item in unwanted
                 if norm(item) in actual]
    return problems


def _exact(what: str, expected: Any, actual: Any) -> list[str]:
    if expected is None or expected == actual:
        return []
    return [f"expected {what} {_show(expected)}, got {_show(actual)}"]


def _port(port: str) -> str:
    return port if "/" in port else f"{port}/tcp"


def _names(values: dict[str, str]) -> str:
    return ", ".join(sorted(values)) or "none"


def _show(value: Any) -> str:
    return repr(list(value)) if isinstance(value, tuple) else repr(value)
