"""containerd: one /etc/containerd/certs.d/<registry>/hosts.toml per registry name it pulls from."""

from __future__ import annotations

from urllib.parse import urlsplit

from harness.errors import RvconformError
from harness.runtime_config.access import Mirror, RegistryAccess, endpoint_host, normalize_endpoint, quote

CERTS_D = "/etc/containerd/certs.d"
CAPABILITIES = '["pull", "resolve"]'


def hosts_dir_path(registry_name: str) -> str:
    """The directory of ``registry_name``'s hosts.toml; ``*`` (k3s's any-registry mirror) is ``_default``."""
    name = "_default" if registry_name == "*" else registry_name
    if not name or "/" in name or name in (".", ".."):
        raise RvconformError(f"{registry_name!r} is not a registry name for a hosts.toml directory",
                             fix="name the registry as image references do: docker.io, HOST:PORT, or *")
    return f"{CERTS_D}/{name}"


def containerd_hosts_toml(mirror: Mirror, accesses: dict[str, RegistryAccess],
                          fallback_server: str | None = None, authorization: dict[str, str] | None = None) -> str:
    """hosts.toml sending pulls of ``mirror.registry`` images to its endpoints, in order.

    ``server`` is ``fallback_server`` or else the first endpoint: containerd falls back to the
    server last, and without one it would quietly use the registry's default upstream
    (registry-1.docker.io for docker.io). ``accesses`` (keyed by HOST:PORT) give CA and skip_verify.
    ``authorization`` (HOST:PORT -> an Authorization header value: Basic credentials, or a Bearer token for
    the repository pulled) is sent to that host's endpoints: credentials stay off every command line,
    and the file, which then holds a secret, must be written 0600.
    """
    endpoints = list(dict.fromkeys(normalize_endpoint(e) for e in mirror.endpoints))
    if not endpoints and not fallback_server:
        raise RvconformError(f"mirror {mirror.registry!r} has no endpoint",
                             fix="give it at least one endpoint URL such as http://HOST:PORT")
    server = normalize_endpoint(fallback_server) if fallback_server else endpoints[0]
    authorization = authorization or {}
    lines = [*_rewrite_note(mirror), *_auth_notes([e for e in endpoints if endpoint_host(e) not in authorization],
                                                  accesses)]
    lines += [f"server = {quote(server)}", *_tls_lines(accesses.get(endpoint_host(server)), "")]
    for endpoint in endpoints:
        lines += ["", f"[host.{quote(endpoint)}]", f"  capabilities = {CAPABILITIES}"]
        if urlsplit(endpoint).path not in ("", "/", "/v2"):
            lines.append("  override_path = true")
        lines += _tls_lines(accesses.get(endpoint_host(endpoint)), "  ")
        if endpoint_host(endpoint) in authorization:
            value = authorization[endpoint_host(endpoint)]
            lines += [f"  [host.{quote(endpoint)}.header]", f"    Authorization = {quote(value)}"]
    return "\n".join(lines) + "\n"


def k3s_to_containerd(mirrors: list[Mirror], accesses: dict[str, RegistryAccess],
                      authorization: dict[str, str] | None = None) -> dict[str, str]:
    """What k3s makes of a registries.yaml, for a stock containerd: hosts.toml path -> content.

    One file per mirrored registry name, plus one per configured registry that has TLS settings
    but no mirror entry (its own address is then its only endpoint). Mirrors left without an
    endpoint are skipped, as k3s does.
    """
    files = {
        f"{hosts_dir_path(m.registry)}/hosts.toml": containerd_hosts_toml(m, accesses, authorization=authorization)
        for m in mirrors if m.endpoints
    }
    for host, access in sorted(accesses.items()):
        path = f"{hosts_dir_path(host)}/hosts.toml"
        if path not in files and access.has_tls_settings:
            files[path] = containerd_hosts_toml(Mirror(host, (access.url,)), accesses, authorization=authorization)
    return files


def _tls_lines(access: RegistryAccess | None, indent: str) -> list[str]:
    if access is None or access.insecure:
        return []
    lines = [f"{indent}skip_verify = true"] if access.skip_verify else []
    return lines + ([f"{indent}ca = {quote(access.ca_file)}"] if access.ca_file else [])


def _rewrite_note(mirror: Mirror) -> list[str]:
    if not mirror.rewrites:
        return []
    return [
        "# Not applied: stock containerd's hosts.toml cannot rewrite repository names (k3s's own",
        "# containerd does). Wanted for this registry:",
        *(f"#   {quote(pattern)} -> {quote(replacement)}" for pattern, replacement in mirror.rewrites),
    ]


def _auth_notes(endpoints: list[str], accesses: dict[str, RegistryAccess]) -> list[str]:
    hosts = [h for h in dict.fromkeys(map(endpoint_host, endpoints)) if h in accesses and accesses[h].has_auth]
    return [
        f"# {host} needs credentials, which hosts.toml does not carry: give them to the client "
        "(ctr --user, crictl pull --creds) or to the CRI registry configs in config.toml"
        for host in hosts
    ]
