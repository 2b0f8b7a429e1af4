"""A multi-platform recipe's build: each declared platform built and pushed on its own (``<tag>-<arch>``),
then one image index of them pushed under the recipe's tag."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Protocol

from harness.build import BuiltImage, content_tag
from harness.index_push import push_index
from harness.recipes import Recipe
from harness.registry_client import RegistryClient


class PlatformBuilder(Protocol):
    """What this needs of the Builder: one platform's build, and where it pushes."""

    registry_url: str
    tag_by_content: bool

    def build(self, recipe: Recipe) -> BuiltImage: ...

    def client(self) -> RegistryClient: ...


def platform_tag(recipe: Recipe, platform: str) -> str:
    """The tag one platform's image is pushed under before it joins the index: ``1.38.0-amd64``."""
    return f"{recipe.tag}-{platform.split('/', 1)[1].replace('/', '-')}"


def build_index(builder: PlatformBuilder, recipe: Recipe) -> BuiltImage:
    """Build every platform of ``recipe``, then push their index under its tag (with a content key when the
    registry is shared between runs, as single-platform tags have). The first failing platform's BuildError
    stops it, naming that platform's log."""
    built = {platform: builder.build(replace(recipe.for_platform(platform), tag=platform_tag(recipe, platform)))
             for platform in recipe.platforms}
    digests = {platform: image.ref.digest or "" for platform, image in built.items()}
    key = hashlib.sha256(" ".join(f"{p}={d}" for p, d in digests.items()).encode()).hexdigest()[:24]
    tag = content_tag(recipe.tag, key) if builder.tag_by_content else recipe.tag
    index_digest, entries = push_index(builder.client(), recipe.repository, tag, digests)
    first = built[recipe.platforms[0]]
    return BuiltImage(
        recipe.name, replace(first.ref, tag=tag, digest=index_digest),
        log_path=" ".join(image.log_path for image in built.values()),
        seconds=sum(image.seconds for image in built.values()),
        reused=all(image.reused for image in built.values()),
        entries=tuple((entry.platform, entry.digest) for entry in entries),
    )
