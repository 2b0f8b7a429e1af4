"""Image indexes as data: the OCI index a multi-platform recipe pushes, and how an index compares with the
platforms a recipe declares. Pure: no registry, no engine (``index_push`` sends the index)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@dataclass(frozen=True)
class IndexEntry:
    """One platform's manifest in an index: its platform (``os/arch[/variant]``), digest, size, media type."""

    platform: str
    digest: str
    size: int = 0
    media_type: str = ""


def platform_fields(platform: str) -> dict[str, str]:
    """``linux/arm64/v8`` as an index entry's platform object: os, architecture and, if any, variant."""
    os_name, architecture, *variant = platform.split("/")
    fields = {"os": os_name, "architecture": architecture}
    if variant:
        fields["variant"] = variant[0]
    return fields


def entry_platform(entry: dict[str, Any]) -> str:
    """``os/arch[/variant]`` of an index entry (``?`` for a field it lacks)."""
    platform = entry.get("platform") or {}
    parts = (platform.get("os", "?"), platform.get("architecture", "?"), platform.get("variant"))
    return "/".join(part for part in parts if part)


def index_body(entries: list[IndexEntry]) -> dict[str, Any]:
    """The OCI image index that lists ``entries``, in their order."""
    return {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": entry.media_type, "digest": entry.digest, "size": entry.size,
                       "platform": platform_fields(entry.platform)} for entry in entries],
    }


def entries_of(body: dict[str, Any]) -> list[IndexEntry]:
    """The platform entries of an index body as the registry served it. Attestation manifests (buildx's
    provenance and SBOM, on by default since buildx 0.10) describe an entry rather than run anywhere: they are
    left out, so an index from ``docker buildx build --push`` lists just its platforms."""
    return [IndexEntry(entry_platform(entry), entry.get("digest", ""), entry.get("size", 0), entry.get("mediaType", ""))
            for entry in body.get("manifests", []) if not is_attestation(entry)]


def is_attestation(entry: dict[str, Any]) -> bool:
    """Whether an index entry is an attestation manifest: buildx marks it with the annotation
    ``vnd.docker.reference.type: attestation-manifest`` and the platform unknown/unknown."""
    annotations = entry.get("annotations") or {}
    return annotations.get("vnd.docker.reference.type") == "attestation-manifest" or \
        entry_platform(entry) == "unknown/unknown"


def _os_arch(platform: str) -> str:
    return "/".join(platform.split("/")[:2])


def _variant(platform: str) -> str | None:
    parts = platform.split("/")
    return parts[2] if len(parts) > 2 else None


def index_problems(entries: list[IndexEntry], declared: tuple[str, ...], allowed_variants: tuple[str, ...] = ()
                   ) -> list[str]:
    """What keeps an index from listing exactly the ``declared`` platforms, each a sentence naming the entry:
    a declared platform with no entry, one with several, an entry for a platform not declared, and an entry
    with a variant neither the declared platform nor ``allowed_variants`` has."""
    problems = []
    listed = ", ".join(entry.platform for entry in entries) or "nothing"
    for platform in declared:
        matching = [entry for entry in entries if _os_arch(entry.platform) == _os_arch(platform)]
        if not matching:
            problems.append(f"no {platform} entry in the index (it lists: {listed}); the recipe declares it")
        elif len(matching) > 1:
            problems.append(f"{len(matching)} entries for {_os_arch(platform)} in the index "
                            f"({', '.join(e.digest for e in matching)}); a runtime picks one of them arbitrarily")
        problems += [variant_problem(entry, platform, allowed_variants) for entry in matching
                     if variant_problem(entry, platform, allowed_variants)]
    wanted = {_os_arch(platform) for platform in declared}
    problems += [f"unexpected entry {entry.platform} ({entry.digest}) in the index: the recipe declares only "
                 f"{', '.join(declared)}" for entry in entries if _os_arch(entry.platform) not in wanted]
    return problems


def variant_problem(entry: IndexEntry, declared: str, allowed_variants: tuple[str, ...]) -> str:
    """Why ``entry``'s variant is wrong for the ``declared`` platform ("" when it is fine): a variant is fine
    only when the declared platform names it or ``allowed_variants`` lists it."""
    variant = _variant(entry.platform)
    if not variant or variant == _variant(declared) or variant in allowed_variants:
        return ""
    allowed = ", ".join(allowed_variants) or "none"
    return (f"the {_os_arch(declared)} entry ({entry.digest}) says {entry.platform}: variant '{variant}' is not "
            f"allowed (allowed: {allowed}); runtimes that ask for plain {_os_arch(declared)} do not pull it")


def entry_for(entries: list[IndexEntry], platform: str) -> IndexEntry | None:
    """The entry for ``platform``'s os/architecture, or None."""
    return next((entry for entry in entries if _os_arch(entry.platform) == _os_arch(platform)), None)
