"""Does the image config carry what the recipe declares: exposed port, command, user, OCI labels?"""

from __future__ import annotations

from typing import Any

from harness.recipes import Recipe

OCI_LABELS = ("source", "revision", "version", "created")


def metadata_problems(config: dict[str, Any], recipe: Recipe) -> list[str]:
    """Each way the image config differs from the recipe's declarations, as a sentence."""
    settings = config.get("config") or {}
    problems = []
    if recipe.port is not None and f"{recipe.port}/tcp" not in (settings.get("ExposedPorts") or {}):
        exposed = ", ".join(settings.get("ExposedPorts") or {}) or "nothing"
        problems.append(f"port {recipe.port}/tcp is not exposed (EXPOSE); the config exposes {exposed}")
    expect = recipe.expect
    for key, wanted, found in (
        ("user", expect.user, settings.get("User") or ""),
        ("cmd", expect.cmd, tuple(settings.get("Cmd") or ())),
        ("entrypoint", expect.entrypoint, tuple(settings.get("Entrypoint") or ())),
    ):
        if wanted is not None and wanted != found:
            problems.append(f"{key} is {_show(found)}; image.toml expects {_show(wanted)}")
    if expect.oci_labels:
        labels = settings.get("Labels") or {}
        missing = [f"org.opencontainers.image.{name}" for name in OCI_LABELS
                   if not labels.get(f"org.opencontainers.image.{name}")]
        if missing:
            problems.append(f"missing OCI labels: {', '.join(missing)} (the builder sets them from git)")
    return problems


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]" if value else "unset"
    return f'"{value}"' if value else "unset"
