"""Pushing an image index through the registry API: each platform's manifest PUT again by its digest (so the
registry holds it under that reference even when its per-platform tag goes), then the index under the tag.
The engine has no buildx and cannot push an index itself."""

from __future__ import annotations

import json

from harness.image_index import IndexEntry, index_body
from harness.registry_client import RegistryClient


def push_index(client: RegistryClient, repository: str, tag: str, platforms: dict[str, str]
               ) -> tuple[str, list[IndexEntry]]:
    """Push the index of ``platforms`` (platform -> manifest digest, all in ``repository``) under ``tag``;
    returns the index digest and its entries, in the order given."""
    entries = []
    for platform, digest in platforms.items():
        media_type, content = client.manifest_bytes(repository, digest)
        client.put_manifest(repository, digest, media_type, content)
        entries.append(IndexEntry(platform, digest, len(content), media_type))
    body = index_body(entries)
    digest = client.put_manifest(repository, tag, body["mediaType"], json.dumps(body, indent=2).encode())
    return digest, entries
