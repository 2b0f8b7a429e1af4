"""Is the image really for the platform it claims? Manifest or index entry, and image config, agree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.registry_client import Manifest, RegistryClient, index_entry, os_arch, platform_of


@dataclass(frozen=True)
class ResolvedImage:
    """A reference resolved to one platform's manifest, the index entry that led there, and its config."""

    repository: str
    index: Manifest | None
    entry: dict[str, Any] | None
    manifest: Manifest
    config: dict[str, Any]

    @property
    def entry_platform(self) -> str | None:
        """``os/arch[/variant]`` the index entry declares (None for a plain manifest)."""
        return platform_of(self.entry) if self.entry else None

    @property
    def config_platform(self) -> str:
        """``os/arch[/variant]`` the image config declares."""
        return platform_of(self.config)

    @property
    def entrypoint(self) -> tuple[str, ...]:
        """The image config's entrypoint (empty when it has none)."""
        return tuple((self.config.get("config") or {}).get("Entrypoint") or ())

    @property
    def env(self) -> dict[str, str]:
        """The image config's environment, NAME -> value."""
        return config_env(self.config)

    @property
    def layer_digests(self) -> list[str]:
        return [layer["digest"] for layer in self.manifest.body.get("layers", [])]


def config_env(config: dict[str, Any]) -> dict[str, str]:
    """The environment of an image config blob (its ``config.Env`` list of NAME=value), as a mapping."""
    return dict(item.partition("=")[::2] for item in (config.get("config") or {}).get("Env") or [])


def resolve(client: RegistryClient, repository: str, reference: str, platform: str) -> ResolvedImage:
    """Follow ``reference`` to the manifest for ``platform`` (os/arch, any variant) and read its config.

    Raises RegistryError "no linux/riscv64 in the index; it has: ..." when an index lacks the platform.
    """
    top = client.manifest(repository, reference)
    index, entry, manifest = None, None, top
    if top.is_index:
        index, entry = top, index_entry(top, repository, platform)
        manifest = client.manifest(repository, entry["digest"])
    config = client.blob_json(repository, manifest.body["config"]["digest"])
    return ResolvedImage(repository, index, entry, manifest, config)


def manifest_problems(image: ResolvedImage, allowed_variants: tuple[str, ...]) -> list[str]:
    """What is wrong with the platform an index entry declares: a variant that is not allowed.

    A missing os/arch is caught by ``resolve``; a plain manifest declares no platform of its own
    (its config does, which ``config_problems`` checks), so only the variant is left to judge here.
    """
    declared = image.entry_platform or image.config_platform
    variant = _variant(declared)
    if variant and variant not in allowed_variants:
        allowed = ", ".join(allowed_variants) or "none"
        source = "the index entry" if image.entry else "the image config"
        return [f"{source} says {declared}: variant '{variant}' is not allowed (allowed: {allowed}); "
                "runtimes that ask for plain linux/riscv64 do not pull it"]
    return []


def config_problems(image: ResolvedImage, platform: str) -> list[str]:
    """Does the image config say the os/arch of the index entry (or, for a plain manifest, the recipe's)?"""
    expected = image.entry_platform or platform
    if os_arch(image.config_platform) != os_arch(expected):
        where = "the index entry" if image.entry else "the recipe"
        return [f"the image config says {image.config_platform}, but {where} says {os_arch(expected)}"]
    return []


def _variant(platform: str) -> str | None:
    parts = platform.split("/")
    return parts[2] if len(parts) > 2 else None
